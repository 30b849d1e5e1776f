"""The plugin's own test: the assistant's shipped contract suite, run from this repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from hello_plugin import HELLO_TYPE, HelloEncoder, HelloOptions, HelloSettings

from assistant.plugins import MediaItem
from assistant.testing import EncoderContract


class TestHelloContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> HelloEncoder:
        return HelloEncoder()

    @pytest.fixture(scope="class")
    @classmethod
    def valid_items(cls, tmp_path_factory: pytest.TempPathFactory) -> list[MediaItem]:
        folder: Path = tmp_path_factory.mktemp("hello")
        (folder / "a.hello").write_bytes(b"HELLO one two three")
        (folder / "b.hello").write_bytes(b"HELLO four five")
        return [
            MediaItem(folder / "a.hello", HELLO_TYPE),
            MediaItem(folder / "b.hello", HELLO_TYPE),
        ]


def test_settings_and_typed_options(tmp_path: Path) -> None:
    path = tmp_path / "x.hello"
    path.write_bytes(b"HELLO a b")
    encoder = HelloEncoder(HelloSettings(greeting="hi"))
    [default] = encoder.encode([MediaItem(path, HELLO_TYPE, "x")], encoder.parse_options(None))
    assert default.text == "hi: x has 2 words"
    [chosen] = encoder.encode([MediaItem(path, HELLO_TYPE, "x")], HelloOptions(greeting="hey"))
    assert chosen.text == "hey: x has 2 words"
