"""The encoder contract: every encoder, built-in or third-party, passes this class.

Subclass ``EncoderContract`` and give it an ``encoder`` fixture; give it ``valid_items`` too
unless the encoder takes plain text (two small text files are the default then). The class
checks what the registry and the workers rely on: declared capabilities that validate, a
registration through the plugin's own hook that imports nothing heavy, typed options with
defaults, one ``Encoding`` per item in order with the encoder's name, version and modality,
and a 422 (``UnprocessableMedia``) for bytes it cannot decode, never a crash.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from assistant.errors import UnprocessableMedia
from assistant.plugins.contract import Encoder, Encoding, MediaItem, Modality, RenderOptions
from assistant.plugins.registry import Registry, validate_encoder

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


def plugin_module_of(encoder: Encoder[Any]) -> str:
    """The module holding the ``register_encoders`` hook that registers this encoder."""
    module = type(encoder).__module__
    while module:
        if hasattr(importlib.import_module(module), "register_encoders"):
            return module
        module = module.rpartition(".")[0]
    raise AssertionError(f"no module above {type(encoder).__module__} has register_encoders")


def registration_report(module: str) -> dict[str, Any]:
    """Import a plugin module and register it in a fresh interpreter; report the encoders it
    registered and the heavy modules that got imported."""
    code = (
        "import importlib, json, sys\n"
        "from assistant.plugins.registry import Registry\n"
        f"mod = importlib.import_module({module!r})\n"
        "reg = Registry(); reg.add_plugin(mod, 'probe')\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'encoders': sorted(reg.encoders)}))\n"
    )
    out = subprocess.run(  # noqa: S603 - a fixed argv of our own binaries, no shell
        [sys.executable, "-c", code],
        cwd=Path.cwd(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def text_items(encoder: Encoder[Any], folder: Path) -> list[MediaItem]:
    a, b = folder / "a.txt", folder / "b.txt"
    a.write_text("one two three")
    b.write_text("four five")
    media_type = (
        "text/plain" if "text/plain" in encoder.media_types else sorted(encoder.media_types)[0]
    )
    return [MediaItem(a, media_type), MediaItem(b, media_type)]


class EncoderContract:
    """Subclass and provide an ``encoder`` fixture (and ``valid_items`` for non-text media)."""

    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder[Any]:
        raise NotImplementedError("give the contract an `encoder` fixture")

    @pytest.fixture(scope="class")
    @classmethod
    def valid_items(
        cls, encoder: Encoder[Any], tmp_path_factory: pytest.TempPathFactory
    ) -> list[MediaItem]:
        if encoder.modality not in (Modality.TEXT, Modality.DOCUMENT):
            raise NotImplementedError(
                f"give the contract a `valid_items` fixture: two valid {encoder.modality} files"
            )
        return text_items(encoder, tmp_path_factory.mktemp(f"contract-{encoder.name}"))

    def test_declares_valid_capabilities(self, encoder: Encoder[Any]) -> None:
        assert validate_encoder(encoder, "contract") is encoder
        assert isinstance(encoder.modality, Modality)
        assert encoder.queue == f"{encoder.device.value}.{encoder.modality.value}"
        assert isinstance(encoder.Options(), BaseModel)  # options have defaults
        json.dumps(encoder.Options.model_json_schema())
        assert isinstance(encoder.version, str) and encoder.version

    def test_options_arrive_typed(self, encoder: Encoder[Any]) -> None:
        assert isinstance(encoder.parse_options(None), encoder.Options)
        assert isinstance(encoder.parse_options({}), encoder.Options)

    def test_registers_through_the_hook(self, encoder: Encoder[Any]) -> None:
        module = importlib.import_module(plugin_module_of(encoder))
        registry = Registry()
        registry.add_plugin(module, "contract-probe")
        assert encoder.name in registry.encoders
        assert registry.encoders[encoder.name].media_types == encoder.media_types

    def test_registration_is_cheap(self, encoder: Encoder[Any]) -> None:
        module = plugin_module_of(encoder)
        report = registration_report(module)
        assert encoder.name in report["encoders"]
        assert report["heavy"] == [], f"importing {module} pulled in {report['heavy']}"

    def test_encode_returns_one_encoding_per_item_in_order(
        self, encoder: Encoder[Any], valid_items: list[MediaItem]
    ) -> None:
        encoder.load()
        options = encoder.parse_options(None)
        out = encoder.encode(valid_items, options)
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
            again = encoder.encode(list(reversed(valid_items)), options)
            assert [e.text for e in again] == [e.text for e in reversed(out)]

    def test_renders_what_it_declares_within_the_bounds(
        self, encoder: Encoder[Any], valid_items: list[MediaItem]
    ) -> None:
        """An encoder that ``renders`` returns model-ready copies when asked, and only then."""
        if not encoder.renders:
            assert "render" not in encoder.Options.model_fields
            return
        encoder.load()
        render = RenderOptions(modalities=sorted(encoder.renders), max_side=64, max_images=2)
        asked = encoder.encode(valid_items, encoder.parse_options({"render": render}))
        for enc in asked:
            images = [r for r in enc.renditions if r.media_type.startswith("image/")]
            assert len(images) <= render.max_images
            for rendition in enc.renditions:
                assert rendition.data, "a rendition carries its bytes"
                kind = rendition.media_type.split("/")[0]
                assert kind in encoder.renders
                if kind == "image":
                    assert rendition.width and rendition.height
                    assert max(rendition.width, rendition.height) <= render.max_side
        assert any(enc.renditions for enc in asked)
        plain = encoder.encode(valid_items, encoder.parse_options(None))
        assert all(enc.renditions == [] for enc in plain)

    def test_bad_bytes_are_unprocessable_not_a_crash(
        self, encoder: Encoder[Any], tmp_path_factory: pytest.TempPathFactory
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
