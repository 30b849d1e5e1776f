"""What the Slack and Discord adapters share: the one orchestrator call, safe downloads,
message splitting, citation formatting and a small TTL set for dropping retries.

The adapters stay thin: a platform event becomes ``ChatInput`` (history from the conversation
the thread maps onto, plus the new turn and its attachments), ``orchestrator.answer`` runs, and
both turns are appended to the conversation. Nothing else happens here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import select

from assistant.errors import AssistantError, PayloadTooLarge, UnprocessableMedia
from assistant.media import format_bytes
from assistant.orchestrator import Answer, Citation, Finding
from assistant.orchestrator.media import timestamp
from assistant.plugins.contract import MediaItem
from assistant.services import Services
from assistant.store.models import Conversation

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3


class DownloadRefused(AssistantError):
    """A file URL the bot will not fetch (wrong host or scheme): the token never leaves."""

    status, type, code = 400, "invalid_request_error", "download_refused"


# --- retries -------------------------------------------------------------------------------


class TTLSet:
    """Remembers keys for ``ttl_s`` seconds (in memory, bounded). ``add`` is test-and-set."""

    def __init__(self, ttl_s: float = 3600.0, max_items: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: OrderedDict[str, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._items:
            key, expires = next(iter(self._items.items()))
            if expires > now and len(self._items) <= self.max_items:
                break
            del self._items[key]

    def add(self, key: str) -> bool:
        """True if the key is new (and remembers it), False if it was seen within the TTL."""
        now = time.monotonic()
        self._expire(now)
        if key in self._items:
            return False
        self._items[key] = now + self.ttl_s
        return True

    def __contains__(self, key: object) -> bool:
        self._expire(time.monotonic())
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


# --- text ------------------------------------------------------------------------------------


_FENCE = "```"


def split_message(text: str, limit: int = 2000) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters.

    Cuts at the last paragraph break that fits, else the last line break, else the last space,
    and only cuts inside a word when a single word is longer than a piece. Whitespace at a cut
    is dropped. A code block cut in two is closed at the end of one piece and reopened at the
    start of the next, so both render.
    """
    if limit < 40:
        raise ValueError("limit must be at least 40 characters")
    rest = text.strip()
    if not rest:
        return []
    fenced = _FENCE in rest
    budget = limit - 2 * (len(_FENCE) + 1) if fenced else limit  # room to close and reopen
    parts: list[str] = []
    reopen = False
    while rest:
        if reopen:
            rest = f"{_FENCE}\n{rest}"
        if len(rest) <= limit:
            piece, rest = rest, ""
        else:
            window = rest[: budget + 1]
            cut = -1
            for sep in ("\n\n", "\n", " "):
                i = window.rfind(sep)
                if i > budget // 4:  # a separator too early would leave a tiny piece
                    cut = i
                    break
            if cut == -1:
                cut = budget
            piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        reopen = fenced and piece.count(_FENCE) % 2 == 1
        if reopen and rest:
            piece = f"{piece}\n{_FENCE}"
        if piece.strip() and piece.strip() != _FENCE:
            parts.append(piece)
    return parts


def citation_label(c: Citation) -> str:
    label = c.source.rsplit("/", 1)[-1] or c.source or "source"
    if c.start is not None:
        label += f" {timestamp(c.start)}"
        if c.end is not None and c.end != c.start:
            label += f"-{timestamp(c.end)}"
    if c.page is not None:
        label += f", p. {c.page}"
    return label


def format_sources(citations: Sequence[Citation], *, bold: str = "*") -> str:
    """``*Sources:* [1] eiffel.md · [2] clip.mp4 01:12``; empty when there are none.

    ``bold`` is the platform's bold marker (``*`` for Slack mrkdwn, ``**`` for Discord).
    """
    if not citations:
        return ""
    seen: set[tuple[int, str]] = set()
    items = []
    for c in citations:
        label = citation_label(c)
        if (c.index, label) in seen:
            continue
        seen.add((c.index, label))
        items.append(f"[{c.index}] {label}")
    return f"{bold}Sources:{bold} " + " · ".join(items)


def user_error(exc: BaseException) -> str:
    """A message a person can act on; internals stay in the server log."""
    if isinstance(exc, AssistantError):
        return exc.message
    return "something went wrong on the assistant's side (the details are in the server log)"


_MENTION = re.compile(r"<@[!&]?[A-Z0-9]+>", re.IGNORECASE)


def strip_mentions(text: str) -> str:
    return re.sub(r"\s{2,}", " ", _MENTION.sub("", text or "")).strip()


# --- downloads -------------------------------------------------------------------------------


def check_url(url: str, allowed_hosts: Iterable[str], *, allow_http: bool = False) -> None:
    """Refuse any URL that is not https (or http when allowed) on an allowed host[:port]."""
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in schemes:
        raise DownloadRefused(f"refusing to download from a {parts.scheme or 'relative'} URL")
    if parts.username or parts.password or not parts.hostname:
        raise DownloadRefused("refusing to download from a URL with credentials or no host")
    host = parts.hostname.lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    allowed = {h.lower() for h in allowed_hosts}
    if host not in allowed and netloc not in allowed:
        raise DownloadRefused(f"refusing to download from {host}: not an allowed file host")


def safe_filename(name: str | None, fallback: str = "file") -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    base = re.sub(r"[^\w.\- ]+", "_", base)[:120]
    return base or fallback


async def download(
    url: str,
    dest: Path,
    *,
    allowed_hosts: Iterable[str],
    max_bytes: int,
    headers: dict[str, str] | None = None,
    allow_http: bool = False,
    timeout_s: float = 30.0,
) -> str | None:
    """Stream ``url`` to ``dest`` (at most ``max_bytes``); return the response's content type.

    Redirects are followed by hand, and each hop must pass ``check_url`` again, so headers
    (a bearer token) are only ever sent to allowed hosts.
    """
    hosts = list(allowed_hosts)
    name = dest.name
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, hosts, allow_http=allow_http)
            async with client.stream("GET", url, headers=headers or {}) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise UnprocessableMedia(
                        f"{name} could not be downloaded (HTTP {response.status_code})"
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise PayloadTooLarge(_too_large(name, max_bytes))
                size = 0
                with dest.open("wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 16):
                        size += len(chunk)
                        if size > max_bytes:
                            raise PayloadTooLarge(_too_large(name, max_bytes))
                        fh.write(chunk)
                content_type: str | None = response.headers.get("content-type")
                return content_type
    raise DownloadRefused(f"{name}: too many redirects")


def _too_large(name: str, max_bytes: int) -> str:
    return f"{name} is larger than the bots' limit of {format_bytes(max_bytes)}"


@dataclass
class Downloaded:
    """A file fetched from the platform into the bots' temp folder, not yet checked."""

    path: Path
    name: str
    declared: str | None = None


@dataclass
class Incoming:
    """Attachments for one message: staged MediaItems, and Findings saying why others failed."""

    items: list[MediaItem] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)


# --- the orchestrator call -------------------------------------------------------------------


class BotBridge:
    """Maps a platform thread onto a conversation and asks the orchestrator, like the API."""

    def __init__(self, services: Services, temp_root: Path | None = None) -> None:
        self.services = services
        self.temp_root = temp_root or services.settings.storage.data_dir / "bots"

    def temp_dir(self) -> Path:
        self.temp_root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="in-", dir=self.temp_root))

    @staticmethod
    def cleanup(folder: Path | None) -> None:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    async def find_conversation(self, tenant: str, external_key: str) -> Conversation | None:
        """The conversation a thread maps onto, without creating one."""

        def find() -> Conversation | None:
            with self.services.db.session() as s:
                return s.scalars(
                    select(Conversation).where(
                        Conversation.tenant == tenant, Conversation.external_key == external_key
                    )
                ).first()

        return await asyncio.to_thread(find)

    async def stage(
        self, tenant: str, files: Sequence[Downloaded], notes: Sequence[Finding] = ()
    ) -> Incoming:
        """Check and store downloads exactly as the chat API does with uploads (real type from
        the bytes, an encoder for it, limits, the blob store); a file that fails becomes a note."""
        incoming = Incoming(notes=list(notes))
        for f in files:
            try:
                data = await asyncio.to_thread(f.path.read_bytes)
                item = await self.services.attachments.stage(tenant, data, f.declared, f.name)
            except AssistantError as exc:
                log.info("bots: %s is not usable: %s", f.name, exc.message)
                incoming.notes.append(Finding(f.name, f.declared or "", error=exc.message))
            else:
                incoming.items.append(item)
        return incoming

    async def answer(
        self,
        tenant: str,
        external_key: str,
        text: str,
        *,
        title: str = "",
        incoming: Incoming | None = None,
    ) -> Answer:
        chat_service = self.services.chat
        incoming = incoming or Incoming()
        conv = await asyncio.to_thread(
            self.services.db.conversation_for_key, tenant, external_key, title[:200]
        )
        question = text.strip() or _default_question(incoming)
        chat = await chat_service.input_for_thread(
            tenant, conv.id, question, incoming.items, incoming.notes
        )
        answer = await chat_service.answer(chat)
        names = [i.display_name for i in incoming.items] + [n.name for n in incoming.notes]
        await chat_service.record(tenant, conv.id, question, names, answer)
        return answer


def _default_question(incoming: Incoming) -> str:
    if incoming.items or incoming.notes:
        return "What is in the attached file(s)? Summarise them."
    return "Hello"
