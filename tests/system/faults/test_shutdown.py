"""SIGTERM to `assistant serve` (embedded Redis + worker) while jobs run: the server shuts down
gracefully, hands its in-flight jobs back (lease ended at once), leaves no redis-server or
worker behind, and the next start finishes every job."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import media as mf
from tests.support.procs import (
    alive,
    embedded_children,
    free_port,
    group_alive,
    wait_for,
    wait_ready,
)
from tests.support.settings import AUTH
from tests.support.settings import child_env as server_env
from tests.support.stack import wait_jobs


def _serve(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = server_env(data_dir, ASSISTANT_LLM__PROVIDER="fake")  # no Redis URL: embedded
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/readyz", timeout=180, proc=proc)
    return proc, base


def test_sigterm_hands_back_running_jobs_and_stops_the_children(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    media = mf.speech_wav(tmp_path / "s.wav").read_bytes()
    name, kind = "speech.wav", "audio/wav"
    proc, base = _serve(data_dir, log)
    redis_pid, worker_pid = embedded_children(proc.pid)
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        jobs = []
        for i in range(3):
            up = client.post("/v1/files", files={"file": (f"{i}-{name}", media, kind)})
            assert up.status_code == 201, up.text
            job = client.post(
                "/v1/jobs", json={"kind": "ingest", "input": {"file_ids": [up.json()["id"]]}}
            )
            assert job.status_code == 202, job.text
            jobs.append(job.json()["id"])
        states = [client.get(f"/v1/jobs/{j}").json()["state"] for j in jobs]
    assert any(s in ("queued", "running") for s in states), states  # work was in flight
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    text = log.read_text()
    assert code in (0, 143), text[-3000:]
    assert "Application shutdown complete" in text
    assert wait_for(lambda: not alive(redis_pid) and not group_alive(worker_pid), 10)

    proc, base = _serve(data_dir, log)  # same data dir: same job table, same Redis AOF
    try:
        with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
            started = time.monotonic()
            final = wait_jobs(client, jobs, timeout=120)
            assert final == dict.fromkeys(jobs, "succeeded"), (final, log.read_text()[-3000:])
            # handed back at shutdown: picked up at once, not after the 30 s lease
            assert time.monotonic() - started < 60
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
