"""What Redis says about the workers and queues: heartbeats, queue depths, message ages.

Each worker's main process keeps a hash ``assistant:worker:{node}`` fresh (workers/startup.py);
the API reads them for readiness, for the batcher's parallelism and for the /metrics gauges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import redis

from assistant import metrics
from assistant.dispatch.names import ENQUEUED_AT_HEADER, HEARTBEAT_PREFIX


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def worker_heartbeats(client: Any) -> dict[str, dict[str, Any]]:
    """The live worker nodes (their hashes expire when a node stops refreshing them)."""
    nodes: dict[str, dict[str, Any]] = {}
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=100):
        data = {_text(k): _text(v) for k, v in client.hgetall(key).items()}
        if "node" in data:
            nodes[data["node"]] = data
    return nodes


def served_queues(beats: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Worker processes per queue, from the heartbeats."""
    capacity: dict[str, int] = {}
    for data in beats.values():
        for queue in json.loads(data.get("queues", "[]")):
            capacity[queue] = capacity.get(queue, 0) + max(1, int(data.get("concurrency") or 1))
    return capacity


def _enqueued_at(raw: bytes | None) -> float | None:
    if not raw:
        return None
    try:
        message = json.loads(raw)
        value = message.get("headers", {}).get(ENQUEUED_AT_HEADER)
        return float(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def queue_stats(client: Any, queues: Iterable[str]) -> dict[str, tuple[int, float]]:
    """(depth, oldest age in s) per queue. kombu LPUSHes and BRPOPs: the oldest is at -1."""
    now = time.time()
    out: dict[str, tuple[int, float]] = {}
    for queue in queues:
        depth = int(client.llen(queue))
        age = 0.0
        if depth:
            stamp = _enqueued_at(client.lindex(queue, -1))
            age = max(0.0, now - stamp) if stamp is not None else 0.0
        out[queue] = (depth, age)
    return out


def connect(redis_url: str, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)


def refresh_queue_gauges(redis_url: str, queues: Iterable[str]) -> None:
    client = connect(redis_url)
    try:
        wanted = set(queues)
        beats = worker_heartbeats(client)
        for data in beats.values():
            wanted.update(json.loads(data.get("queues", "[]")))
        metrics.QUEUE_DEPTH.clear()
        metrics.QUEUE_OLDEST.clear()
        for queue, (depth, age) in queue_stats(client, sorted(wanted)).items():
            metrics.QUEUE_DEPTH.labels(queue).set(depth)
            metrics.QUEUE_OLDEST.labels(queue).set(age)
        metrics.UNACKED.set(int(client.hlen("unacked")))
        metrics.WORKER_HEARTBEAT.clear()
        metrics.WORKER_UP.clear()
        now = time.time()
        for node, data in beats.items():
            metrics.WORKER_HEARTBEAT.labels(node).set(max(0.0, now - float(data.get("ts", now))))
            for queue in json.loads(data.get("queues", "[]")):
                metrics.WORKER_UP.labels(node, queue).set(1)
    finally:
        client.close()
