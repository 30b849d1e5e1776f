"""Vision plugin on the packaged EfficientNet-Lite0 and RapidOCR models."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import PayloadTooLarge, UnprocessableMedia
from assistant.plugins import MediaItem
from plugins.vision import VisionOptions

pytestmark = [pytest.mark.models, pytest.mark.slow]

COFFEE_WORDS = ("espresso", "coffee", "cup")


def test_imagenet_class_file_is_the_standard_order() -> None:
    from plugins.vision.encoder import imagenet_labels

    labels = imagenet_labels()
    assert labels[0] == "tench" and labels[281] == "tabby" and labels[967] == "espresso"
    assert labels[999] == "toilet tissue"


def test_labels_coffee_photo(vision_encoder, coffee_jpg: Path) -> None:
    [enc] = vision_encoder.encode([MediaItem(coffee_jpg, "image/jpeg")], VisionOptions())
    top = enc.metadata["labels"]
    assert len(top) == 5
    assert any(w in top[0]["label"] for w in COFFEE_WORDS), top
    assert enc.metadata["width"] == 600 and enc.metadata["height"] == 400
    assert enc.metadata["format"] == "JPEG" and enc.metadata["mode"] == "RGB"
    assert enc.vector is not None and len(enc.vector) == 384
    assert abs(sum(x * x for x in enc.vector) - 1.0) < 1e-3


def test_reads_rendered_text(vision_encoder, text_png: Path) -> None:
    [enc] = vision_encoder.encode([MediaItem(text_png, "image/png")], VisionOptions())
    assert "OPEN SUNDAY 9AM" in enc.metadata["ocr_text"].upper().replace("  ", " ")
    assert any(s.kind == "ocr" for s in enc.segments)


def test_ocr_gate_skips_photos_without_text_and_reads_captions(
    vision_encoder, media_dir: Path
) -> None:
    """The low-resolution text gate: a plain photo is not read, a small caption on one is."""
    from PIL import ImageDraw

    from tests.support import media as mf

    plain = mf.save_image(mf.photo("chelsea"), media_dir / "plain-cat.png")
    captioned_img = mf.photo("astronaut")
    ImageDraw.Draw(captioned_img).text((300, 450), "NASA 1984", fill="yellow", font=mf.font(18))
    captioned = mf.save_image(captioned_img, media_dir / "captioned.png")
    gated, read = vision_encoder.encode(
        [MediaItem(plain, "image/png"), MediaItem(captioned, "image/png")], VisionOptions()
    )
    assert gated.metadata["ocr"] == "no text detected" and gated.metadata["ocr_text"] == ""
    assert read.metadata["ocr"] == "read"
    assert "NASA" in read.metadata["ocr_text"] and "1984" in read.metadata["ocr_text"]
    [forced] = vision_encoder.encode([MediaItem(plain, "image/png")], VisionOptions(ocr_gate=False))
    assert forced.metadata["ocr"] == "read"
    [off] = vision_encoder.encode([MediaItem(plain, "image/png")], VisionOptions(ocr=False))
    assert off.metadata["ocr"] == "off"


def test_ocr_boxes_are_in_the_original_pixels(vision_encoder, media_dir: Path) -> None:
    """A small image is scaled up for detection; its boxes come back in its own pixels."""
    from tests.support import media as mf

    word = mf.save_image(mf.text_image("EXIT", size=(160, 60), font_size=36), media_dir / "w.png")
    [enc] = vision_encoder.encode([MediaItem(word, "image/png")], VisionOptions())
    [line] = enc.segments[1].metadata["lines"]
    assert line["text"] == "EXIT"
    xs = [x for x, _ in line["box"]]
    ys = [y for _, y in line["box"]]
    assert 0 <= min(xs) < max(xs) <= 160 and 0 <= min(ys) < max(ys) <= 60


def test_embedding_lives_in_text_space(vision_encoder, coffee_jpg: Path, cat_png: Path) -> None:
    from assistant.embeddings import get_embedder

    encs = vision_encoder.encode(
        [MediaItem(coffee_jpg, "image/jpeg"), MediaItem(cat_png, "image/png")],
        VisionOptions(ocr=False),
    )
    assert [e.metadata["format"] for e in encs] == ["JPEG", "PNG"]  # order kept
    q_coffee, q_cat = get_embedder().embed(["a cup of coffee", "a kitten"])

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    coffee_vec, cat_vec = encs[0].vector, encs[1].vector
    assert coffee_vec is not None and cat_vec is not None
    assert dot(q_coffee, coffee_vec) > dot(q_coffee, cat_vec)
    assert dot(q_cat, cat_vec) > dot(q_cat, coffee_vec)


def test_gif_first_frame_and_transparency(vision_encoder, media_dir: Path) -> None:
    from tests.support import media as mf

    frames = [mf.photo("coffee").resize((200, 150)), mf.photo("chelsea").resize((200, 150))]
    gif = media_dir / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=200)
    [enc] = vision_encoder.encode([MediaItem(gif, "image/gif")], VisionOptions(ocr=False))
    assert enc.metadata["frames"] == 2
    assert any(w in enc.metadata["labels"][0]["label"] for w in COFFEE_WORDS), enc.metadata[
        "labels"
    ]


def test_bomb_and_broken_bytes(vision_encoder, media_dir: Path) -> None:
    from tests.support import media as mf

    bomb = mf.bomb_png(media_dir / "bomb2.png")
    with pytest.raises(PayloadTooLarge):
        vision_encoder.encode([MediaItem(bomb, "image/png")], VisionOptions())
    junk = media_dir / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    with pytest.raises(UnprocessableMedia):
        vision_encoder.encode([MediaItem(junk, "image/png")], VisionOptions())
