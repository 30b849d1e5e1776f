"""Vectors cross Redis packed (float32 bytes in base64), not as JSON floats, and come back
exactly, each in its place: the item's vector and every segment's."""

from __future__ import annotations

import json

import numpy as np

from assistant.dispatch.payloads import (
    EmbedResponse,
    ItemResult,
    ok_result,
    pack_vectors,
    result_from_payload,
    unpack_vectors,
)
from assistant.plugins.contract import Encoding, Modality, Segment


def float32_vector(seed: int, dim: int = 384) -> list[float]:
    return np.random.default_rng(seed).standard_normal(dim).astype("float32").tolist()


def video_encoding() -> Encoding:
    segments = [
        Segment(kind="frame", text="a red tram", start=0.0, end=2.0, vector=float32_vector(1)),
        Segment(kind="speech", text="next stop", start=2.0, end=4.0),  # no vector
        Segment(kind="frame", text="a bridge", start=4.0, end=6.0, vector=float32_vector(2)),
    ]
    return Encoding(
        encoder="video",
        version="1",
        modality=Modality.VIDEO,
        text="a tram crosses a bridge",
        segments=segments,
        vector=float32_vector(3),
        metadata={"frames": 2},
    )


def over_the_wire(result: ItemResult) -> dict[str, object]:
    """What the API reads back: the worker's result through Celery's JSON serializer."""
    loaded: dict[str, object] = json.loads(json.dumps(result.model_dump(mode="json")))
    return loaded


def test_an_encodings_vectors_round_trip_exactly_and_in_place() -> None:
    original = video_encoding()
    back = result_from_payload(over_the_wire(ok_result(original)))
    assert isinstance(back, Encoding)
    assert back == original
    assert back.segments[1].vector is None
    assert back.segments[2].vector == original.segments[2].vector


def test_the_wire_form_holds_no_float_lists_and_is_smaller() -> None:
    original = video_encoding()
    wire = over_the_wire(ok_result(original))
    encoding = wire["encoding"]
    assert isinstance(encoding, dict)
    assert encoding["vector"] is None
    assert all(seg["vector"] is None for seg in encoding["segments"])
    as_floats = json.dumps(ItemResult(ok=True, encoding=original).model_dump(mode="json"))
    assert len(json.dumps(wire)) * 3 < len(as_floats)


def test_an_encoding_without_vectors_stays_without() -> None:
    plain = Encoding(encoder="ocr", version="1", modality=Modality.IMAGE, text="EXIT")
    back = result_from_payload(over_the_wire(ok_result(plain)))
    assert back == plain


def test_a_result_sent_with_float_lists_is_still_read() -> None:
    # a worker of the previous release, during a rolling upgrade
    original = video_encoding()
    old = json.loads(json.dumps(ItemResult(ok=True, encoding=original).model_dump(mode="json")))
    assert result_from_payload(old) == original


def test_embedding_vectors_round_trip_exactly() -> None:
    vectors = [float32_vector(n, 16) for n in range(3)]
    response = EmbedResponse(vectors=pack_vectors(vectors), batch=3, elapsed_s=0.0)
    assert unpack_vectors(
        EmbedResponse.model_validate_json(response.model_dump_json()).vectors
    ) == (vectors)
