"""The async job API against real workers: analyse, ingest, chat, cancel, webhooks, restarts."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.auth import Principal
from assistant.jobs.kinds import JobContext
from assistant.jobs.kinds.analyse import AnalyseKind
from assistant.jobs.progress import Progress
from assistant.jobs.store import JobStore
from assistant.jobs.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from assistant.plugins.contract import MediaItem
from assistant.services import Services
from assistant.store import File
from tests.support.cluster import Cluster
from tests.support.plugins.slow import SLOW_TYPE
from tests.support.procs import wait_for
from tests.support.settings import TEST_KEY

pytestmark = pytest.mark.asyncio(loop_scope="session")


SECRET = "whsec-0123456789abcdef"
OTHER_KEY = "sk-other-tenant-key"


class Local:
    """127.0.0.1 HTTP server: serves media under /media/, records webhook POSTs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hooks: list[tuple[dict[str, str], bytes]] = []
        local = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = local.files.get(self.path.removeprefix("/media/"))
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                local.hooks.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    server = Local()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    services = Services.build(cluster.settings(webhook_secret=SECRET))
    services.security.key_resolver = lambda token: (
        Principal(tenant="other", key_id="other") if token == OTHER_KEY else None
    )
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {TEST_KEY}"}
    ) as client:
        yield client, services
    await services.jobs.aclose()
    await services.dispatch.client.aclose()  # type: ignore[attr-defined]


async def _wait_state(client: httpx.AsyncClient, job_id: str, timeout: float = 120) -> dict:
    for _ in range(int(timeout * 10)):
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def test_analyse_job_by_url_with_signed_webhook(
    api: tuple[httpx.AsyncClient, Services], local: Local, media: dict[str, Path]
) -> None:
    client, _ = api
    local.files["coffee.jpg"] = media["coffee"].read_bytes()
    response = await client.post(
        "/v1/jobs",
        json={
            "kind": "analyse",
            "input": {"url": f"{local.base}/media/coffee.jpg"},
            "webhook": {"url": f"{local.base}/hook"},
        },
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    job = await _wait_state(client, job_id)
    assert job["state"] == "succeeded", job
    assert job["result"]["encoding"]["encoder"] == "vision"
    assert job["progress"]["encode"]["state"] == "done"
    assert await asyncio.to_thread(wait_for, lambda: len(local.hooks) >= 1, 30)
    headers, body = local.hooks[-1]
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify(
        "wrong-secret-000000", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
    )
    payload = json.loads(body)
    assert payload["id"] == job_id and payload["state"] == "succeeded"
    # events: the SSE stream ends with the final state
    events = await client.get(f"/v1/jobs/{job_id}/events")
    data = [json.loads(line[5:]) for line in events.text.splitlines() if line.startswith("data:")]
    assert data[-1]["state"] == "succeeded"
    # tenant isolation: another tenant's key sees a 404, not the job
    other = await client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"


async def test_ingest_job_embeds_on_workers_and_reingest_does_not_duplicate(
    api: tuple[httpx.AsyncClient, Services], local: Local
) -> None:
    client, services = api
    text = "The lighthouse keeper logs the ships every evening.\n\n" * 40
    local.files["notes.txt"] = text.encode()
    body = {"kind": "ingest", "input": {"urls": [f"{local.base}/media/notes.txt"]}}
    first = await _wait_state(client, (await client.post("/v1/jobs", json=body)).json()["id"])
    assert first["state"] == "succeeded", first
    [doc] = first["result"]["documents"]
    collection = services.store.collection("default")

    def count() -> int:
        return len(collection.get(where={"document_id": doc["document_id"]})["ids"])

    assert count() == doc["chunks"] > 1
    # the same work again (a retried job, a redelivery): stable ids, nothing duplicated
    second = await _wait_state(client, (await client.post("/v1/jobs", json=body)).json()["id"])
    assert second["state"] == "succeeded"
    assert count() == doc["chunks"]
    hits = services.store.search("default", "who logs the ships?", 1)
    assert hits and "lighthouse" in hits[0].text


async def test_ingest_job_by_file_id_and_unknown_file_is_404(
    api: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = api
    data = b"Penguins huddle together to keep warm in the Antarctic winter."
    ref = services.blobs.put_bytes("default", data, ".txt")
    stored = services.db.add_file(
        File(tenant="default", filename="penguins.txt", media_type="text/plain",
             blob_key=ref.key, sha256=ref.sha256, bytes=ref.size)
    )  # fmt: skip
    job = await _wait_state(
        client,
        (
            await client.post(
                "/v1/jobs", json={"kind": "ingest", "input": {"file_ids": [stored.id]}}
            )
        ).json()["id"],
    )
    assert job["state"] == "succeeded", job
    assert job["result"]["documents"][0]["source"] == "penguins.txt"
    missing = await client.post(
        "/v1/jobs", json={"kind": "ingest", "input": {"file_ids": ["file_nope"]}}
    )
    assert missing.status_code == 404
    bad = await client.post("/v1/jobs", json={"kind": "analyse", "input": {}})
    assert bad.status_code == 400


async def test_chat_job_saves_messages_once(api: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = api
    conv = services.db.create_conversation("default", "job chat")
    body = {
        "kind": "chat",
        "input": {
            "model": services.settings.llm.model_name,
            "messages": [{"role": "user", "content": "Say something."}],
            "conversation_id": conv.id,
        },
    }
    job = await _wait_state(client, (await client.post("/v1/jobs", json=body)).json()["id"])
    assert job["state"] == "succeeded", job
    assert job["result"]["text"] == "The answer, from the attachments [1] [2]."
    assert job["result"]["unsupported"] == []  # its citation marks are no claims
    assert len(services.db.history("default", conv.id)) == 2
    # a re-run of the same job (its API process died after finishing) writes nothing twice
    manager = services.jobs
    row = manager.store.get("default", job["id"])
    await manager.kinds["chat"].run(manager.ctx, row, Progress(manager.save_progress, row.id))
    assert len(services.db.history("default", conv.id)) == 2


async def test_cancelled_job_stops_its_running_task(
    api: tuple[httpx.AsyncClient, Services],
    cluster: Cluster,
    write_spec: Callable[[str, float], Path],
) -> None:
    client, services = api
    manager = services.jobs
    spec = write_spec("cancelme", 20)

    class SlowAnalyse(AnalyseKind):
        async def run(self, ctx: JobContext, job: Any, progress: Progress) -> dict[str, Any]:
            progress.stage("encode", total=1)
            await ctx.dispatch.encode(job.tenant, [MediaItem(spec, SLOW_TYPE, "cancelme")])
            return {"never": True}

    manager.kinds["analyse"] = SlowAnalyse()
    response = await client.post(
        "/v1/jobs", json={"kind": "analyse", "input": {"url": "http://127.0.0.1:9/x"}}
    )
    job_id = response.json()["id"]

    def started() -> bool:
        return any(x[0] == "start" and x[2] == "cancelme" for x in cluster.slow_lines())

    assert await asyncio.to_thread(wait_for, started, 30)
    cancelled = (await client.delete(f"/v1/jobs/{job_id}")).json()
    assert cancelled["state"] == "cancelled"
    await asyncio.sleep(1.0)
    assert manager.store.get("default", job_id).task_ids or True
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["state"] == "cancelled" and job["result"] is None
    # the worker's task was terminated: it never finishes, and the worker is free again
    ping = await asyncio.wait_for(services.dispatch.client.ping("cpu.document"), 30)  # type: ignore[attr-defined]
    assert ping["queues"] == ["cpu.document"]
    await asyncio.sleep(2.0)
    assert not any(x[0] == "done" and x[2] == "cancelme" for x in cluster.slow_lines())


async def test_jobs_survive_an_api_restart(
    cluster: Cluster, local: Local, media: dict[str, Path]
) -> None:
    """A job left queued/running by a stopped API process is claimed and run by the next one."""
    local.files["sign.png"] = media["sign"].read_bytes()
    services = Services.build(cluster.settings())
    store = JobStore(services.db)
    job = store.create("default", "analyse", {"url": f"{local.base}/media/sign.png"})
    manager = services.jobs
    await manager.scan_once()
    for _ in range(600):
        row = store.get("default", job.id)
        if row.state in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert row.state == "succeeded", row.error
    assert "OPEN" in json.dumps(row.result).upper()
    await manager.aclose()
    await services.dispatch.client.aclose()  # type: ignore[attr-defined]


async def test_jobs_cli_lists_jobs(cluster: Cluster) -> None:
    from click.testing import CliRunner

    from assistant.cli import main
    from assistant.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(
        main, ["jobs"], env={"ASSISTANT_STORAGE__DATA_DIR": str(cluster.data_dir)}
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "analyse" in result.output and "succeeded" in result.output


async def test_metrics_show_queues_workers_tasks_and_http(
    api: tuple[httpx.AsyncClient, Services], cluster: Cluster
) -> None:
    client, services = api
    import redis

    from assistant.dispatch.celery_app import make_celery
    from assistant.dispatch.names import TASK_PING

    await client.get("/v1/jobs")  # some HTTP traffic
    echo = cluster.root / "metrics.echo"
    echo.write_text("metrics")
    from tests.support.plugins.slow import ECHO_TYPE

    await services.dispatch.encode("default", [MediaItem(echo, ECHO_TYPE, "m")])
    celery = make_celery(services.settings)
    celery.send_task(TASK_PING, queue="cpu.video")  # no video worker: it waits there
    celery.close()
    await asyncio.sleep(1.1)
    try:
        text = (await client.get("/metrics")).text
    finally:
        redis.Redis.from_url(cluster.url).delete("cpu.video")
    assert 'assistant_queue_depth{queue="cpu.video"} 1.0' in text
    age = next(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('assistant_queue_oldest_message_age_seconds{queue="cpu.video"}')
    )
    assert 1.0 <= age < 60
    assert 'assistant_worker_up{node="audio@test",queue="cpu.audio"} 1.0' in text
    assert "assistant_worker_heartbeat_age_seconds" in text
    assert (
        'assistant_task_duration_seconds_count{encoder="echotest",queue="cuda.document",task="encode"}'
        in text
    )
    assert 'assistant_http_requests_total{method="GET",route="/v1/jobs",status="200"}' in text
