"""The ``assistant`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import click

from assistant.config import Settings, ensure_api_key, get_settings, masked_dump

# Nothing on a default path may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's message names the bad variable
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
@click.version_option(package_name="assistant")
def main() -> None:
    """Self-hosted multimodal chat assistant."""


@main.command()
@click.option("--host", default=None, help="bind address (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default 8000)")
def serve(host: str | None, port: int | None) -> None:
    """Run the OpenAI-compatible API."""
    import uvicorn

    from assistant.api.app import create_app

    settings = _settings()
    _setup_logging(settings.log_level)
    key = ensure_api_key(settings)
    if key:
        click.echo(
            f"API key (saved in {settings.storage.data_dir / 'api_key'}): {key}\n"
            "Send it as 'Authorization: Bearer <key>'.",
            err=True,
        )
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.api.host, port=port or settings.api.port, log_level="info")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", default=None, help="tenant whose knowledge base receives the files")
def ingest(paths: tuple[Path, ...], tenant: str | None) -> None:
    """Ingest files and folders (text, Markdown, HTML, PDF) into the knowledge base."""
    from tqdm import tqdm

    from assistant.retrieval.ingest import ingest_paths
    from assistant.services import Services

    settings = _settings()
    services = Services.build(settings)
    done, failed = ingest_paths(
        services.ingestor,
        tenant or settings.default_tenant,
        paths,
        progress=lambda files: tqdm(files, desc="ingest", unit="file"),
    )
    for result in done:
        click.echo(f"ok    {result.source}  ({result.chunks} chunks)  {result.document_id}")
    for path, reason in failed:
        click.echo(f"fail  {path}: {reason}", err=True)
    click.echo(f"{len(done)} ingested, {len(failed)} failed")
    if failed and not done:
        sys.exit(1)


@main.command()
@click.argument("question")
@click.option("--tenant", default=None)
def ask(question: str, tenant: str | None) -> None:
    """Answer one question from the knowledge base, with citations."""
    from assistant.orchestrator import ChatInput, ChatTurn
    from assistant.orchestrator.prompt import timestamp
    from assistant.services import Services

    settings = _settings()
    services = Services.build(settings)
    chat = ChatInput(tenant=tenant or settings.default_tenant, messages=[ChatTurn("user", question)])
    answer = asyncio.run(services.orchestrator.answer(chat))
    click.echo(answer.text.strip())
    if answer.citations:
        click.echo("\nSources:")
        for c in answer.citations:
            where = f" chunk {c.chunk}" if c.chunk is not None else ""
            if c.start is not None:
                where += f" at {timestamp(c.start)}"
            click.echo(f"  [{c.index}] {c.source}{where}")


@main.command("config")
def show_config() -> None:
    """Print the effective settings (secrets masked)."""
    click.echo(json.dumps(masked_dump(_settings()), indent=2, default=str))


if __name__ == "__main__":
    main()
