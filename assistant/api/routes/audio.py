"""POST /v1/audio/transcriptions and /v1/audio/translations, in OpenAI's multipart shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.api.uploads import read_upload
from assistant.errors import InvalidRequest
from assistant.transcription import Task, srt, verbose_json, vtt

router = APIRouter(tags=["audio"])

Format = Literal["json", "text", "srt", "vtt", "verbose_json"]
# the form fields each route reads: anything else is refused, never dropped
_TRANSLATE_FIELDS = frozenset({"file", "model", "prompt", "response_format", "temperature"})
_TRANSCRIBE_FIELDS = _TRANSLATE_FIELDS | {
    "language",
    "timestamp_granularities[]",
    "timestamp_granularities",
}
LanguageForm = Annotated[
    str | None, Form(pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z]{2,4})?$", description="ISO-639-1")
]
# the fields both routes take
ModelForm = Annotated[str, Form()]
PromptForm = Annotated[str | None, Form(max_length=1000)]
FormatForm = Annotated[Format, Form()]
TemperatureForm = Annotated[float | None, Form(ge=0, le=1)]


async def _run(
    task: Task,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    file: UploadFile,
    model: str,
    language: str | None,
    prompt: str | None,
    response_format: Format,
    temperature: float | None,
    granularities: list[str] | None,
) -> Response:
    fields = _TRANSCRIBE_FIELDS if task == "transcribe" else _TRANSLATE_FIELDS
    unknown = sorted(set((await request.form()).keys()) - fields)
    if unknown:
        raise InvalidRequest(
            f"{unknown[0]}: this parameter is not supported by this server", param=unknown[0]
        )
    if temperature:
        raise InvalidRequest(
            "temperature: transcription here is deterministic (beam search); send 0 or nothing",
            param="temperature",
        )
    if granularities and set(granularities) - {"segment"}:
        raise InvalidRequest(
            "timestamp_granularities: only 'segment' timestamps are served",
            param="timestamp_granularities",
        )
    service = services.transcription
    service.check_model(model)
    data, name = await read_upload(file, services.settings.media.max_file_bytes)
    encoding = await service.transcribe(
        principal.tenant,
        data,
        file.content_type,
        name,
        language=language,
        prompt=prompt,
        task=task,
    )
    if response_format == "text":
        return PlainTextResponse(encoding.text + "\n")
    if response_format == "srt":
        return PlainTextResponse(srt(encoding))
    if response_format == "vtt":
        return PlainTextResponse(vtt(encoding), media_type="text/vtt")
    body: dict[str, Any] = (
        verbose_json(encoding, task)
        if response_format == "verbose_json"
        else {"text": encoding.text}
    )
    return JSONResponse(body)


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="audio (or a video's sound track)")],
    model: ModelForm,
    language: LanguageForm = None,
    prompt: PromptForm = None,
    response_format: FormatForm = "json",
    temperature: TemperatureForm = None,
    granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
) -> Response:
    return await _run(
        "transcribe", request, principal, services, file, model, language, prompt,
        response_format, temperature, granularities,
    )  # fmt: skip


@router.post("/v1/audio/translations", response_model=None)
async def translations(
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="speech in any language, to English text")],
    model: ModelForm,
    prompt: PromptForm = None,
    response_format: FormatForm = "json",
    temperature: TemperatureForm = None,
) -> Response:
    return await _run(
        "translate", request, principal, services, file, model, None, prompt,
        response_format, temperature, None,
    )  # fmt: skip
