"""``assistant worker``: a prefork Celery worker hosting the encoders of some queues.

The command reaches the ``assistant`` CLI through the ``assistant.commands`` entry point group
(pyproject.toml), so the core never imports this package.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence

import click

from assistant.config import Settings, get_settings
from assistant.dispatch import names
from assistant.logs import setup_logging
from assistant.plugins.registry import registry_for
from workers.startup import NAME_ENV, QUEUES_ENV


def resolve_queues(settings: Settings, queues: str, device: str | None) -> list[str]:
    if queues:
        return names.parse_queues(queues)
    registry = registry_for(settings)
    return names.all_queues(registry, device or "cpu")


def worker_argv(
    settings: Settings,
    queues: Sequence[str],
    concurrency: int | None,
    node: str,
    loglevel: str,
) -> list[str]:
    return [
        "worker",
        "--pool=prefork",  # never solo: it ignores time limits
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency or settings.workers.concurrency}",
        f"--hostname={node}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--prefetch-multiplier=1",
    ]


def run_worker(
    settings: Settings,
    queues: str = "",
    device: str | None = None,
    concurrency: int | None = None,
    name: str | None = None,
    loglevel: str | None = None,
) -> None:
    if not settings.workers.redis_url:
        raise SystemExit(
            "set ASSISTANT_WORKERS__REDIS_URL (redis://host:port/0); `assistant serve` starts an "
            "embedded Redis and worker by itself when it is unset"
        )
    chosen = resolve_queues(settings, queues, device)
    if not chosen:
        raise SystemExit("no queues to consume: no encoder plugin is installed for that device")
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(chosen).lower()).strip("-")[:40]
    node = name or f"{slug}-{os.getpid()}@{socket.gethostname()}"
    # read by each pool process (workers/startup.py) before the app is imported
    os.environ[QUEUES_ENV] = ",".join(chosen)
    os.environ[NAME_ENV] = node
    # imported only when a worker really starts: importing it builds the Celery app from the
    # environment and connects the worker signals, which `assistant --help` must not do
    from workers.tasks import app

    app.worker_main(
        worker_argv(settings, chosen, concurrency, node, loglevel or settings.log_level)
    )


@click.command()
@click.option("--queues", "-Q", default="", help="comma-separated queues, e.g. cpu.audio,cpu.image")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="consume every queue of this device's encoders (default: cpu)",
)
@click.option("--concurrency", "-c", type=int, default=None, help="pool processes")
@click.option("--name", "-n", default=None, help="node name (default: from the queues and pid)")
@click.option("--loglevel", default=None)
def worker(
    queues: str, device: str | None, concurrency: int | None, name: str | None, loglevel: str | None
) -> None:
    """Run a Celery worker (prefork) hosting the encoders of some queues."""
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic's message names the bad variable
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc
    setup_logging(settings.log_level, settings.log_json)
    run_worker(settings, queues, device, concurrency, name, loglevel)
