"""The real loading code for models that no package ships, run on tiny models built here:
openai-whisper (a random-weight checkpoint saved the way whisper saves one) and CLIP (a tiny
CLIPConfig saved with save_pretrained). Outputs are gibberish; shapes and plumbing are real."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from assistant.plugins import MediaItem

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    whisper = pytest.importorskip("whisper", reason="pip install --no-deps openai-whisper")
    import torch

    dims = whisper.model.ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51864,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = whisper.model.Whisper(dims)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.en.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_openai_whisper_backend_loads_a_checkpoint(
    tiny_whisper_checkpoint: Path, media_dir: Path
) -> None:
    from plugins.whisper import WhisperEncoder, WhisperOptions
    from tests.support import media as mf

    enc = WhisperEncoder(backend="openai-whisper", model_path=str(tiny_whisper_checkpoint))
    enc.load()
    audio = mf.write_audio(media_dir / "tone2.wav", mf.tone(2.0))
    [out] = enc.encode([MediaItem(audio, "audio/wav")], WhisperOptions(beam_size=1))
    assert out.encoder == "whisper" and out.metadata["backend"] == "openai-whisper"
    assert out.metadata["language"] == "en" and abs(out.metadata["duration_s"] - 2.0) < 0.05
    assert isinstance(out.text, str)
    for seg in out.segments:
        assert seg.kind == "speech" and seg.start is not None and seg.end is not None
        assert 0.0 <= seg.start <= seg.end <= 2.0 + 1e-6


def test_openai_whisper_without_a_path_refuses_to_download() -> None:
    from assistant.errors import PluginError
    from plugins.whisper import WhisperEncoder

    with pytest.raises(PluginError, match="ASSISTANT_WHISPER_MODEL_PATH"):
        WhisperEncoder(backend="openai-whisper", model_path="").load()


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import json

    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("clip")
    config = CLIPConfig(
        text_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "vocab_size": 128,
            "max_position_embeddings": 32,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    # a tiny byte-level BPE vocabulary: letters and a few merges, enough to tokenise queries
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in letters:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    return folder


def test_clip_loading_code_on_a_tiny_model(tiny_clip_dir: Path, coffee_jpg: Path) -> None:
    from PIL import Image

    from plugins.vision.clip import ClipEmbedder

    clip = ClipEmbedder(str(tiny_clip_dir))
    clip.load()
    with Image.open(coffee_jpg) as img:
        vectors = clip.embed_images([img.convert("RGB"), img.convert("RGB").rotate(90)])
    assert len(vectors) == 2 and len(vectors[0]) == 16
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-3
    [text_vec] = clip.embed_texts(["a cup of coffee"])
    assert len(text_vec) == 16


@pytest.mark.models
def test_vision_encoder_adds_clip_segment(tiny_clip_dir: Path, coffee_jpg: Path) -> None:
    from plugins.vision import VisionEncoder, VisionOptions

    enc = VisionEncoder(clip_model=str(tiny_clip_dir))
    [out] = enc.encode([MediaItem(coffee_jpg, "image/jpeg")], VisionOptions(ocr=False))
    clip_segments = [s for s in out.segments if s.kind == "clip"]
    assert len(clip_segments) == 1 and clip_segments[0].vector is not None
    assert len(clip_segments[0].vector) == 16
    assert out.vector is not None and len(out.vector) == 384
