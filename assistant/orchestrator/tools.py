"""The encoders as tools a capable model may call (``llm.tools``): look again, read, listen,
search once more. Each call runs through the same dispatch (workers and queues) as the first
pass; what it finds gets new citation numbers, so the answer can cite it.

A call never fails the request: a bad argument or an encoder error is the tool's result, for
the model to read. The client's own tools are not these: a name the client uses is not
offered here, and calls of the client's tools go back to the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant import metrics, tracing
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import AssistantError, ServiceUnavailable
from assistant.media import media_kind
from assistant.orchestrator.media import timestamp
from assistant.orchestrator.prompt import SNIPPET_CHARS, fence, hit_citation, source_block
from assistant.orchestrator.types import Citation
from assistant.plugins.contract import Encoding, MediaItem, Segment
from assistant.retrieval.store import Hit

MAX_TOP_K = 10
LOOK_CLOSER_FPS = 4.0
LOOK_CLOSER_FRAMES = 16


def _function(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_ATTACHMENT = {"type": "integer", "minimum": 1, "description": "the attachment's number"}
_SECONDS = {"type": "number", "minimum": 0}
SPECS: dict[str, dict[str, Any]] = {
    "search_knowledge": _function(
        "search_knowledge",
        "Search the user's knowledge base (documents, images, recordings, videos) again.",
        {
            "query": {"type": "string"},
            "modalities": {
                "type": "array",
                "items": {"enum": ["text", "image", "audio", "video"]},
            },
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
        },
        ["query"],
    ),
    "look_closer": _function(
        "look_closer",
        "Look at more frames of a span of an attached video.",
        {"attachment": _ATTACHMENT, "start_s": _SECONDS, "end_s": _SECONDS},
        ["attachment", "start_s", "end_s"],
    ),
    "read_text": _function(
        "read_text",
        "Read all the text in an attached image or video, at full resolution.",
        {"attachment": _ATTACHMENT},
        ["attachment"],
    ),
    "transcribe": _function(
        "transcribe",
        "Transcribe the speech of an attached recording or video, or of one span of it.",
        {"attachment": _ATTACHMENT, "start_s": _SECONDS, "end_s": _SECONDS},
        ["attachment"],
    ),
}
# which attachments each tool works on (search needs none)
NEEDS = {
    "look_closer": {"video"},
    "read_text": {"image", "video"},
    "transcribe": {"audio", "video"},
}


@dataclass
class ToolState:
    """One request's view for its tools: the numbered attachments and the citations so far."""

    tenant: str
    attachments: dict[int, MediaItem]
    citations: list[Citation]

    def cite(self, item: MediaItem, snippet: str, **fields: Any) -> Citation:
        """A new citation of what a tool found in ``item``."""
        citation = Citation(
            index=len(self.citations) + 1,
            kind="attachment",
            source=item.display_name,
            snippet=snippet[:SNIPPET_CHARS],
            **fields,
        )
        self.citations.append(citation)
        return citation

    def cite_span(
        self,
        item: MediaItem,
        found: list[Segment],
        start_s: float,
        end_s: float | None,
        snippet: str,
    ) -> Citation:
        """A citation of a span: the times of what was found in it, else the span asked for."""
        start = found[0].start if found else start_s
        end = found[-1].end if found else end_s
        return self.cite(item, snippet, start=start, end=end)


# the orchestrator's retrieval: (tenant, query, k, where) -> the hits near enough to cite
Retrieve = Callable[[str, str, int, dict[str, Any] | None], list[Hit]]


class InternalTools:
    def __init__(self, retrieve: Retrieve, dispatch: EncodeDispatch | None) -> None:
        self.retrieve = retrieve
        self.dispatch = dispatch

    def offered(self, state: ToolState, taken: set[str]) -> dict[str, dict[str, Any]]:
        """The tools that can do something for this request, minus names the client uses."""
        kinds = {media_kind(item.media_type) for item in state.attachments.values()}
        return {
            name: spec
            for name, spec in SPECS.items()
            if name not in taken
            and (name not in NEEDS or NEEDS[name] & kinds)
            and (name == "search_knowledge" or self.dispatch is not None)
        }

    async def run(self, state: ToolState, name: str, args: dict[str, Any]) -> str:
        with tracing.span("orchestrator.tool", {"tool.name": name}):
            try:
                result = await getattr(self, f"_{name}")(state, **args)
            except (TypeError, ValueError) as exc:
                metrics.TOOL_CALLS.labels(name, "bad_arguments").inc()
                return f"error: bad arguments for {name}: {exc}"
            except ServiceUnavailable as exc:
                metrics.TOOL_CALLS.labels(name, "unavailable").inc()
                return f"error: {exc.message}; answer from what you have"
            except AssistantError as exc:
                metrics.TOOL_CALLS.labels(name, "error").inc()
                return f"error: {exc.message}"
        metrics.TOOL_CALLS.labels(name, "ok").inc()
        return str(result)

    # the tools --------------------------------------------------------------------------

    async def _search_knowledge(
        self,
        state: ToolState,
        query: str,
        modalities: list[str] | None = None,
        top_k: int = 4,
    ) -> str:
        where = {"modality": {"$in": list(modalities)}} if modalities else None
        k = max(1, min(int(top_k), MAX_TOP_K))
        hits = await asyncio.to_thread(self.retrieve, state.tenant, str(query), k, where)
        blocks = []
        for hit in hits:
            citation = hit_citation(len(state.citations) + 1, hit)
            state.citations.append(citation)
            blocks.append(source_block(citation, hit.text))
        return "\n\n".join(blocks) or "No sources in the knowledge base match this query."

    async def _look_closer(
        self, state: ToolState, attachment: int, start_s: float, end_s: float
    ) -> str:
        item = self._item(state, attachment, "look_closer")
        if end_s < start_s:
            raise TypeError("end_s is before start_s")
        options = {
            "start_s": float(start_s),
            "end_s": float(end_s),
            "sample_fps": LOOK_CLOSER_FPS,
            "scene_threshold": 0.0,
            "max_frames": LOOK_CLOSER_FRAMES,
            "transcribe": False,
        }
        encoding = await self._encode(state, item, options)
        frames = [s for s in encoding.segments if s.kind == "frame"]
        lines = [f"at {timestamp(s.start)}: {s.text}" for s in frames]
        citation = state.cite_span(item, frames, start_s, end_s, "\n".join(lines))
        return _block(citation, item, "\n".join(lines) or "no frames in that span")

    async def _read_text(self, state: ToolState, attachment: int) -> str:
        item = self._item(state, attachment, "read_text")
        if media_kind(item.media_type) == "image":
            options: dict[str, Any] = {"ocr": True, "min_ocr_score": 0.3, "top_k": 1}
        else:
            options = {"ocr": True, "transcribe": False}
        encoding = await self._encode(state, item, options)
        if media_kind(item.media_type) == "image":
            text = str(encoding.metadata.get("ocr_text", ""))
        else:
            text = "\n".join(
                f"at {timestamp(s.start)}: {s.metadata.get('ocr_text')}"
                for s in encoding.segments
                if s.kind == "frame" and s.metadata.get("ocr_text")
            )
        citation = state.cite(item, text)
        return _block(citation, item, text or "no text was found")

    async def _transcribe(
        self,
        state: ToolState,
        attachment: int,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> str:
        item = self._item(state, attachment, "transcribe")
        options: dict[str, Any] = {}
        if media_kind(item.media_type) == "video":
            options = {"ocr": False, "start_s": float(start_s), "end_s": end_s, "max_frames": 1}
        encoding = await self._encode(state, item, options)
        said = [s for s in encoding.segments if s.kind == "speech" and s.overlaps(start_s, end_s)]
        lines = [f"at {timestamp(s.start)}: {s.text.strip()}" for s in said]
        snippet = " ".join(s.text.strip() for s in said)
        citation = state.cite_span(item, said, start_s, end_s, snippet)
        return _block(citation, item, "\n".join(lines) or "no speech in that span")

    # helpers ----------------------------------------------------------------------------

    @staticmethod
    def _item(state: ToolState, number: int, tool: str) -> MediaItem:
        item = state.attachments.get(int(number))
        if item is None:
            known = ", ".join(str(n) for n in sorted(state.attachments)) or "none"
            raise TypeError(f"there is no attachment {number} (attachments: {known})")
        if media_kind(item.media_type) not in NEEDS[tool]:
            raise TypeError(f"{tool} does not work on {item.media_type} ({item.display_name})")
        return item

    async def _encode(self, state: ToolState, item: MediaItem, options: dict[str, Any]) -> Encoding:
        if self.dispatch is None:
            raise ServiceUnavailable("no encoders are available")
        [result] = await self.dispatch.encode(state.tenant, [item], options)
        if isinstance(result, BaseException):
            if isinstance(result, AssistantError):
                raise result
            raise ServiceUnavailable(str(result))
        return result


def _block(citation: Citation, item: MediaItem, body: str) -> str:
    name = json.dumps(item.display_name)
    return f'<attachment id="{citation.index}" name={name}>\n{fence(body)}\n</attachment>'
