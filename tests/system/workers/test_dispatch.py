"""Encoding through real workers: findings, routing, error mapping, idempotency."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from celery.signals import before_task_publish

from assistant.blobs import BlobStore
from assistant.dispatch import CeleryDispatch, heartbeats
from assistant.errors import UnprocessableMedia, UnsupportedMedia
from assistant.orchestrator import ChatInput, ChatTurn
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import registry_for
from tests.support.cluster import Cluster
from tests.support.plugins.slow import ECHO_TYPE, SLOW_TYPE
from workers.threads import thread_budget

pytestmark = pytest.mark.asyncio(loop_scope="session")


def dispatch_for(cluster: Cluster, **workers: object) -> CeleryDispatch:
    settings = cluster.settings(**workers)
    return CeleryDispatch(
        settings, registry_for(settings), BlobStore(settings.storage.resolved_blob_url())
    )


async def test_image_is_encoded_on_a_worker(cluster: Cluster, media: dict[str, Path]) -> None:
    dispatch = dispatch_for(cluster)
    [result] = await dispatch.encode(
        "default", [MediaItem(media["coffee"], "image/jpeg", "coffee.jpg")]
    )
    assert isinstance(result, Encoding), result
    assert result.encoder == "vision"
    assert "espresso" in result.text.lower() or "coffee" in result.text.lower()
    await dispatch.client.aclose()


async def test_unsupported_media_is_415_before_queueing(cluster: Cluster, tmp_path: Path) -> None:
    dispatch = dispatch_for(cluster)
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00\x01")
    [result] = await dispatch.encode("default", [MediaItem(path, "application/x-nothing", "x.bin")])
    assert isinstance(result, UnsupportedMedia) and result.status == 415
    await dispatch.client.aclose()


def _items(paths: dict[str, Path]) -> list[MediaItem]:
    return [
        MediaItem(paths["speech"], "audio/wav", "speech.wav"),
        MediaItem(paths["coffee"], "image/jpeg", "coffee.jpg"),
    ]


async def test_chat_with_audio_and_image_is_answered_through_the_workers(
    cluster: Cluster, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.dispatch import CeleryClient
    from assistant.services import Services

    sent: list[tuple[str, str, int]] = []
    real_call = CeleryClient.call

    async def spy(self: CeleryClient, task: str, kwargs: dict, queue: str, **kw: object):
        out = await real_call(self, task, kwargs, queue, **kw)  # type: ignore[arg-type]
        sent.append((kwargs.get("encoder", task), queue, out["pid"]))
        return out

    monkeypatch.setattr(CeleryClient, "call", spy)
    services = Services.build(cluster.settings())
    assert isinstance(services.dispatch, CeleryDispatch)
    chat = ChatInput(
        tenant="default",
        messages=[ChatTurn("user", "What is said in the recording, and what is in the photo?")],
        attachments=_items(media),
    )
    prepared = await services.orchestrator.prepare(chat)
    prompt = "\n".join(str(m.content) for m in prepared.messages)
    assert "laptop" in prompt.lower() and "quarterly" in prompt.lower()
    assert "espresso" in prompt.lower() or "coffee" in prompt.lower()
    answer = await services.orchestrator.answer(chat)
    sources = {c.source for c in answer.citations if c.kind == "attachment"}
    assert sources == {"speech.wav", "coffee.jpg"}
    assert all(f.encoding is not None for f in answer.findings)
    # routing: each encoder's work ran on its queue, in the worker process consuming it
    audio_pid = cluster.wait_ready("cpu.audio")["pid"]
    image_pid = cluster.wait_ready("cpu.image")["pid"]
    by_encoder = {enc: (queue, pid) for enc, queue, pid in sent}
    assert by_encoder["whisper"] == ("cpu.audio", audio_pid)
    assert by_encoder["vision"] == ("cpu.image", image_pid)
    await services.dispatch.client.aclose()


async def test_a_worker_refuses_an_encoder_of_a_queue_it_does_not_consume(
    cluster: Cluster, media: dict[str, Path]
) -> None:
    """Misrouted audio on cpu.image is refused there, not transcribed (no model pulled in)."""
    from assistant.dispatch.names import TASK_ENCODE
    from assistant.dispatch.payloads import item_payload, result_from_payload

    dispatch = dispatch_for(cluster)
    ref = dispatch.blobs.put_bytes("default", media["speech"].read_bytes(), ".wav")
    out = await dispatch.client.call(
        TASK_ENCODE,
        {"encoder": "whisper", "items": [item_payload(ref, "audio/wav", "speech.wav")]},
        "cpu.image",
    )
    [result] = [result_from_payload(r) for r in out["results"]]
    assert result.__class__.__name__ == "ServiceUnavailable"
    await dispatch.client.aclose()


async def test_bad_input_stays_a_4xx_and_is_not_retried(cluster: Cluster, tmp_path: Path) -> None:
    dispatch = dispatch_for(cluster)
    good, bad = tmp_path / "good.echo", tmp_path / "bad.echo"
    good.write_text("hello")
    bad.write_text("bad")
    results = await dispatch.encode(
        "default", [MediaItem(good, ECHO_TYPE, "good"), MediaItem(bad, ECHO_TYPE, "bad")]
    )
    assert isinstance(results[0], Encoding) and results[0].text == "hello"
    assert isinstance(results[1], UnprocessableMedia) and results[1].status == 422
    assert "bad on purpose" in results[1].message
    await dispatch.client.aclose()


async def test_concurrent_requests_are_micro_batched(cluster: Cluster, tmp_path: Path) -> None:
    dispatch = dispatch_for(cluster)
    before = len([x for x in cluster.slow_lines() if x[0] == "batch"])
    paths = []
    for i in range(24):
        path = tmp_path / f"{i}.echo"
        path.write_text(f"item {i}")
        paths.append(path)
    results = await asyncio.gather(
        *(dispatch.encode("default", [MediaItem(p, ECHO_TYPE, p.name)]) for p in paths)
    )
    assert [r[0].text for r in results] == [f"item {i}" for i in range(24)]  # type: ignore[union-attr]
    batches = [int(x[2]) for x in cluster.slow_lines() if x[0] == "batch"][before:]
    assert sum(batches) == 24
    assert len(batches) < 24 and max(batches) > 1 and max(batches) <= 8
    await dispatch.client.aclose()


async def test_tasks_are_awaited_through_one_pattern_subscription_and_final_states_only(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The API's listener subscribes once, to its own prefix's result channels: no SUBSCRIBE
    before a task nor UNSUBSCRIBE after it (Celery's backend would also subscribe a second time
    on a connection nobody reads); the worker publishes the final state only (no STARTED write
    before the task body); the task message shows a summary of its arguments, not the file
    names sent."""
    dispatch = dispatch_for(cluster)
    states: list[str] = []
    dispatch.client.state_hooks.append(lambda _id, meta: states.append(str(meta["status"])))
    redis = heartbeats.connect(cluster.url)
    sent: list[dict[str, object]] = []

    def record(headers: dict[str, object] | None = None, **_: object) -> None:
        sent.append(dict(headers or {}))

    before_task_publish.connect(record, weak=False)

    def calls(command: str) -> int:
        stats = redis.info("commandstats").get(f"cmdstat_{command}", {})
        return int(stats.get("calls", 0))

    n = 12
    before = {c: calls(c) for c in ("subscribe", "psubscribe", "unsubscribe")}
    try:
        for i in range(n):
            path = tmp_path / f"one-{i}.echo"
            path.write_text(f"one {i}")
            [result] = await dispatch.encode("default", [MediaItem(path, ECHO_TYPE, path.name)])
            assert isinstance(result, Encoding) and result.text == f"one {i}"
    finally:
        before_task_publish.disconnect(record)
    await asyncio.sleep(0.2)  # an unsubscribe would be sent after the result, off the caller
    grown = {c: calls(c) - was for c, was in before.items()}
    # the listener's keepalive channel and its pattern, once (a SUBSCRIBE and an UNSUBSCRIBE
    # per task before)
    assert grown == {"subscribe": 1, "psubscribe": 1, "unsubscribe": 0}, grown
    assert states == ["SUCCESS"] * n
    assert len(sent) == n
    assert {str(h["kwargsrepr"]) for h in sent} == {"encoder=echotest, items=<1>, options=<0>"}
    assert not any("one-" in str(h) for h in sent)
    redis.close()
    await dispatch.client.aclose()


async def test_a_listener_receives_only_its_own_tasks_results(cluster: Cluster) -> None:
    """Two API processes' listeners on one Redis: each gets the results of the tasks it sent
    and never the other's (each result is published once, to its sender's prefix)."""
    from assistant.dispatch.results import KEY_PREFIX, ResultListener

    mine, theirs = ResultListener(cluster.url), ResultListener(cluster.url)
    ours_id, their_id = mine.new_task_id(), theirs.new_task_id()
    assert ours_id.split(".")[0] != their_id.split(".")[0]
    ours = await mine.expect(ours_id)
    their_future = await theirs.expect(their_id)
    redis = heartbeats.connect(cluster.url)
    try:
        redis.publish(KEY_PREFIX + their_id, '{"status": "SUCCESS", "result": "theirs"}')
        assert (await asyncio.wait_for(their_future, 5))["result"] == "theirs"
        await asyncio.sleep(0.2)
        assert not ours.done()  # their result did not reach this listener
        redis.publish(KEY_PREFIX + ours_id, '{"status": "SUCCESS", "result": "mine"}')
        assert (await asyncio.wait_for(ours, 5))["result"] == "mine"
    finally:
        redis.close()
        await mine.close()
        await theirs.close()


async def test_pool_processes_share_the_cores(cluster: Cluster) -> None:
    """Each pool process's models get the cores divided among the processes, not all of them
    each (threads that spin while they wait would starve the other processes)."""
    image = cluster.wait_ready("cpu.image")  # one pool process, torch loaded (vision, MiniLM)
    assert image["threads"] == thread_budget(0, 1)
    assert image["torch_threads"] == image["threads"]
    cluster.start_worker("pair", "cpu.threads-test", concurrency=2)
    try:
        pair = cluster.wait_ready("cpu.threads-test")
        assert pair["threads"] == thread_budget(0, 2)
    finally:
        cluster.kill("pair", signal.SIGTERM)


async def test_a_redelivered_encode_task_gives_the_same_result(
    cluster: Cluster, media: dict[str, Path]
) -> None:
    """Encode tasks are pure: running one twice (a redelivery) returns equal findings."""
    from assistant.dispatch.names import TASK_ENCODE
    from assistant.dispatch.payloads import item_payload

    dispatch = dispatch_for(cluster)
    ref = dispatch.blobs.put_bytes("default", media["sign"].read_bytes(), ".png")
    kwargs = {"encoder": "vision", "items": [item_payload(ref, "image/png", "sign.png")]}
    first = await dispatch.client.call(TASK_ENCODE, kwargs, "cpu.image")
    second = await dispatch.client.call(TASK_ENCODE, kwargs, "cpu.image")
    assert first["results"] == second["results"]
    await dispatch.client.aclose()


async def test_an_encoding_is_shared_by_every_api_process_through_redis(
    cluster: Cluster, write_spec: Callable[[str, float], Path]
) -> None:
    """Two API processes (replicas behind a load balancer without sticky sessions): what one
    encoded, the other answers from Redis; another tenant's request is encoded for it."""
    import redis

    from assistant.dispatch.cache import SharedEncodings
    from assistant.services import Services

    replicas = [Services.build(cluster.settings()) for _ in range(2)]
    spec = write_spec("shared-cache", 0.0)

    def encoded() -> int:
        return sum(
            1 for line in cluster.slow_lines() if line[0] == "start" and line[2] == "shared-cache"
        )

    async def encode(services: Services, tenant: str) -> Encoding:
        dispatch = services.orchestrator.dispatch
        assert dispatch is not None
        [result] = await dispatch.encode(tenant, [MediaItem(spec, SLOW_TYPE, "spec.slow")])
        assert isinstance(result, Encoding), result
        return result

    first = await encode(replicas[0], "default")
    again = await encode(replicas[1], "default")
    assert encoded() == 1
    assert again.text == first.text and again.metadata == first.metadata
    await encode(replicas[1], "other-tenant")
    assert encoded() == 2
    # kept for encode_cache_shared_s, not for good
    client = redis.Redis.from_url(cluster.url)
    ttls = [client.ttl(k) for k in client.scan_iter(f"{SharedEncodings.PREFIX}*")]
    assert ttls and all(0 < t <= 3600 for t in ttls), ttls
    client.close()
    for services in replicas:
        await services.aclose()
