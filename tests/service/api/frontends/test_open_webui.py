"""The requests Open WebUI 0.12 sends to an OpenAI-compatible connection, replayed in its shapes
against the running server (DESIGN.md: its chat, its background title/tags/follow-up task
completions, its document RAG through /v1/embeddings, its microphone through
/v1/audio/transcriptions) and what it reads back: model ids, SSE deltas, url_citation
annotations it renders as sources, ``text`` of a transcription, ``data[].embedding``."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support import media
from tests.support.procs import wait_for
from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.models, pytest.mark.slow]
MODEL = "smollm2-135m-instruct"
# Open WebUI sends the key it was configured with (OPENAI_API_KEY) as a bearer token
HEADERS = {"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"}
QUESTION = "How tall is the Eiffel Tower?"
ANSWER = "The Eiffel Tower is 330 metres tall."
HISTORY = f"USER: {QUESTION}\nASSISTANT: {ANSWER}"
# its default task prompts, shortened: each asks for a JSON object in the reply
TASKS = {
    "title": "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat "
    'history.\n### Output:\nJSON format: { "title": "your concise title here" }\n'
    f"### Chat History:\n<chat_history>\n{HISTORY}\n</chat_history>",
    "tags": "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat "
    'history.\n### Output:\nJSON format: { "tags": ["tag1", "tag2", "tag3"] }\n'
    f"### Chat History:\n<chat_history>\n{HISTORY}\n</chat_history>",
    "follow_ups": "### Task:\nSuggest 3-5 relevant follow-up questions the user might ask.\n"
    '### Output:\nJSON format: { "follow_ups": ["Question 1?", "Question 2?"] }\n'
    f"### Chat History:\n<chat_history>\n{HISTORY}\n</chat_history>",
}


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``data:`` frames of an SSE body, as Open WebUI's stream reader splits them."""
    frames = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    return [json.loads(f) for f in frames[:-1]]


def test_connection_check_lists_the_models(live_server: str) -> None:
    # "Verify connection" and the model picker: GET {base}/models, ids from data[].id
    r = httpx.get(f"{live_server}/v1/models", headers=HEADERS, timeout=30)
    assert r.status_code == 200
    assert MODEL in [m["id"] for m in r.json()["data"]]


def test_chat_message_streams_with_sources(live_server: str) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    r = httpx.post(f"{live_server}/v1/chat/completions", json=body, headers=HEADERS, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r)
    text = "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices")
    )
    assert "330" in text
    notes = [
        a
        for e in events
        if e.get("choices")
        for a in e["choices"][0]["delta"].get("annotations") or []
    ]
    assert notes and notes[0]["type"] == "url_citation"
    assert notes[0]["url_citation"]["url"].startswith(f"{live_server}/v1/documents/")
    assert any(e.get("usage") for e in events)  # the usage frame it shows per message


@pytest.mark.parametrize("task", sorted(TASKS))
def test_background_task_completions(live_server: str, task: str) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": TASKS[task]}],
        "stream": False,
        "max_completion_tokens": 1000,
    }
    r = httpx.post(f"{live_server}/v1/chat/completions", json=body, headers=HEADERS, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]  # Open WebUI parses the JSON it finds


def _waiting(base: str, priority: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    found = re.search(rf'^assistant_llm_waiting{{priority="{priority}"}} ([\d.]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_answer_a_person_waits_for_goes_before_queued_task_completions(
    live_server: str,
) -> None:
    # Open WebUI fires its title/tags/follow-up completions at the one local model; a person's
    # next question must not wait behind all of them
    finished: list[str] = []
    errors: list[str] = []

    def post(name: str, content: str) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
        r = httpx.post(
            f"{live_server}/v1/chat/completions", json=body, headers=HEADERS, timeout=300
        )
        (finished if r.status_code == 200 else errors).append(
            name if r.status_code == 200 else r.text
        )

    tasks = [
        threading.Thread(target=post, args=(f"{task}{i}", TASKS[task]))
        for i in range(2)
        for task in sorted(TASKS)
    ]
    for thread in tasks:
        thread.start()
    # one task generating, the others queued for the model
    assert wait_for(lambda: _waiting(live_server, "background") >= 3, 60, 0.05), finished
    post("answer", QUESTION)
    for thread in tasks:
        thread.join(300)
    assert not errors, errors
    assert len(finished) == len(tasks) + 1
    # behind at most the generation that was running and one that started while it prepared
    assert finished.index("answer") <= 2, finished
    assert _waiting(live_server, "background") == _waiting(live_server, "interactive") == 0


def test_document_rag_embeddings(live_server: str) -> None:
    # RAG_EMBEDDING_ENGINE=openai with its default RAG_EMBEDDING_MODEL name
    chunks = ["The Eiffel Tower is in Paris.", "Bees make honey.", "Paris is in France."]
    body = {"input": chunks, "model": "sentence-transformers/all-MiniLM-L6-v2"}
    r = httpx.post(f"{live_server}/v1/embeddings", json=body, headers=HEADERS, timeout=60)
    assert r.status_code == 200, r.text
    vectors = np.asarray([d["embedding"] for d in r.json()["data"]])
    assert vectors.shape == (3, 384)
    similarity = vectors @ vectors.T  # normalised: related chunks are closer
    assert similarity[0, 2] > similarity[0, 1]


def test_microphone_transcription(live_server: str, tmp_path: Path) -> None:
    # the browser records webm/opus; Open WebUI posts file + model (AUDIO_STT_MODEL)
    speech = media.speech_wav(tmp_path / "note.wav")
    webm = media.write_audio(tmp_path / "recording.webm", media.read_audio(speech))
    r = httpx.post(
        f"{live_server}/v1/audio/transcriptions",
        headers={"Authorization": HEADERS["Authorization"]},
        files={"file": ("recording.webm", webm.read_bytes(), "audio/webm")},
        data={"model": "whisper-1"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert "laptop" in r.json()["text"].lower()
