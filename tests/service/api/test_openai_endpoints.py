"""The other OpenAI endpoints clients call, through the real SDK and LangChain against the running
server: embeddings equal to the index's own vectors, transcriptions of synthesised speech with
timestamps (verbose_json, srt, vtt), translations, file content, and the 4xx that name why."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from assistant.embeddings import TextEmbedder
from tests.support import media
from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.models, pytest.mark.slow]
EMBEDDER = "all-MiniLM-L6-v2"
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
TEXTS = ["The Eiffel Tower is 330 metres tall.", "Honey bees store honey in wax combs."]


@pytest.fixture(scope="module")
def client(sdk: OpenAI) -> Any:
    return sdk.with_options(timeout=300)  # media takes longer to encode


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.speech_wav(tmp_path_factory.mktemp("stt") / "note.wav")


@pytest.fixture(scope="module")
def own_vectors() -> np.ndarray:
    return np.asarray(TextEmbedder().embed(TEXTS))


# embeddings -------------------------------------------------------------------------------


def test_embeddings_are_the_embedders_own_vectors(client: Any, own_vectors: np.ndarray) -> None:
    # the SDK asks for base64 unless told otherwise, and decodes it
    default = client.embeddings.create(model=EMBEDDER, input=TEXTS)
    floats = client.embeddings.create(model=EMBEDDER, input=TEXTS, encoding_format="float")
    for response in (default, floats):
        got = np.asarray([d.embedding for d in sorted(response.data, key=lambda d: d.index)])
        assert got.shape == (2, 384)
        np.testing.assert_allclose(got, own_vectors, atol=1e-5)
        assert response.usage.prompt_tokens > 10
    single = client.embeddings.create(model=f"sentence-transformers/{EMBEDDER}", input=TEXTS[0])
    np.testing.assert_allclose(single.data[0].embedding, own_vectors[0], atol=1e-5)


def test_langchain_openai_embeddings(live_server: str, own_vectors: np.ndarray) -> None:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(  # type: ignore[call-arg]  # (the documented aliases)
        base_url=f"{live_server}/v1",
        api_key=TEST_KEY,
        model=EMBEDDER,
        check_embedding_ctx_length=False,  # send text, not tiktoken ids (tiktoken downloads)
    )
    np.testing.assert_allclose(embeddings.embed_documents(TEXTS), own_vectors, atol=1e-5)
    np.testing.assert_allclose(embeddings.embed_query(TEXTS[1]), own_vectors[1], atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "status", "needle"),
    [
        ({"input": [[101, 2023]]}, 400, "token arrays"),
        ({"input": ""}, 400, "empty"),
        ({"input": "word " * 400}, 400, "reads at most"),
        ({"input": "hi", "dimensions": 128}, 400, "dimensions"),
        ({"input": "hi", "model": "text-embedding-3-small"}, 404, EMBEDDER),
        ({"input": "hi", "truncate": True}, 400, "truncate"),
    ],
)
def test_embedding_requests_refused_with_the_reason(
    live_server: str, extra: dict[str, Any], status: int, needle: str
) -> None:
    body = {"model": EMBEDDER, **extra}
    r = httpx.post(f"{live_server}/v1/embeddings", json=body, headers=AUTH, timeout=60)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]


# audio ------------------------------------------------------------------------------------

_SRT_TIME = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$", re.M)
_VTT_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}$", re.M)


def test_transcription_json_and_verbose_json(client: Any, speech: Path) -> None:
    with speech.open("rb") as f:
        plain = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert "laptop" in plain.text.lower()
    with speech.open("rb") as f:
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", language="en"
        )
    assert verbose.language == "en" and 3.0 < verbose.duration < 10.0
    segments = verbose.segments or []
    assert segments and "laptop" in " ".join(s.text for s in segments).lower()
    assert all(0.0 <= s.start <= s.end <= verbose.duration + 0.5 for s in segments)


def test_transcription_srt_vtt_and_text(client: Any, speech: Path) -> None:
    outputs = {}
    for fmt in ("srt", "vtt", "text"):
        with speech.open("rb") as f:
            outputs[fmt] = client.audio.transcriptions.create(
                model="whisper-1", file=f, response_format=fmt
            )
    assert outputs["srt"].startswith("1\n") and _SRT_TIME.search(outputs["srt"])
    assert outputs["vtt"].startswith("WEBVTT") and _VTT_TIME.search(outputs["vtt"])
    assert "laptop" in outputs["text"].lower() and "-->" not in outputs["text"]


def test_a_browser_recording_in_webm_is_transcribed(
    client: Any, speech: Path, tmp_path: Path
) -> None:
    webm = media.write_audio(tmp_path / "mic.webm", media.read_audio(speech))
    with webm.open("rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=("mic.webm", f))
    assert "laptop" in result.text.lower()


def test_transcription_refusals_name_the_problem(
    live_server: str, client: Any, speech: Path
) -> None:
    audio = ("note.wav", speech.read_bytes())
    with pytest.raises(NotFoundError, match="whisper-1"):
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio)
    # (the SDK marks its translations call deprecated, so it is posted as the SDK would)
    translated = httpx.post(
        f"{live_server}/v1/audio/translations",
        files={"file": audio},
        data={"model": "whisper-1"},
        headers=AUTH,
        timeout=60,
    )
    assert translated.status_code == 400 and "English-only" in translated.json()["error"]["message"]
    with_language = httpx.post(  # translations take no language: refused, not dropped
        f"{live_server}/v1/audio/translations",
        files={"file": audio},
        data={"model": "whisper-1", "language": "en"},
        headers=AUTH,
        timeout=60,
    )
    assert with_language.status_code == 400 and with_language.json()["error"]["param"] == "language"
    with pytest.raises(BadRequestError, match="English-only"):
        client.audio.transcriptions.create(model="whisper-1", file=audio, language="de")
    with pytest.raises(BadRequestError, match="timestamp_granularities"):
        client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )


def test_transcription_media_checks(live_server: str) -> None:
    def post(name: str, data: bytes, kind: str) -> httpx.Response:
        return httpx.post(
            f"{live_server}/v1/audio/transcriptions",
            files={"file": (name, data, kind)},
            data={"model": "whisper-1"},
            headers=AUTH,
            timeout=60,
        )

    image = post("photo.png", media.png_bytes(), "image/png")
    assert image.status_code == 415 and "needs audio" in image.json()["error"]["message"]
    corrupt = post("broken.wav", b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 40, "audio/wav")
    assert corrupt.status_code == 422, corrupt.text
    extra = httpx.post(
        f"{live_server}/v1/audio/transcriptions",
        files={"file": ("a.wav", media.wav_bytes(), "audio/wav")},
        data={"model": "whisper-1", "diarize": "true"},
        headers=AUTH,
        timeout=60,
    )
    assert extra.status_code == 400 and extra.json()["error"]["param"] == "diarize"


# files ------------------------------------------------------------------------------------


def test_file_content_comes_back_as_uploaded(client: Any, speech: Path) -> None:
    uploaded = client.files.create(file=("note.wav", speech.read_bytes()), purpose="assistants")
    content = client.files.content(uploaded.id)
    assert content.read() == speech.read_bytes()
    assert content.response.headers["x-content-type-options"] == "nosniff"
    with pytest.raises(NotFoundError):
        client.files.content("file-does-not-exist")
