"""What the worker tasks do, as plain functions that tests call directly.

An encode task is pure: blob references in, findings out. It writes nothing anywhere, so a
redelivered message (worker lost, visibility timeout) can only repeat work, never duplicate
data. All Chroma and SQL writes stay in the API process.

Payload shapes (JSON):
    item    {"blob": {"key", "sha256", "size"}, "media_type": str, "name": str}
    result  {"ok": true, "encoding": Encoding}  or  {"ok": false, "error": ErrorPayload}
    error   {"class": str, "status": int, "type": str, "code": str, "message": str}
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from assistant import errors
from assistant.blobs import BlobRef, BlobStore
from assistant.embeddings import TextEmbedder
from assistant.encoding import LoadedEncoders, encode_batch
from assistant.errors import (
    AssistantError,
    EncoderFailed,
    InvalidRequest,
    ServiceUnavailable,
    UnprocessableMedia,
    UnsupportedMedia,
)
from assistant.plugins.contract import Encoding, MediaItem

log = logging.getLogger(__name__)


class TransientError(Exception):
    """A fault worth retrying (the blob store or the network hiccuped), never bad input."""


# transport of errors -------------------------------------------------------------------------


def error_payload(exc: BaseException) -> dict[str, Any]:
    if not isinstance(exc, AssistantError):
        exc = EncoderFailed(str(exc) or type(exc).__name__)
    return {
        "class": type(exc).__name__,
        "status": exc.status,
        "type": exc.type,
        "code": exc.code,
        "message": exc.message,
        "param": exc.param,
    }


def error_from_payload(data: dict[str, Any]) -> AssistantError:
    """Rebuild the AssistantError subclass a worker reported, so a 4xx stays a 4xx."""
    message = str(data.get("message") or "the encoder failed")
    cls = getattr(errors, str(data.get("class", "")), None)
    exc: AssistantError
    if isinstance(cls, type) and issubclass(cls, AssistantError):
        exc = cls(message)
    else:
        status = int(data.get("status") or 502)
        exc = InvalidRequest(message) if 400 <= status < 500 else EncoderFailed(message)
        exc.status = status
    if data.get("code"):
        exc.code = str(data["code"])
    exc.param = data.get("param")
    return exc


def item_payload(ref: BlobRef, media_type: str, name: str) -> dict[str, Any]:
    return {"blob": ref.as_dict(), "media_type": media_type, "name": name}


def result_from_payload(data: dict[str, Any]) -> Encoding | AssistantError:
    if data.get("ok"):
        return Encoding.model_validate(data["encoding"])
    return error_from_payload(data.get("error") or {})


# encode -------------------------------------------------------------------------------------


def _stage(blobs: BlobStore, raw: dict[str, Any]) -> MediaItem:
    try:
        ref = BlobRef.from_dict(raw["blob"])
        media_type = str(raw["media_type"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"malformed encode item: {exc}") from exc
    name = str(raw.get("name") or "")
    try:
        path = blobs.local_path(ref)
    except ValueError as exc:  # a key that does not look like one of ours
        raise InvalidRequest(str(exc)) from exc
    except FileNotFoundError as exc:
        raise UnprocessableMedia(f"{name or ref.key}: the stored media is gone ({exc})") from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientError(f"blob store: {exc}") from exc
    if path.stat().st_size != ref.size:
        raise UnprocessableMedia(f"{name or ref.key}: stored size differs from the reference")
    return MediaItem(path=path, media_type=media_type, name=name, metadata={"blob": ref.as_dict()})


def encode_items(
    encoders: LoadedEncoders,
    blobs: BlobStore,
    encoder: str,
    items: Sequence[dict[str, Any]],
    options: dict[str, Any] | None = None,
    queues: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Encode a batch of blob references with one encoder; one result payload per item.

    ``queues``: the queues this worker consumes; an encoder of another queue is refused
    rather than loaded here (a misrouted message must not pull a model onto the wrong box).

    Raises ``TransientError`` only (the task retries it); every other fault is reported per
    item, so bad input is never retried.
    """
    started = time.perf_counter()
    out: list[dict[str, Any] | None] = [None] * len(items)

    def fail(index: int, exc: BaseException) -> None:
        out[index] = {"ok": False, "error": error_payload(exc)}

    try:
        declared = encoders.registry.encoders[encoder]
        if queues is not None and declared.queue not in queues:
            raise KeyError(encoder)
        enc = encoders.get(encoder)
    except KeyError:
        enc = None
        for i in range(len(items)):
            fail(i, ServiceUnavailable(f"encoder {encoder!r} is not installed on this worker"))
    except Exception as exc:  # load() failed
        enc = None
        log.exception("encoder %s failed to load", encoder)
        for i in range(len(items)):
            fail(i, ServiceUnavailable(f"encoder {encoder!r} is unavailable: {exc}"))
    staged: list[tuple[int, MediaItem]] = []
    if enc is not None:
        for i, raw in enumerate(items):
            try:
                item = _stage(blobs, raw)
                if item.media_type not in enc.media_types:
                    raise UnsupportedMedia(
                        f"encoder {encoder!r} does not accept {item.media_type!r}"
                    )
                staged.append((i, item))
            except TransientError:
                raise
            except AssistantError as exc:
                fail(i, exc)
    if enc is not None and staged:
        try:
            results = encode_batch(enc, [item for _, item in staged], options)
        except ValidationError as exc:  # bad options: the caller's fault, for every item
            bad = InvalidRequest(f"invalid options for {encoder}: {exc.errors()[0]['msg']}")
            results = [bad] * len(staged)
        for (i, _), result in zip(staged, results, strict=True):
            if isinstance(result, Encoding):
                out[i] = {"ok": True, "encoding": result.model_dump(mode="json")}
            else:
                fail(i, result)
    return {
        "results": out,
        "encoder": encoder,
        "batch": len(items),
        "elapsed_s": time.perf_counter() - started,
        "worker": socket.gethostname(),
        "pid": os.getpid(),
    }


# embed --------------------------------------------------------------------------------------


def pack_vectors(vectors: Sequence[Sequence[float]]) -> list[str]:
    """float32 vectors as base64: exact, and ~6x smaller than JSON floats in a Redis message."""
    return [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]


def unpack_vectors(packed: Sequence[str]) -> list[list[float]]:
    return [np.frombuffer(base64.b64decode(p), dtype="<f4").tolist() for p in packed]


def embed_texts(embedder: TextEmbedder, texts: Sequence[str]) -> dict[str, Any]:
    started = time.perf_counter()
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("embed takes a list of strings")
    vectors = embedder.embed(list(texts))
    return {
        "vectors": pack_vectors(vectors),
        "batch": len(texts),
        "elapsed_s": time.perf_counter() - started,
        "pid": os.getpid(),
    }
