import json
import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.logs import JsonFormatter, RequestIdMiddleware, request_id


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/rid")
    async def rid() -> dict[str, str | None]:
        return {"rid": request_id.get()}

    app.add_middleware(RequestIdMiddleware)
    return app


def test_request_id_is_echoed_and_visible_inside_the_request() -> None:
    client = TestClient(_app())
    r = client.get("/rid", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123" and r.json() == {"rid": "abc-123"}
    generated = client.get("/rid")
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["rid"] == generated.headers["x-request-id"]


def test_hostile_request_ids_are_replaced() -> None:
    r = TestClient(_app()).get("/rid", headers={"X-Request-ID": "a; rm -rf /" + "x" * 100})
    assert r.headers["x-request-id"] != "a; rm -rf /" and r.headers["x-request-id"].isalnum()


def test_json_formatter_carries_ids_and_extras() -> None:
    token = request_id.set("rid-1")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.status = 200
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert entry["msg"] == "hello world" and entry["request_id"] == "rid-1"
    assert entry["status"] == 200 and entry["level"] == "INFO"
