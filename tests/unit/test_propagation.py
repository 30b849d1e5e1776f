"""Request/job ids and trace context from the API to the workers (workers/context.py, tracing)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from assistant import logs, metrics, tracing
from assistant.config import TracingSettings
from assistant.dispatch import propagation

pytestmark = pytest.mark.unit


@pytest.fixture
def memory_tracing() -> Iterator[object]:
    assert tracing.setup_tracing(TracingSettings(enabled=True, exporter="memory"), "test")
    try:
        yield tracing.memory_exporter()
    finally:
        tracing.shutdown_tracing()


def test_ids_travel_in_headers_and_come_back_in_the_worker() -> None:
    rid, jid = logs.request_id.set("req-1"), logs.job_id.set("job-1")
    try:
        headers: dict[str, object] = {"assistant_enqueued_at": 1.0}
        propagation.stamp(headers)
        assert headers["assistant_request_id"] == "req-1"
        assert headers["assistant_job_id"] == "job-1"
        assert "traceparent" not in headers  # tracing is off
    finally:
        logs.request_id.reset(rid)
        logs.job_id.reset(jid)
    # the worker: Celery exposes custom message headers as task.request attributes
    request = SimpleNamespace(assistant_request_id="req-1", assistant_job_id="job-1")
    tokens = propagation.enter(request)
    assert (logs.request_id.get(), logs.job_id.get()) == ("req-1", "job-1")
    propagation.leave(tokens)
    assert (logs.request_id.get(), logs.job_id.get()) == (None, None)


def test_a_batch_names_every_request() -> None:
    merged = propagation.merge(
        [
            {"assistant_request_id": "a", "traceparent": "00-x"},
            {"assistant_request_id": "b"},
            {"assistant_request_id": "a", "assistant_job_id": "j"},
        ]
    )
    assert merged == {"assistant_request_id": "a,b", "assistant_job_id": "j", "traceparent": "00-x"}


def test_stamp_keeps_what_the_sender_set() -> None:
    token = logs.request_id.set("current")
    try:
        headers = {"assistant_request_id": "batched-a,batched-b"}
        propagation.stamp(headers)
        assert headers["assistant_request_id"] == "batched-a,batched-b"
    finally:
        logs.request_id.reset(token)


def test_the_worker_span_joins_the_api_trace(memory_tracing) -> None:
    with tracing.span("POST /v1/chat/completions", kind="SERVER"):
        with tracing.span("orchestrator.encode"):
            carrier = propagation.capture()
        with tracing.span("celery.publish assistant.encode", parent=carrier, kind="PRODUCER"):
            headers: dict[str, str] = {}
            tracing.inject(headers)
    assert headers["traceparent"].startswith("00-")
    # the worker, another process in production: only the headers cross
    handle = tracing.start_task_span("celery.run assistant.encode", headers)
    tracing.end_task_span(handle, "SUCCESS")
    spans = {s.name: s for s in memory_tracing.get_finished_spans()}
    api, publish = spans["POST /v1/chat/completions"], spans["celery.publish assistant.encode"]
    worker = spans["celery.run assistant.encode"]
    assert worker.context.trace_id == api.context.trace_id
    assert worker.parent.span_id == publish.context.span_id
    assert publish.parent.span_id == spans["orchestrator.encode"].context.span_id
    assert worker.attributes["celery.state"] == "SUCCESS"


def test_tracing_off_is_a_no_op() -> None:
    assert not tracing.enabled()
    with tracing.span("nothing") as current:
        assert current is None
    assert tracing.start_task_span("x", {}) is None


def test_llm_metrics() -> None:
    def value(name: str, **labels: str) -> float:
        from prometheus_client import REGISTRY

        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("assistant_llm_tokens_total", model="m-test", kind="completion")
    metrics.observe_llm("m-test", 0.0, 0.5, prompt_tokens=40, completion_tokens=7)
    metrics.observe_llm("m-test", 0.0, None, 0, 0, outcome="error")
    assert value("assistant_llm_tokens_total", model="m-test", kind="completion") == before + 7
    assert value("assistant_llm_time_to_first_token_seconds_count", model="m-test") >= 1
    assert value("assistant_llm_requests_total", model="m-test", outcome="error") >= 1
