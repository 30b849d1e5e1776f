"""Model-ready copies (renditions): declared at registration, asked of every attachment but
made only by encoders that can, carried by reference through the blob store, read once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from assistant.blobs import BlobStore
from assistant.dispatch.local import encode_batch
from assistant.errors import PluginError
from assistant.orchestrator.media import content_parts, take_renditions
from assistant.plugins import Encoder, Encoding, MediaItem, Modality, NoOptions
from assistant.plugins.contract import RenderOptions, Rendition
from assistant.plugins.registry import Registry
from tests.unit.test_plugin_registration import plugin
from workers.encode import _renditions_by_reference

pytestmark = pytest.mark.unit
RENDER = {"render": {"modalities": ["image"]}}


class Painted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    render: RenderOptions | None = None


class Painter(Encoder[Painted]):
    name = "painter"
    modality = Modality.IMAGE
    media_types = frozenset({"image/x-paint"})
    renders = frozenset({"image"})
    Options = Painted

    def encode(self, items: Sequence[MediaItem], options: Painted) -> list[Encoding]:
        copies = [Rendition(media_type="image/png", data=b"\x89PNG-copy")] if options.render else []
        return [self.encoding("a painting", renditions=copies) for _ in items]


class Plain(Encoder[NoOptions]):
    name = "plain"
    modality = Modality.IMAGE
    media_types = frozenset({"image/x-plain"})

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        return [self.encoding("plain") for _ in items]


def test_an_encoder_that_renders_must_take_the_render_option() -> None:
    class Careless(Painter):
        name = "careless"
        Options = NoOptions  # type: ignore[assignment]

    with pytest.raises(PluginError, match="'careless': an encoder that renders takes a `render`"):
        Registry().add_plugin(plugin(Careless()), "careless")
    Registry().add_plugin(plugin(Painter()), "painter")  # the right shape registers


def test_render_reaches_only_encoders_that_render(tmp_path: Path) -> None:
    item = MediaItem(path=tmp_path / "x", media_type="image/x-plain")
    [plain] = encode_batch(Plain(), [item], RENDER)  # NoOptions would refuse the option
    assert isinstance(plain, Encoding) and plain.renditions == []
    [painted] = encode_batch(Painter(), [item], RENDER)
    assert isinstance(painted, Encoding) and painted.renditions[0].data == b"\x89PNG-copy"


def test_renditions_travel_by_reference_and_are_read_once(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path / "blobs"))
    source = blobs.put_bytes("acme", b"the original", ".bin")
    item = MediaItem(
        path=tmp_path / "x", media_type="image/x-paint", metadata={"blob": source.as_dict()}
    )
    [made] = encode_batch(Painter(), [item], RENDER)
    assert isinstance(made, Encoding)
    sent = _renditions_by_reference(blobs, item, made)
    assert "PNG-copy" not in sent.model_dump_json()  # no bytes in the message
    ref = sent.renditions[0].blob
    assert ref is not None and ref["key"].startswith("acme/") and ref["key"].endswith(".png")
    kept, taken = take_renditions(blobs, Encoding.model_validate_json(sent.model_dump_json()))
    assert kept.renditions == [] and taken[0].data == b"\x89PNG-copy"
    assert sorted(p.name for p in (tmp_path / "blobs" / "acme").iterdir()) == [source.key[5:]]
    _, again = take_renditions(blobs, sent)  # gone: the image is left out, nothing fails
    assert again == []


def test_content_parts_label_each_copy() -> None:
    copies = [
        Rendition(media_type="image/jpeg", data=b"jpg", start=3.0),
        Rendition(media_type="audio/wav", data=b"wav", start=0.0, end=61.0),
    ]
    parts = content_parts(2, "clip.mp4", copies)
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "input_audio"]
    assert parts[0]["text"] == "Attachment [2] clip.mp4, frame at 00:03:"
    assert parts[1]["image_url"]["url"] == "data:image/jpeg;base64,anBn"
    assert parts[2]["text"] == "Attachment [2] clip.mp4, sound from 00:00 to 01:01:"
