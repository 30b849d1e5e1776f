"""The Slack adapter (slack_bolt, async): mentions, DMs, thread follow-ups, files, /assistant.

Events are acknowledged at once (``process_before_response=False``: bolt answers Slack's HTTP
request before the listener runs) and answered in the background. Every reply goes into the
thread of the message (``thread_ts`` = the event's ``thread_ts`` or ``ts``); one thread is one
conversation (``slack:{team}:{channel}:{thread_ts}``). Slack re-sends an event it thinks was
not acknowledged; those retries are dropped by event id and by message id (an in-memory TTL
set: a retry that reaches a *different* process, or arrives after a restart, is not caught).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from assistant.bots.common import (
    BotBridge,
    Downloaded,
    Incoming,
    TTLSet,
    download,
    format_sources,
    safe_filename,
    split_message,
    strip_mentions,
    user_error,
)
from assistant.bots.settings import SlackBotSettings
from assistant.errors import AssistantError, PayloadTooLarge
from assistant.orchestrator import Answer, Finding
from assistant.services import Services

log = logging.getLogger(__name__)

SLACK_TEXT_LIMIT = 3900  # Slack truncates at 40k; long single messages read badly anyway
_SKIPPED_SUBTYPES = {
    "bot_message",
    "message_changed",
    "message_deleted",
    "message_replied",
    "channel_join",
    "channel_leave",
    "thread_broadcast",
}


def to_mrkdwn(text: str) -> str:
    """The little Markdown that differs in Slack: ``**bold**`` → ``*bold*``, ``[t](u)`` → ``<u|t>``."""
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return re.sub(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)


def render_answer(answer: Answer) -> str:
    body = to_mrkdwn(answer.text.strip()) or "_(no answer)_"
    sources = format_sources(answer.citations, bold="*")
    return f"{body}\n\n{sources}" if sources else body


class SlackBot:
    """One bolt ``AsyncApp`` wired to the orchestrator; ``handler`` serves POST /slack/events."""

    def __init__(self, services: Services, settings: SlackBotSettings | None = None) -> None:
        self.services = services
        self.settings = settings or SlackBotSettings()
        self.bridge = BotBridge(services)
        self.seen = TTLSet(self.settings.dedupe_ttl_s)
        token = self.settings.bot_token.get_secret_value()
        client = AsyncWebClient(token=token or None, base_url=self.settings.api_base_url)
        self.app = AsyncApp(
            name="assistant",
            client=client,
            signing_secret=self.settings.signing_secret.get_secret_value(),
            process_before_response=False,
            logger=logging.getLogger("assistant.bots.slack.bolt"),
        )
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command("/assistant")(self._on_command)
        self.handler = AsyncSlackRequestHandler(self.app)

    # --- routing --------------------------------------------------------------------------

    def tenant_for(self, team: str | None) -> str:
        s = self.settings
        return s.team_tenants.get(team or "") or s.tenant or self.services.settings.default_tenant

    def _first_time(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        """False for a retried or duplicate delivery (same event id or same message)."""
        event_id = body.get("event_id")
        if event_id and not self.seen.add(f"event:{event_id}"):
            log.info("slack: dropping a repeated delivery of %s", event_id)
            return False
        message_key = f"msg:{event.get('channel')}:{event.get('ts')}"
        if not self.seen.add(message_key):
            log.info("slack: message %s is already being answered", message_key)
            return False
        return True

    async def _on_mention(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if self._first_time(body, event):
            await self._answer_event(body, event, client)

    async def _on_message(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: Any
    ) -> None:
        if event.get("bot_id") or event.get("subtype") in _SKIPPED_SUBTYPES:
            return
        if event.get("subtype") not in (None, "file_share"):
            return
        text = event.get("text") or ""
        bot_user = getattr(context, "bot_user_id", None)
        if event.get("channel_type") != "im":
            if bot_user and f"<@{bot_user}>" in text:
                return  # the app_mention event answers this one
            thread_ts = event.get("thread_ts")
            if not thread_ts:
                return
            team = self._team(body, event)
            key = self.thread_key(team, event["channel"], thread_ts)
            if await self.bridge.find_conversation(self.tenant_for(team), key) is None:
                return  # a thread the assistant is not part of
        if self._first_time(body, event):
            await self._answer_event(body, event, client)

    @staticmethod
    def _team(body: dict[str, Any], event: dict[str, Any]) -> str:
        return str(body.get("team_id") or event.get("team") or "")

    @staticmethod
    def thread_key(team: str, channel: str, thread_ts: str) -> str:
        return f"slack:{team}:{channel}:{thread_ts}"

    # --- answering ------------------------------------------------------------------------

    async def _answer_event(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
    ) -> None:
        team = self._team(body, event)
        channel, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts") or ts
        text = strip_mentions(event.get("text") or "")
        await self._with_indicator(
            client,
            channel,
            ts,
            thread_ts,
            lambda: self._ask(team, channel, thread_ts, text, event.get("files") or [], client),
        )

    async def _ask(
        self,
        team: str,
        channel: str,
        thread_ts: str,
        text: str,
        files: list[dict[str, Any]],
        client: AsyncWebClient,
    ) -> str:
        tenant = self.tenant_for(team)
        folder = self.bridge.temp_dir() if files else None
        try:
            incoming = Incoming()
            if folder is not None:
                downloaded, notes = await self.fetch_files(files, folder, client)
                incoming = await self.bridge.stage(tenant, downloaded, notes)
            answer = await self.bridge.answer(
                tenant,
                self.thread_key(team, channel, thread_ts),
                text,
                title=text[:80],
                incoming=incoming,
            )
            return render_answer(answer)
        finally:
            self.bridge.cleanup(folder)

    async def _with_indicator(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        thread_ts: str,
        work: Callable[[], Awaitable[str]],
    ) -> None:
        reaction = self.settings.working_reaction
        reacted = False
        if reaction:
            try:
                await client.reactions_add(channel=channel, timestamp=ts, name=reaction)
                reacted = True
            except SlackApiError as exc:
                log.warning("slack: could not add a reaction: %s", exc.response.get("error"))
        try:
            try:
                reply = await work()
            except Exception as exc:
                if not isinstance(exc, AssistantError):
                    log.exception("slack: answering in %s failed", channel)
                else:
                    log.warning("slack: answering in %s failed: %s", channel, exc.message)
                reply = f":warning: Sorry, I could not answer that: {user_error(exc)}"
            await self.post(client, channel, thread_ts, reply)
        finally:
            if reacted:
                try:
                    await client.reactions_remove(channel=channel, timestamp=ts, name=reaction)
                except SlackApiError as exc:
                    log.warning("slack: could not remove a reaction: %s", exc.response.get("error"))

    async def post(self, client: AsyncWebClient, channel: str, thread_ts: str, text: str) -> None:
        for piece in split_message(text, SLACK_TEXT_LIMIT):
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=piece, unfurl_links=False
                )
            except SlackApiError as exc:
                log.error("slack: posting to %s failed: %s", channel, exc.response.get("error"))
                return

    # --- files ----------------------------------------------------------------------------

    async def fetch_files(
        self, files: list[dict[str, Any]], folder: Path, client: AsyncWebClient
    ) -> tuple[list[Downloaded], list[Finding]]:
        """Download each file with the bot token, from the allowed file hosts only."""
        downloaded: list[Downloaded] = []
        notes: list[Finding] = []
        s = self.settings
        for i, f in enumerate(files):
            name = safe_filename(f.get("name") or f.get("title"), f"file-{i + 1}")
            declared = f.get("mimetype")
            if i >= s.max_files:
                notes.append(Finding(name, declared or "", error="too many files in one message"))
                continue
            try:
                url = await self._download_url(f, client)
                if int(f.get("size") or 0) > s.max_file_bytes:
                    raise PayloadTooLarge(f"{name} is larger than the bot's file limit")
                path = folder / f"{i:02d}-{name}"
                served = await download(
                    url,
                    path,
                    allowed_hosts=s.file_hosts,
                    max_bytes=s.max_file_bytes,
                    headers={"Authorization": f"Bearer {s.bot_token.get_secret_value()}"},
                    allow_http=s.allow_insecure_http,
                    timeout_s=s.download_timeout_s,
                )
                if (served or "").startswith("text/html") and declared != "text/html":
                    raise AssistantError(
                        f"Slack sent a web page instead of {name}; "
                        "does the app have the files:read scope?"
                    )
                downloaded.append(Downloaded(path, name, declared))
            except AssistantError as exc:
                log.warning("slack: skipping file %s: %s", name, exc.message)
                notes.append(Finding(name, declared or "", error=exc.message))
            except Exception as exc:
                log.warning("slack: skipping file %s: %s", name, type(exc).__name__)
                notes.append(Finding(name, declared or "", error="it could not be downloaded"))
        return downloaded, notes

    async def _download_url(self, f: dict[str, Any], client: AsyncWebClient) -> str:
        url = f.get("url_private_download") or f.get("url_private")
        if not url and f.get("id"):  # e.g. file_access: check_file_info (Slack Connect)
            info = await client.files_info(file=f["id"])
            data = info.get("file") or {}
            url = data.get("url_private_download") or data.get("url_private")
        if not url:
            raise AssistantError("the file has no download URL (an external or deleted file?)")
        return str(url)

    # --- /assistant -----------------------------------------------------------------------

    async def _on_command(
        self, ack: Any, command: dict[str, Any], client: AsyncWebClient, respond: Any
    ) -> None:
        text = (command.get("text") or "").strip()
        if not text:
            await ack("Usage: `/assistant <question>` or `/assistant ingest [file name]`")
            return
        await ack("Working on it…")
        team, channel = str(command.get("team_id") or ""), str(command.get("channel_id") or "")
        user = str(command.get("user_id") or "")
        try:
            if text.lower().split(maxsplit=1)[0] == "ingest":
                reply = await self.ingest_from_channel(team, channel, text[6:].strip(), client)
                await respond(text=reply, response_type="ephemeral")
                return
            answer = await self.bridge.answer(
                self.tenant_for(team),
                f"slack:{team}:{channel}:command:{user}",
                text,
                title=text[:80],
            )
            quoted = "\n".join(f"> {line}" for line in text.splitlines())
            await respond(text=f"{quoted}\n{render_answer(answer)}", response_type="in_channel")
        except Exception as exc:
            if not isinstance(exc, AssistantError):
                log.exception("slack: /assistant failed")
            await respond(text=f":warning: {user_error(exc)}", response_type="ephemeral")

    async def ingest_from_channel(
        self, team: str, channel: str, wanted: str, client: AsyncWebClient
    ) -> str:
        """Best effort: ingest the files of the latest channel message that has any (or the
        file named ``wanted``) into the tenant's knowledge base."""
        history = await client.conversations_history(channel=channel, limit=50)
        files: list[dict[str, Any]] = []
        for message in history.get("messages") or []:
            candidates = message.get("files") or []
            if wanted:
                candidates = [f for f in candidates if f.get("name") == wanted]
            if candidates:
                files = candidates
                break
        if not files:
            what = f"a file named {wanted}" if wanted else "a message with files"
            return f"I could not find {what} in the last 50 messages of this channel."
        tenant = self.tenant_for(team)
        folder = self.bridge.temp_dir()
        try:
            downloaded, notes = await self.fetch_files(files, folder, client)
            lines = [await self._ingest_one(tenant, d) for d in downloaded]
        finally:
            self.bridge.cleanup(folder)
        return "\n".join(lines + [f"✗ {n.name}: {n.error}" for n in notes])

    async def _ingest_one(self, tenant: str, d: Downloaded) -> str:
        """The same path as POST /v1/documents: documents are chunked, media are encoded."""
        try:
            data = await asyncio.to_thread(d.path.read_bytes)
            result = await self.services.ingest.ingest(tenant, d.name, data, d.declared)
        except AssistantError as exc:
            return f"✗ {d.name}: {exc.message}"
        return f"✓ {d.name}: {result.chunks} chunks ({result.document_id})"


async def run_socket_mode(services: Services, settings: SlackBotSettings) -> None:
    """Connect over Socket Mode (no public URL needed): ``assistant slack --socket``."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    if not settings.app_token.get_secret_value():
        raise AssistantError("Socket Mode needs ASSISTANT_SLACK_APP_TOKEN (an xapp- token)")
    bot = SlackBot(services, settings)
    handler = AsyncSocketModeHandler(bot.app, settings.app_token.get_secret_value())
    await handler.start_async()  # type: ignore[no-untyped-call]
