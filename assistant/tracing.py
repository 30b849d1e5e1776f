"""Optional OpenTelemetry tracing (``ASSISTANT_TRACING__ENABLED=true``).

Spans: the API request (``TracingMiddleware``) → orchestrator steps (``span()``) → Celery
publish (``assistant/dispatch/celery_client.py``) → the worker task (``workers/startup.py``,
task_prerun / task_postrun). The W3C ``traceparent`` travels in the Celery task headers (``inject`` /
``extract``), so a worker span has the trace id of the request that caused it.

The provider is this module's own, never the global one: chromadb instruments itself with the
global OpenTelemetry API, and its spans should not land in the assistant's exporter.
When tracing is off every helper here is a cheap no-op.

Exporters: ``otlp`` (OTLP/gRPC to ``tracing.endpoint``; the exporter package comes with the
``tracing`` extra), ``console`` (stderr), ``file`` (JSON lines, one file per process under
``tracing.path``), ``memory`` (tests: ``memory_exporter()``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.trace import Span, Tracer

    from assistant.config import TracingSettings

_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_memory: Any = None
_lock = threading.Lock()


class JsonLinesExporter:
    """Appends finished spans as JSON lines to ``{folder}/spans-{pid}.jsonl``."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder or ".")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = []
        for span in spans:
            ctx = span.get_span_context()
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": f"{ctx.trace_id:032x}" if ctx else "",
                        "span_id": f"{ctx.span_id:016x}" if ctx else "",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "kind": span.kind.name,
                        "start": span.start_time,
                        "end": span.end_time,
                        "attributes": {k: str(v) for k, v in (span.attributes or {}).items()},
                        "service": str(span.resource.attributes.get("service.name", "")),
                        "pid": os.getpid(),
                    }
                )
            )
        with self._lock, (self.folder / f"spans-{os.getpid()}.jsonl").open("a") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: ARG002 - OpenTelemetry's exporter interface
        return True


def setup_tracing(settings: TracingSettings, service: str = "api") -> bool:
    """Build this process's tracer (once; again after a fork). False when tracing is off."""
    global _provider, _tracer, _memory
    if not settings.enabled:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    with _lock:
        resource = Resource.create(
            {"service.name": f"{settings.service_name}-{service}", "process.pid": os.getpid()}
        )
        provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio))
        )
        exporter: SpanExporter
        if settings.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.endpoint)
            provider.add_span_processor(BatchSpanProcessor(exporter))
        else:
            if settings.exporter == "console":
                exporter = ConsoleSpanExporter()
            elif settings.exporter == "file":
                exporter = JsonLinesExporter(settings.path)  # type: ignore[assignment]
            else:
                from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                    InMemorySpanExporter,
                )

                exporter = _memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        _provider = provider
        _tracer = provider.get_tracer("assistant")
    return True


def shutdown_tracing() -> None:
    global _provider, _tracer
    with _lock:
        provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        with contextlib.suppress(Exception):
            provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


def memory_exporter() -> Any:
    """The in-memory exporter of ``exporter="memory"`` (tests), else None."""
    return _memory


@contextlib.contextmanager
def span(
    name: str,
    attributes: dict[str, Any] | None = None,
    parent: MutableMapping[str, str] | None = None,
    kind: str = "INTERNAL",
) -> Iterator[Span | None]:
    """A current span (child of ``parent``'s traceparent if given, else of the current one)."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    context = extract(parent) if parent is not None else None
    with _tracer.start_as_current_span(
        name, context=context, kind=SpanKind[kind], attributes=attributes
    ) as current:
        yield current


def inject(carrier: MutableMapping[str, str]) -> None:
    """Write the current span's ``traceparent`` (and ``tracestate``) into ``carrier``."""
    if _tracer is None:
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(carrier)


def extract(carrier: MutableMapping[str, str] | None) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(
        {k: str(v) for k, v in (carrier or {}).items() if isinstance(v, str | bytes)}
    )


def start_task_span(name: str, headers: MutableMapping[str, Any], **attrs: Any) -> Any:
    """Worker side: start a CONSUMER span from a task's headers and make it current.

    Returns an opaque handle for ``end_task_span`` (None when tracing is off)."""
    if _tracer is None:
        return None
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    current = _tracer.start_span(
        name, context=extract(headers), kind=SpanKind.CONSUMER, attributes=attrs
    )
    token = otel_context.attach(trace.set_span_in_context(current))
    return current, token


def end_task_span(handle: Any, state: str | None = None) -> None:
    if handle is None:
        return
    from opentelemetry import context as otel_context

    current, token = handle
    if state:
        current.set_attribute("celery.state", state)
    current.end()
    with contextlib.suppress(Exception):
        otel_context.detach(token)


class TracingMiddleware:
    """Pure ASGI middleware: one SERVER span per HTTP request, named after the route template.

    A client's own ``traceparent`` header is honoured (the span becomes its child)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _tracer is None:
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers") or []
            if k in (b"traceparent", b"tracestate")
        }
        method = scope.get("method", "GET")
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        with span(f"{method} {scope.get('path', '')}", parent=headers, kind="SERVER") as current:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                if current is not None:
                    route = getattr(scope.get("route"), "path", None)
                    if route:
                        current.update_name(f"{method} {route}")
                        current.set_attribute("http.route", route)
                    current.set_attribute("http.request.method", method)
                    current.set_attribute("http.response.status_code", status["code"])
