"""What a plugin's own repository imports to test itself against the assistant.

    from assistant.testing import EncoderContract

    class TestMyEncoder(EncoderContract):
        @pytest.fixture(scope="class")
        def encoder(self) -> MyEncoder:
            return MyEncoder()

        @pytest.fixture(scope="class")
        def valid_items(self, tmp_path_factory) -> list[MediaItem]:
            ...  # two small valid files of your media types

Needs pytest (a test dependency of the plugin, not of the assistant at run time).
"""

from assistant.testing.encoder_contract import HEAVY_MODULES, EncoderContract, registration_report

__all__ = ["HEAVY_MODULES", "EncoderContract", "registration_report"]
