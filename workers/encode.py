"""What the worker tasks do, as plain functions that tests call directly.

An encode task is pure: blob references in, findings out. It writes nothing anywhere, so a
redelivered message (worker lost, visibility timeout) can only repeat work, never duplicate
data. All Chroma and SQL writes stay in the API process.

The task bodies are the typed models of ``assistant.dispatch.payloads``, shared with the API.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from assistant.blobs import BlobStore
from assistant.dispatch.local import LoadedEncoders, encode_batch
from assistant.dispatch.payloads import (
    EmbedResponse,
    EncodeItem,
    EncodeResponse,
    ItemResult,
    failed_result,
    ok_result,
    pack_vectors,
)
from assistant.embeddings import TextEmbedder
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


# encode -------------------------------------------------------------------------------------


def _stage(blobs: BlobStore, raw: dict[str, Any]) -> MediaItem:
    try:
        parsed = EncodeItem.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest(f"malformed encode item: {exc.errors()[0]['msg']}") from exc
    ref, media_type, name = parsed.blob.ref(), parsed.media_type, parsed.name
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
    out: list[ItemResult | None] = [None] * len(items)

    def fail(index: int, exc: BaseException) -> None:
        out[index] = failed_result(exc)

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
        for (i, item), result in zip(staged, results, strict=True):
            if isinstance(result, Encoding):
                out[i] = ok_result(_renditions_by_reference(blobs, item, result))
            else:
                fail(i, result)
    return EncodeResponse(
        results=[r or failed_result(EncoderFailed("not encoded")) for r in out],
        encoder=encoder,
        batch=len(items),
        elapsed_s=time.perf_counter() - started,
        worker=socket.gethostname(),
        pid=os.getpid(),
    ).model_dump(mode="json", by_alias=True)


def _renditions_by_reference(blobs: BlobStore, item: MediaItem, encoding: Encoding) -> Encoding:
    """Model-ready copies go to the blob store (under the item's tenant), not into the message;
    the API reads them once and deletes them."""
    if not encoding.renditions:
        return encoding
    tenant = str(item.metadata["blob"]["key"]).split("/", 1)[0]
    stored = []
    for rendition in encoding.renditions:
        if rendition.data is not None:
            suffix = mimetypes.guess_extension(rendition.media_type) or ""
            try:
                ref = blobs.put_bytes(tenant, rendition.data, suffix)
            except (ConnectionError, TimeoutError, OSError) as exc:
                raise TransientError(f"blob store: {exc}") from exc
            rendition = rendition.model_copy(update={"data": None, "blob": ref.as_dict()})
        stored.append(rendition)
    return encoding.model_copy(update={"renditions": stored})


# embed --------------------------------------------------------------------------------------


def embed_texts(embedder: TextEmbedder, texts: Sequence[str]) -> dict[str, Any]:
    started = time.perf_counter()
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("embed takes a list of strings")
    vectors = embedder.embed(list(texts))
    return EmbedResponse(
        vectors=pack_vectors(vectors),
        batch=len(texts),
        elapsed_s=time.perf_counter() - started,
        pid=os.getpid(),
    ).model_dump()
