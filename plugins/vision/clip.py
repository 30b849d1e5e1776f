"""CLIP image/text embeddings through transformers, from a local folder or a hub id.

No CLIP weights are packaged on PyPI, so this is off unless ``settings.plugins.clip_model``
names a folder (or a hub id on machines that may download). Offline by default.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image as PILImage


class ClipEmbedder:
    def __init__(self, model_id: str, device: str = "cpu") -> None:
        self.model_id = model_id
        self.device = device
        self._model: Any = None
        self._image_processor: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

        local_only = os.path.isdir(self.model_id) or os.environ.get("HF_HUB_OFFLINE") == "1"
        self._model = CLIPModel.from_pretrained(self.model_id, local_files_only=local_only)
        self._model.eval().to(self.device)
        self._image_processor = CLIPImageProcessor.from_pretrained(
            self.model_id, local_files_only=local_only
        )
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                self.model_id, local_files_only=local_only
            )
        except (OSError, ValueError):
            self._tokenizer = None  # image-only folder: text queries unavailable

    def embed_images(self, images: list[PILImage.Image]) -> list[list[float]]:
        import torch

        self.load()
        inputs = self._image_processor(images=images, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            feats = self._model.get_image_features(**inputs)
        feats = getattr(feats, "pooler_output", feats)
        feats = torch.nn.functional.normalize(feats, dim=-1)
        return [[round(float(x), 6) for x in row] for row in feats.cpu().tolist()]

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        import torch

        self.load()
        if self._tokenizer is None:
            raise RuntimeError(f"CLIP model {self.model_id!r} has no tokenizer")
        inputs = self._tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(
            self.device
        )
        with torch.inference_mode():
            feats = self._model.get_text_features(**inputs)
        feats = getattr(feats, "pooler_output", feats)
        feats = torch.nn.functional.normalize(feats, dim=-1)
        return [[round(float(x), 6) for x in row] for row in feats.cpu().tolist()]
