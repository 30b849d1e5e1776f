"""The encoder contract: every registered encoder, built-in or third-party, passes this.

Use it for a plugin of your own::

    from encoder_contract import EncoderContract

    class TestMyEncoder(EncoderContract):
        @pytest.fixture(scope="class")
        @classmethod
        def encoder(cls):
            return MyEncoder()
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from assistant.errors import UnprocessableMedia
from assistant.plugins import Encoder, Encoding, MediaItem, Modality
from assistant.plugins.registry import Registry, _validate

HEAVY_MODULES = (
    "torch",
    "transformers",
    "faster_whisper",
    "ctranslate2",
    "onnxruntime",
    "sentence_transformers",
    "cv2",
    "whisper",
    "rapidocr_onnxruntime",
)
ROOT = Path(__file__).resolve().parents[2]


def registration_imports(module: str) -> dict[str, Any]:
    """Import a plugin module and register its encoders in a fresh interpreter; report what
    heavy modules got imported."""
    code = (
        "import importlib, json, sys\n"
        "from assistant.plugins.registry import Registry\n"
        f"mod = importlib.import_module({module!r})\n"
        "reg = Registry(); reg.add_plugin(mod, 'probe')\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'encoders': sorted(reg.encoders)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


class EncoderContract:
    """Subclass and provide an ``encoder`` fixture (and optionally ``valid_items``)."""

    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def valid_items(
        cls, encoder: Encoder, tmp_path_factory: pytest.TempPathFactory
    ) -> list[MediaItem]:
        return sample_items(encoder, tmp_path_factory.mktemp(f"contract-{encoder.name}"))

    def test_declares_valid_capabilities(self, encoder: Encoder) -> None:
        assert _validate(encoder) is encoder
        assert isinstance(encoder.modality, Modality)
        assert encoder.queue == f"{encoder.device.value}.{encoder.modality.value}"
        assert isinstance(encoder.Options(), BaseModel)  # options have defaults
        json.dumps(encoder.Options.model_json_schema())
        assert isinstance(encoder.version, str) and encoder.version

    def test_registers_through_the_hook(self, encoder: Encoder) -> None:
        module = sys.modules[type(encoder).__module__.rsplit(".", 1)[0]]
        if not hasattr(module, "register_encoders"):
            module = sys.modules[type(encoder).__module__]
        reg = Registry()
        reg.add_plugin(module, "contract-probe")
        assert encoder.name in reg.encoders

    def test_registration_is_cheap(self, encoder: Encoder) -> None:
        module = type(encoder).__module__
        top = module.rsplit(".", 1)[0] if "." in module else module
        report = registration_imports(top)
        assert encoder.name in report["encoders"]
        assert report["heavy"] == [], f"importing {top} pulled in {report['heavy']}"

    @pytest.mark.slow
    def test_encode_returns_one_encoding_per_item_in_order(
        self, encoder: Encoder, valid_items: list[MediaItem]
    ) -> None:
        encoder.load()
        out = encoder.encode(valid_items, encoder.Options())
        assert len(out) == len(valid_items)
        for enc in out:
            assert isinstance(enc, Encoding)
            assert enc.encoder == encoder.name and enc.version == encoder.version
            assert enc.modality == encoder.modality
            assert isinstance(enc.text, str)
            for seg in enc.segments:
                if seg.start is not None and seg.end is not None:
                    assert 0 <= seg.start <= seg.end
        # order: encoding the reversed batch gives the reversed results
        if len(valid_items) > 1:
            again = encoder.encode(list(reversed(valid_items)), encoder.Options())
            assert [e.text for e in again] == [e.text for e in reversed(out)]

    @pytest.mark.slow
    def test_bad_bytes_are_unprocessable_not_a_crash(
        self, encoder: Encoder, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        encoder.load()
        folder = tmp_path_factory.mktemp(f"bad-{encoder.name}")
        media_type = sorted(encoder.media_types)[0]
        bad = folder / "bad.bin"
        bad.write_bytes(b"\x00\xff\xfe garbage " * 64)
        empty = folder / "empty.bin"
        empty.write_bytes(b"")
        for path in (bad, empty):
            with pytest.raises(UnprocessableMedia):
                encoder.encode([MediaItem(path, media_type, name=path.name)], encoder.Options())


def sample_items(encoder: Encoder, folder: Path) -> list[MediaItem]:
    """Two small, different, valid items for the encoder's modality."""
    sys.path.insert(0, str(ROOT / "tests"))
    import media_fixtures as mf

    if encoder.modality == Modality.AUDIO:
        a = mf.speech_wav(folder / "a.wav", "Good morning.")
        b = mf.speech_wav(folder / "b.wav", "See you tomorrow at noon.")
        return [MediaItem(a, "audio/wav"), MediaItem(b, "audio/wav")]
    if encoder.modality == Modality.IMAGE:
        a, b = folder / "a.png", folder / "b.jpg"
        mf.photo("coffee").save(a)
        mf.photo("chelsea").save(b)
        return [MediaItem(a, "image/png"), MediaItem(b, "image/jpeg")]
    if encoder.modality == Modality.VIDEO:
        a = mf.make_video(folder / "a.mp4", [(mf.photo("coffee"), 1.0)], fps=5)
        b = mf.make_video(
            folder / "b.mp4", [(mf.photo("chelsea"), 1.0), (mf.photo("rocket"), 1.0)], fps=5
        )
        return [MediaItem(a, "video/mp4"), MediaItem(b, "video/mp4")]
    a, b = folder / "a.txt", folder / "b.txt"
    a.write_text("one two three")
    b.write_text("four five")
    media_type = (
        "text/plain" if "text/plain" in encoder.media_types else sorted(encoder.media_types)[0]
    )
    return [MediaItem(a, media_type), MediaItem(b, media_type)]
