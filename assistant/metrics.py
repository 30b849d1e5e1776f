"""Prometheus metrics: HTTP traffic, task round trips and durations, queues and workers.

Metric objects live in the default registry, created once per process. Queue and worker
gauges are refreshed from Redis at scrape time (``assistant.dispatch.heartbeats``).

Encoder latency is measured in the worker (the task's ``elapsed_s``) and observed here, in the
API process that receives the result (``assistant_task_duration_seconds{task,queue,encoder}``):
workers need no metrics port, and a prefork pool needs no multiprocess registry.

Several API processes on one host (``uvicorn --workers N``): set ``PROMETHEUS_MULTIPROC_DIR``
to an empty folder before start; /metrics then sums the processes (``multiprocess_registry``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "assistant_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "assistant_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
TASK_DURATION = Histogram(
    "assistant_task_duration_seconds",
    "Time a worker spent on a task (reported by the worker)",
    ["task", "queue", "encoder"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
TASK_ROUNDTRIP = Histogram(
    "assistant_task_roundtrip_seconds",
    "From sending a task to receiving its result, seen by the API",
    ["task", "queue"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
TASK_BATCH = Histogram(
    "assistant_task_batch_items",
    "Items per task after micro-batching",
    ["task", "queue"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
TOOL_CALLS = Counter(
    "assistant_tool_calls_total",
    "Internal tools the model called (llm.tools), by outcome",
    ["tool", "outcome"],
)
TOOL_ROUNDS = Histogram(
    "assistant_tool_rounds",
    "Tool rounds before the model answered (llm.tools)",
    buckets=(0, 1, 2, 3, 4, 6, 8, 12),
)
UNSUPPORTED_ANSWERS = Counter(
    "assistant_answers_unsupported_total",
    "Grounded answers holding numbers or names that nothing the model was given holds",
    ["model"],
)
ENCODE_CACHE = Counter(
    "assistant_encode_cache_total", "Attachments answered from the encode cache", ["result"]
)
TASKS = Counter("assistant_tasks_total", "Tasks sent, by outcome", ["task", "queue", "outcome"])
# gauges read from Redis at scrape time: in multiprocess mode the latest scrape's value wins
_RECENT: Literal["mostrecent"] = "mostrecent"
QUEUE_DEPTH = Gauge(
    "assistant_queue_depth", "Messages waiting in a queue", ["queue"], multiprocess_mode=_RECENT
)
QUEUE_OLDEST = Gauge(
    "assistant_queue_oldest_message_age_seconds",
    "Age of the oldest waiting message (0 when empty)",
    ["queue"],
    multiprocess_mode=_RECENT,
)
UNACKED = Gauge(
    "assistant_unacked_messages",
    "Messages delivered to workers, not yet acknowledged",
    multiprocess_mode=_RECENT,
)
WORKER_HEARTBEAT = Gauge(
    "assistant_worker_heartbeat_age_seconds",
    "Seconds since a worker's last heartbeat",
    ["node"],
    multiprocess_mode=_RECENT,
)
WORKER_UP = Gauge(
    "assistant_worker_up",
    "1 per live worker node and queue it consumes",
    ["node", "queue"],
    multiprocess_mode=_RECENT,
)
JOBS = Counter("assistant_jobs_total", "Async jobs by kind and final state", ["kind", "state"])
LLM_TOKENS = Counter(
    "assistant_llm_tokens_total", "Tokens the chat model read and wrote", ["model", "kind"]
)  # kind: prompt | completion
LLM_REQUESTS = Counter(
    "assistant_llm_requests_total", "Chat model calls by outcome", ["model", "outcome"]
)
LLM_LOOPS_STOPPED = Counter(
    "assistant_llm_loops_stopped_total",
    "Local generations stopped because they repeated one phrase (llm.loop_stop_tokens)",
    ["model"],
)
LLM_WAITING = Gauge(
    "assistant_llm_waiting", "Calls waiting for the local model, by priority", ["priority"]
)
_LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
LLM_LATENCY = Histogram(
    "assistant_llm_duration_seconds", "Chat model call, start to last token", ["model"],
    buckets=_LLM_BUCKETS,
)  # fmt: skip
LLM_TTFT = Histogram(
    "assistant_llm_time_to_first_token_seconds", "Chat model call, start to first token (stream)",
    ["model"], buckets=_LLM_BUCKETS,
)  # fmt: skip


def observe_llm(
    model: str,
    started: float,
    first_token: float | None,
    prompt_tokens: int,
    completion_tokens: int,
    outcome: str = "ok",
) -> None:
    """Record one chat model call (``started``/``first_token``: perf_counter values)."""
    now = time.perf_counter()
    LLM_REQUESTS.labels(model, outcome).inc()
    if outcome != "ok":
        return
    LLM_LATENCY.labels(model).observe(now - started)
    if first_token is not None:
        LLM_TTFT.labels(model).observe(first_token - started)
    LLM_TOKENS.labels(model, "prompt").inc(max(0, prompt_tokens))
    LLM_TOKENS.labels(model, "completion").inc(max(0, completion_tokens))


def multiprocess_registry() -> Any:
    """A registry summing every process's metrics (``PROMETHEUS_MULTIPROC_DIR``), else None."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
