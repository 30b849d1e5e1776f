"""Request body limits as pure ASGI middleware (chunked bodies too): its size, and how long
it may pause between two chunks (a body trickled slowly holds a connection and a task)."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api.errors import error_body


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(BodyTooLarge):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, idle_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        seen = 0
        exceeded: BodyTooLarge | None = None
        body_done = False
        replaced = False
        started = False  # the app answered before the limit was passed: leave its answer

        async def limited_receive() -> Message:
            nonlocal seen, exceeded, body_done
            if body_done:  # afterwards the app waits for a disconnect: no deadline for that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                exceeded = BodyTooSlow()
                raise exceeded from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > self.max_bytes:
                    exceeded = BodyTooLarge()
                    raise exceeded
            return message

        async def tracking_send(message: Message) -> None:
            # a body parser may catch BodyTooLarge and answer with its own 400 ("There was an
            # error parsing the body"): once the limit was passed, the answer is our 413
            nonlocal replaced, started
            if exceeded and not started:
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await self._reject(send, exceeded)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if not replaced and not started:
                replaced = True
                await self._reject(send, exc)

    async def _reject(self, send: Send, why: BodyTooLarge | None = None) -> None:
        if isinstance(why, BodyTooSlow):
            status, code = 408, "request_timeout"
            message = f"the request body paused for more than {self.idle_timeout_s:g} s"
        else:
            status, code = 413, "payload_too_large"
            message = f"the request body is larger than the limit of {self.max_bytes} bytes"
        body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
