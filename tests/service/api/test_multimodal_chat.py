"""Attachments through the OpenAI SDK: real speech, a real photo, a video by file id."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.support import media
from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.models, pytest.mark.slow]
MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def client(sdk: OpenAI) -> OpenAI:
    return sdk.with_options(timeout=300)  # media takes longer to encode


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.speech_wav(tmp_path_factory.mktemp("speech") / "note.wav")


def _png(img) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_what_is_said_in_this_audio(client: OpenAI, speech: Path) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is said in this audio?"},
                    {
                        "type": "input_audio",
                        "input_audio": {
                            "data": base64.b64encode(speech.read_bytes()).decode(),
                            "format": "wav",
                        },
                    },
                ],
            }
        ],
    )
    text = (completion.choices[0].message.content or "").lower()
    assert "laptop" in text or "sales report" in text or "meeting" in text, text
    citations = completion.model_extra["citations"]  # type: ignore[index]
    assert citations[0]["kind"] == "attachment" and citations[0]["start"] is not None
    assert "laptop" in citations[0]["snippet"].lower()


def test_what_is_in_this_picture(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": f"data:image/png;base64,{_png(media.photo('coffee'))}"
                        },
                    },
                ],
            }
        ],
    )
    text = (completion.choices[0].message.content or "").lower()
    assert any(word in text for word in ("coffee", "espresso", "cup")), text


@pytest.mark.usefixtures("live_server")
def test_video_by_file_id_with_spoken_and_visual_findings(
    client: OpenAI, speech: Path, tmp_path: Path
) -> None:
    video = media.make_video(
        tmp_path / "clip.mp4",
        [(media.photo("coffee"), 3.0), (media.photo("chelsea"), 5.0)],
        audio=speech,
        audio_start=3.0,
    )
    uploaded = client.files.create(file=("clip.mp4", video.read_bytes()), purpose="assistants")
    assert uploaded.id.startswith("file_")
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What does the speaker ask people to bring?"},
                    {"type": "file", "file": {"file_id": uploaded.id}},
                ],
            }
        ],
    )
    text = (completion.choices[0].message.content or "").lower()
    assert "laptop" in text or "report" in text, text
    [citation] = completion.model_extra["citations"]  # type: ignore[index]
    assert citation["source"] == "clip.mp4"


def test_unsupported_and_hostile_attachments_are_refused(live_server: str) -> None:
    headers = {"Authorization": f"Bearer {TEST_KEY}"}

    def chat(part: dict) -> httpx.Response:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}],
        }
        return httpx.post(
            f"{live_server}/v1/chat/completions", json=body, headers=headers, timeout=60
        )

    # PNG bytes declared as audio: sniffed as an image, not trusted from the label
    png = _png(media.text_image("hello"))
    r = chat({"type": "input_audio", "input_audio": {"data": png, "format": "wav"}})
    assert r.status_code == 200
    # a loopback URL is never fetched
    r = chat({"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/secret.png"}})
    assert r.status_code == 400 and "private or local" in r.json()["error"]["message"]
    # not base64
    r = chat({"type": "input_audio", "input_audio": {"data": "@@@not base64@@@", "format": "wav"}})
    assert r.status_code == 400 and "base64" in r.json()["error"]["message"]
    # a zip is no media type we handle
    zipped = base64.b64encode(b"PK\x03\x04" + b"\x00" * 200).decode()
    r = chat({"type": "file", "file": {"file_data": f"data:application/zip;base64,{zipped}"}})
    assert r.status_code == 415 and "supported" in r.json()["error"]["message"]
    # another file id that does not exist
    r = chat({"type": "file", "file": {"file_id": "file_doesnotexist"}})
    assert r.status_code == 404


def _cache_hits(base: str, headers: dict[str, str]) -> float:
    text = httpx.get(f"{base}/metrics", headers=headers, timeout=30).text
    for line in text.splitlines():
        if line.startswith('assistant_encode_cache_total{result="hit"}'):
            return float(line.split()[-1])
    return 0.0


def test_an_image_resent_with_the_next_turn_is_not_encoded_again(live_server: str) -> None:
    """A front end resends the conversation's image every turn: it is encoded once."""
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    image = {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{_png(media.photo('chelsea'))}"},
    }
    first_turn = [
        {"role": "user", "content": [{"type": "text", "text": "What animal is this?"}, image]}
    ]

    def chat(messages: list[dict]) -> dict:
        body = {"model": MODEL, "messages": messages, "max_tokens": 16}
        r = httpx.post(
            f"{live_server}/v1/chat/completions", json=body, headers=headers, timeout=300
        )
        assert r.status_code == 200, r.text
        return r.json()

    before = _cache_hits(live_server, headers)
    one = chat(first_turn)
    after_first = _cache_hits(live_server, headers)
    reply = {"role": "assistant", "content": one["choices"][0]["message"]["content"]}
    two = chat([*first_turn, reply, {"role": "user", "content": "What colour is its fur?"}])
    assert after_first == before  # a new image: encoded
    assert _cache_hits(live_server, headers) == after_first + 1  # the same image again: not
    snippet = [c["snippet"] for c in one["citations"] if c["kind"] == "attachment"]
    assert snippet and snippet == [
        c["snippet"] for c in two["citations"] if c["kind"] == "attachment"
    ]
