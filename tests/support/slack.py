"""A local fake of the Slack Web API (and of files.slack.com) that speaks its wire format, and
correctly signed Events API requests (HMAC of the signing secret), for the Slack adapter tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from assistant.bots.slack import SlackBot
from assistant.services import Services
from tests.support.bots import EIFFEL_MD

BOT_TOKEN = "xoxb-test-0000-secret"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM, CHANNEL, USER, BOT_USER = "T0TEAM", "C0CHAN", "U0USER", "U0BOT"


@dataclass
class FakeSlack:
    """Records every Web API call, file download and response_url post."""

    png: bytes
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    downloads: list[tuple[str, str]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def named(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [args for name, args, _ in self.calls if name == method]

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.api_route("/api/{method}", methods=["GET", "POST"])
        async def web_api(method: str, request: Request) -> JSONResponse:
            raw = await request.body()
            args: dict[str, Any] = dict(request.query_params)
            if request.headers.get("content-type", "").startswith("application/json"):
                args.update(json.loads(raw or b"{}"))
            elif raw:
                args.update((await request.form()).items())
            with self.lock:
                self.calls.append((method, args, request.headers.get("authorization", "")))
            replies: dict[str, dict[str, Any]] = {
                "auth.test": {
                    "url": "https://test.slack.com/",
                    "team": "Test",
                    "user": "assistant",
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "bot_id": "B0BOT",
                },
                "chat.postMessage": {"channel": args.get("channel"), "ts": f"{time.time():.6f}"},
                "conversations.history": {
                    "messages": [
                        {"type": "message", "ts": "1.0", "text": "hi"},
                        {
                            "type": "message",
                            "ts": "0.9",
                            "files": [self.file("notes.md", "text/markdown", 60)],
                        },
                    ]
                },
            }
            return JSONResponse({"ok": True, **replies.get(method, {})})

        @api.get("/files-pri/redirect/download/{name}")
        async def redirect_away(name: str) -> Response:  # noqa: ARG001 - the faked API's signature
            return RedirectResponse("http://evil.invalid/steal", status_code=302)

        @api.get("/files-pri/{team_file}/download/{name}")
        async def file_download(team_file: str, name: str, request: Request) -> Response:  # noqa: ARG001 - the faked API's signature
            with self.lock:
                self.downloads.append((name, request.headers.get("authorization", "")))
            if name.endswith(".md"):
                return Response(
                    EIFFEL_MD.replace("Eiffel", "Gustave").encode(), media_type="text/markdown"
                )
            return Response(self.png, media_type="image/png")

        @api.post("/respond/{rid}")
        async def respond(rid: str, request: Request) -> JSONResponse:  # noqa: ARG001 - the faked API's signature
            with self.lock:
                self.responses.append(json.loads(await request.body()))
            return JSONResponse({"ok": True})

        return api

    def file(self, name: str, mimetype: str, size: int, fid: str = "F0FILE") -> dict[str, Any]:
        base = f"{self.url}/files-pri/{TEAM}-{fid}"
        return {
            "id": fid,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": size,
            "mode": "hosted",
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
        }


@dataclass
class Env:
    fake: FakeSlack
    base: str
    services: Services
    bot: SlackBot


def signed(body: bytes, *, ts: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    base = f"v0:{ts}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature}


def event_body(event: dict[str, Any], event_id: str) -> bytes:
    payload = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "event": {"event_ts": event["ts"], "team": TEAM, **event},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER, "is_bot": True}
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(payload).encode()


def post_event(env: Env, body: bytes, **headers: str) -> httpx.Response:
    all_headers = {"Content-Type": "application/json", **signed(body), **headers}
    return httpx.post(f"{env.base}/slack/events", content=body, headers=all_headers, timeout=10)


def replies_in(env: Env, thread_ts: str) -> list[dict[str, Any]]:
    return [m for m in env.fake.named("chat.postMessage") if m.get("thread_ts") == thread_ts]
