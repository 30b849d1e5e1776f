"""The typed bodies of the encode and embed tasks, shared by the API and the workers.

They travel as JSON (Celery's json serializer); each side validates what it receives with
these models, so a change of shape fails on both sides at once, in one place.

    EncodeRequest   {"encoder", "items": [EncodeItem], "options"}
    EncodeItem      {"blob": {"key", "sha256", "size"}, "media_type", "name"}
    EncodeResponse  {"results": [ItemResult], "encoder", "batch", "elapsed_s", "worker", "pid"}
    ItemResult      {"ok": true, "encoding": Encoding, "vectors": PackedVectors}
                    or {"ok": false, "error": ErrorPayload}
    PackedVectors   {"item": base64 float32 | null, "segments": {index: base64 float32}}
    ErrorPayload    {"class", "status", "type", "code", "message", "param"}
    EmbedRequest    {"texts": [str]}
    EmbedResponse   {"vectors": [base64 float32], "batch", "elapsed_s", "pid"}

Vectors travel packed (float32 bytes in base64), not as JSON floats: an encoding's vectors, the
item's and its segments', are lifted out of it into ``vectors`` by ``ok_result`` and put back
by ``result_from_payload``, exactly for the float32 vectors models give (20 frame vectors of 512:
219 KB as JSON floats, 58 KB packed; bench/bench_payloads.py).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from assistant import errors
from assistant.blobs import BlobRef
from assistant.errors import AssistantError, EncoderFailed, InvalidRequest
from assistant.plugins.contract import Encoding


class BlobPayload(BaseModel):
    key: str
    sha256: str
    size: int

    def ref(self) -> BlobRef:
        return BlobRef(key=self.key, sha256=self.sha256, size=self.size)


class EncodeItem(BaseModel):
    blob: BlobPayload
    media_type: str
    name: str = ""


class EncodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str
    # raw dicts: one malformed item must fail alone (a per-item error), not the whole batch
    items: list[dict[str, Any]]
    options: dict[str, Any] | None = None


class ErrorPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    class_name: str = Field("", alias="class")
    status: int = 502
    type: str = "server_error"
    code: str = ""
    message: str = "the encoder failed"
    param: str | None = None


class PackedVectors(BaseModel):
    item: str | None = None  # pack_vectors of Encoding.vector
    segments: dict[int, str] = {}  # segment index -> its packed vector


class ItemResult(BaseModel):
    ok: bool
    encoding: Encoding | None = None  # its vectors are in ``vectors``
    error: ErrorPayload | None = None
    vectors: PackedVectors | None = None


class EncodeResponse(BaseModel):
    results: list[ItemResult]
    encoder: str
    batch: int
    elapsed_s: float
    worker: str = ""
    pid: int = 0


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str]


class EmbedResponse(BaseModel):
    vectors: list[str]  # pack_vectors
    batch: int
    elapsed_s: float
    pid: int = 0


# errors --------------------------------------------------------------------------------------


def error_payload(exc: BaseException) -> ErrorPayload:
    if not isinstance(exc, AssistantError):
        exc = EncoderFailed(str(exc) or type(exc).__name__)
    return ErrorPayload(
        class_name=type(exc).__name__,
        status=exc.status,
        type=exc.type,
        code=exc.code,
        message=exc.message,
        param=exc.param,
    )


def error_from_payload(data: dict[str, Any] | ErrorPayload) -> AssistantError:
    """Rebuild the AssistantError subclass a worker reported, so a 4xx stays a 4xx."""
    payload = data if isinstance(data, ErrorPayload) else ErrorPayload.model_validate(data)
    message = payload.message or "the encoder failed"
    cls = getattr(errors, payload.class_name, None)
    exc: AssistantError
    if isinstance(cls, type) and issubclass(cls, AssistantError):
        exc = cls(message)
    else:
        exc = InvalidRequest(message) if 400 <= payload.status < 500 else EncoderFailed(message)
        exc.status = payload.status
    if payload.code:
        exc.code = payload.code
    exc.param = payload.param
    return exc


# items and results ---------------------------------------------------------------------------


def item_payload(ref: BlobRef, media_type: str, name: str) -> dict[str, Any]:
    blob = BlobPayload(key=ref.key, sha256=ref.sha256, size=ref.size)
    return EncodeItem(blob=blob, media_type=media_type, name=name).model_dump()


def ok_result(encoding: Encoding) -> ItemResult:
    """The encoding with its vectors lifted out and packed."""
    packed = PackedVectors(
        item=pack_vectors([encoding.vector])[0] if encoding.vector is not None else None,
        segments={
            i: pack_vectors([seg.vector])[0]
            for i, seg in enumerate(encoding.segments)
            if seg.vector is not None
        },
    )
    light = encoding.model_copy(
        update={
            "vector": None,
            "segments": [s.model_copy(update={"vector": None}) for s in encoding.segments],
        }
    )
    return ItemResult(ok=True, encoding=light, vectors=packed)


def failed_result(exc: BaseException) -> ItemResult:
    return ItemResult(ok=False, error=error_payload(exc))


def result_from_payload(data: dict[str, Any] | ItemResult) -> Encoding | AssistantError:
    result = data if isinstance(data, ItemResult) else ItemResult.model_validate(data)
    if result.ok and result.encoding is not None:
        return _with_vectors(result.encoding, result.vectors)
    return error_from_payload(result.error or ErrorPayload())


# vectors -------------------------------------------------------------------------------------


def _with_vectors(encoding: Encoding, packed: PackedVectors | None) -> Encoding:
    if packed is None:  # a result without packed vectors keeps the ones it has
        return encoding
    segments = list(encoding.segments)
    for i, raw in packed.segments.items():
        if 0 <= i < len(segments):
            segments[i] = segments[i].model_copy(update={"vector": unpack_vectors([raw])[0]})
    vector = unpack_vectors([packed.item])[0] if packed.item is not None else encoding.vector
    return encoding.model_copy(update={"vector": vector, "segments": segments})


def pack_vectors(vectors: Sequence[Sequence[float]]) -> list[str]:
    """float32 vectors as base64: exact, and ~6x smaller than JSON floats in a Redis message."""
    return [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]


def unpack_vectors(packed: Sequence[str]) -> list[list[float]]:
    return [np.frombuffer(base64.b64decode(p), dtype="<f4").tolist() for p in packed]
