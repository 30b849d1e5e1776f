"""A worker SIGKILLed, Redis restarted, Chroma stopped — each during traffic.

Decided behaviour (README "Faults"):
- text chat needs no worker and no Redis: it keeps answering 200 through worker and Redis
  outages;
- a chat attachment needs a worker: with none alive it waits at most ``workers.result_timeout_s``
  and then answers 503 (the task is revoked); with Redis down it answers 503 at once;
- jobs are durable: a job whose step finds Redis, the workers or Chroma unavailable is handed
  back and run again when they are back, so no accepted job is lost;
- retrieval-dependent chat answers 503 "the vector store is unavailable" while Chroma is down,
  /readyz names the dependency that is down, and both recover by themselves.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.procs import wait_for
from tests.support.settings import AUTH
from tests.support.stack import (
    Stack,
    Traffic,
    coffee_png,
    image_chat,
    submit_ingest,
    text_chat,
    upload,
    wait_jobs,
)

DOC = "# Note {i}\n\nThe Eiffel Tower is 330 metres tall. Fact number {i} about towers.\n"


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base, headers=AUTH, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def png() -> Callable[[], str]:
    """A new image each call: one already encoded would be answered from the encode cache
    (no worker needed), and these calls are about what happens when one is needed."""
    variants = itertools.count(1)
    return lambda: coffee_png(next(variants))


def test_worker_sigkill_loses_no_job_and_text_chat_keeps_answering(
    stack: Stack, client: httpx.Client, png: Callable[[], str]
) -> None:
    assert client.post("/v1/chat/completions", json=image_chat(png())).status_code == 200
    traffic = Traffic(stack.base).start()
    files = [upload(client, f"note{i}.md", DOC.format(i=i).encode()) for i in range(4)]
    jobs = [submit_ingest(client, f) for f in files]
    stack.kill("worker")  # SIGKILL main process and pool child, jobs queued or running
    killed_at = time.monotonic()
    jobs += [submit_ingest(client, upload(client, "late.md", DOC.format(i=9).encode()))]
    started = time.monotonic()
    response = client.post("/v1/chat/completions", json=image_chat(png()))
    assert response.status_code == 503, response.text
    assert "within" in response.json()["error"]["message"]
    assert time.monotonic() - started < 30  # bounded by workers.result_timeout_s, not forever
    stack.start_worker()
    stack.wait_worker()
    states = wait_jobs(client, jobs, timeout=120)
    statuses = traffic.stop()
    assert states == dict.fromkeys(jobs, "succeeded"), (states, stack.logs("api"))
    during = traffic.since(killed_at)
    assert during and set(during) == {200}, sorted(set(statuses))
    assert client.post("/v1/chat/completions", json=image_chat(png())).status_code == 200


def test_redis_restart_gives_503_then_recovers_and_loses_no_job(
    stack: Stack, client: httpx.Client, png: Callable[[], str]
) -> None:
    traffic = Traffic(stack.base).start()
    stack.redis.stop()  # SIGTERM: redis-server flushes its AOF and exits
    down_at = time.monotonic()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["workers"] != "ok"
        started = time.monotonic()
        response = client.post("/v1/chat/completions", json=image_chat(png()))
        assert response.status_code == 503, response.text
        assert "task queue is unavailable" in response.json()["error"]["message"]
        assert time.monotonic() - started < 15
        # accepted while Redis is down: the job table is SQL; its work waits for Redis
        job = submit_ingest(client, upload(client, "during.md", DOC.format(i=20).encode()))
        time.sleep(2)
    finally:
        stack.redis.start()
    up_at = time.monotonic()
    assert wait_for(lambda: client.get("/readyz").status_code == 200, 60, 0.5), client.get(
        "/readyz"
    ).json()
    assert wait_jobs(client, [job], timeout=90) == {job: "succeeded"}, stack.logs("api")
    assert wait_for(
        lambda: client.post("/v1/chat/completions", json=image_chat(png())).status_code == 200,
        60,
        1,
    )
    traffic.stop()
    outage = [s for when, s in traffic.results if down_at <= when < up_at]
    assert outage and set(outage) <= {200}, outage  # text chat needs no Redis
    assert 500 not in [s for _, s in traffic.results]


def test_chroma_stop_gives_a_clear_503_and_recovers_on_restart(
    stack: Stack, client: httpx.Client
) -> None:
    assert client.post("/v1/chat/completions", json=text_chat()).status_code == 200
    traffic = Traffic(stack.base).start()
    stack.kill("chroma", sig=15)
    down_at = time.monotonic()
    try:
        response = client.post("/v1/chat/completions", json=text_chat())
        assert response.status_code == 503, response.text
        assert "vector store is unavailable" in response.json()["error"]["message"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["chroma"] != "ok"
        time.sleep(1)
    finally:
        up_at = time.monotonic()
        stack.start_chroma()  # same port, same path
    assert wait_for(
        lambda: client.post("/v1/chat/completions", json=text_chat()).status_code == 200, 30, 0.5
    )
    assert client.get("/readyz").status_code == 200
    # the data survived: the earlier notes are still cited
    answer = client.post("/v1/chat/completions", json=text_chat()).json()
    assert any("Eiffel" in c.get("snippet", "") for c in answer["citations"]), answer
    statuses = traffic.stop()
    assert 500 not in statuses and -1 not in statuses, statuses
    outage = [s for when, s in traffic.results if down_at < when < up_at]
    assert set(outage) <= {503}, outage
