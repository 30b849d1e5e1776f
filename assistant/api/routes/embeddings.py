"""POST /v1/embeddings, in OpenAI's shape (float lists or base64 float32)."""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
import orjson
from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.chat.request import check_unicode
from assistant.errors import InvalidRequest

router = APIRouter(tags=["embeddings"])


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    def texts(self) -> list[str]:
        texts = [self.input] if isinstance(self.input, str) else self.input
        if all(isinstance(x, str) for x in texts):
            for i, text in enumerate(texts):
                try:
                    check_unicode(str(text))
                except ValueError as exc:
                    raise InvalidRequest(f"input[{i}]: {exc}", param="input") from None
            return [str(x) for x in texts]
        raise InvalidRequest(
            "input: token arrays are not supported (the tokens would be another model's); send "
            "the text itself (LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False))",
            param="input",
        )


def _encode(vector: list[float], fmt: str) -> np.ndarray | str:
    values = np.asarray(vector, dtype="<f4")  # what the model computes: float32
    if fmt == "base64":  # what the OpenAI SDK asks for by default: little-endian float32
        return base64.b64encode(values.tobytes()).decode("ascii")
    return values


@router.post("/v1/embeddings", response_class=Response)
async def create_embeddings(
    body: EmbeddingRequest,
    principal: PrincipalDep,  # noqa: ARG001 - the dependency authenticates the call
    services: ServicesDep,
) -> Response:
    service = services.embeddings
    service.check_model(body.model)
    result = await service.embed(body.texts(), body.dimensions)
    payload = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
            for i, v in enumerate(result.vectors)
        ],
        "model": body.model,
        "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
    }
    # orjson writes float32 arrays in their shortest form, ~20x faster than the json module
    # (and FastAPI's encoder would first walk every float of every vector)
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )
