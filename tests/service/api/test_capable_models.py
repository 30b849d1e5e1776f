"""Raw media to a capable model (``llm.input_modalities``), through the real encoders: what the
upstream (a fake OpenAI-compatible server that records every request) receives."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.support import media
from tests.support.apps import app_over_upstream
from tests.support.settings import AUTH
from tests.support.upstream import FakeUpstream

pytestmark = [pytest.mark.models, pytest.mark.slow]
MODEL = "vision-model"
ENCODERS = {"allow": ["documents", "vision", "whisper", "video"]}


Served = tuple[TestClient, FakeUpstream]


def _served(root: Path, modalities: list[str], **llm: Any) -> Iterator[Served]:
    llm = {"model_name": MODEL, "input_modalities": modalities, **llm}
    workers = {"in_process": True, "plugin_modules": []}
    with app_over_upstream(root, llm, plugins=ENCODERS, workers=workers) as served:
        yield served


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("vision")
    yield from _served(root, ["text", "image"], image_max_side=512, video_keyframes=2)


@pytest.fixture(scope="module")
def text_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _served(tmp_path_factory.mktemp("text"), ["text"])


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _served(tmp_path_factory.mktemp("audio"), ["text", "audio"], audio_max_s=2.0)


def _sign() -> str:
    img = media.text_image("OPEN SUNDAY 9AM").resize((1600, 400))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _ask(served: Served, part: dict[str, Any]) -> dict[str, Any]:
    client, upstream = served
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, part]}],
    }
    before = len(upstream.requests)
    response = client.post("/v1/chat/completions", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == before + 1
    question = upstream.requests[-1]["messages"][-1]
    assert question["role"] == "user"
    return dict(question)


def _parts(question: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = question["content"]
    return [p for p in content if p["type"] == kind] if isinstance(content, list) else []


def _text(question: dict[str, Any]) -> str:
    content = question["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p["type"] == "text")


def _image(part: dict[str, Any]) -> Image.Image:
    header, _, data = part["image_url"]["url"].partition(",")
    assert header == "data:image/jpeg;base64"  # bytes, never a URL for the server to fetch
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_an_image_goes_to_a_vision_model_resized_with_its_ocr_findings(
    vision: Served,
) -> None:
    question = _ask(vision, {"type": "image_url", "image_url": {"url": _sign()}})
    [image] = _parts(question, "image_url")
    picture = _image(image)
    assert picture.format == "JPEG" and picture.size == (512, 128)
    text = _text(question)
    assert "SUNDAY 9AM" in text and "<attachment" in text  # the findings stay, fenced
    assert "Attachment [1]" in text


def test_a_text_only_model_gets_no_image(text_only: Served) -> None:
    question = _ask(text_only, {"type": "image_url", "image_url": {"url": _sign()}})
    assert isinstance(question["content"], str)
    assert "SUNDAY 9AM" in question["content"]


def test_a_video_sends_at_most_the_keyframes_allowed_with_their_times(
    vision: Served, scene_video: Path
) -> None:
    data = base64.b64encode(scene_video.read_bytes()).decode()
    part = {"type": "file", "file": {"file_data": f"data:video/mp4;base64,{data}"}}
    question = _ask(vision, part)
    images = _parts(question, "image_url")
    assert len(images) == 2  # the setting; the video has more scene changes than that
    labels = [p["text"] for p in _parts(question, "text") if "frame at" in p["text"]]
    assert labels == [
        "Attachment [1] file, frame at 00:00:",
        "Attachment [1] file, frame at 00:03:",
    ]
    assert all(max(_image(p).size) <= 512 for p in images)
    assert "laptop" in _text(question).lower()  # the transcript is there too
    assert not _parts(question, "input_audio")  # this model reads no audio


def test_an_audio_model_gets_bounded_16k_mono_wav_and_the_transcript(
    audio: Served, speech_wav: Path
) -> None:
    data = base64.b64encode(speech_wav.read_bytes()).decode()
    question = _ask(
        audio,
        {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
    )
    [sound] = _parts(question, "input_audio")
    assert sound["input_audio"]["format"] == "wav"
    with wave.open(io.BytesIO(base64.b64decode(sound["input_audio"]["data"]))) as clip:
        assert (clip.getnchannels(), clip.getframerate(), clip.getsampwidth()) == (1, 16000, 2)
        assert clip.getnframes() == 2 * 16000  # audio_max_s, of a longer recording
    assert "laptop" in _text(question).lower()
    assert not _parts(question, "image_url")


def test_the_local_model_refuses_raw_modalities() -> None:
    from pydantic import ValidationError

    from assistant.config import LLMSettings

    with pytest.raises(ValidationError, match="reads text only"):
        LLMSettings(provider="local", input_modalities=["text", "image"])
    with pytest.raises(ValidationError, match="must include 'text'"):
        LLMSettings(provider="fake", input_modalities=["image"])
