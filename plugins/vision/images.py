"""Opening images safely: size checked from the header before any pixel is decoded."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import PayloadTooLarge, UnprocessableMedia
from assistant.media import image_header_size
from assistant.plugins.contract import RenderOptions, Rendition

if TYPE_CHECKING:
    from PIL import Image as PILImage


def open_image(path: str | Path, max_pixels: int, *, name: str | None = None) -> PILImage.Image:
    """An RGB copy of the image's first frame; refuses bombs and broken files clearly."""
    from PIL import Image

    name = name or Path(path).name
    try:
        with open(path, "rb") as fh:
            header = image_header_size(fh.read(1 << 16))
    except OSError as exc:
        raise UnprocessableMedia(f"{name} cannot be read: {exc.strerror}") from exc
    if header is not None and header[0] * header[1] > max_pixels:
        raise PayloadTooLarge(
            f"{name} is {header[0]} x {header[1]} pixels; the limit is {max_pixels / 1e6:.1f} megapixels"
        )
    # PIL's own guard too: it raises past twice this, on open, before decoding
    Image.MAX_IMAGE_PIXELS = max(max_pixels, 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise PayloadTooLarge(
                        f"{name} is {width} x {height} pixels; the limit is "
                        f"{max_pixels / 1e6:.1f} megapixels"
                    )
                img.seek(0)  # first frame of an animated GIF/WebP
                img.load()
                info = {
                    "format": img.format or "",
                    "mode": img.mode,
                    "frames": getattr(img, "n_frames", 1),
                }
                rgb = to_rgb(img)
    except PayloadTooLarge:
        raise
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"{name} is a decompression bomb: {exc}") from exc
    except Exception as exc:
        raise UnprocessableMedia(f"{name} could not be decoded as an image: {exc}") from exc
    rgb.info.update({"source_" + k: v for k, v in info.items()})
    return rgb


def to_rgb(img: PILImage.Image) -> PILImage.Image:
    """RGB, with transparency composited onto white (how people see it)."""
    from PIL import Image

    if img.mode == "RGB":
        return img.copy()
    if img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def render_image(
    img: PILImage.Image,
    options: RenderOptions,
    *,
    start: float | None = None,
    end: float | None = None,
) -> Rendition:
    """A model-ready copy: at most ``max_side`` pixels on the long side, re-encoded."""
    from PIL import Image

    copy = to_rgb(img)
    copy.thumbnail((options.max_side, options.max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if options.image_format == "png":
        copy.save(buffer, format="PNG", optimize=True)
    else:
        copy.save(buffer, format="JPEG", quality=85)
    return Rendition(
        media_type=f"image/{options.image_format}",
        data=buffer.getvalue(),
        start=start,
        end=end,
        width=copy.width,
        height=copy.height,
    )
