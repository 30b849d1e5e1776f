"""``assistant worker``: a prefork Celery worker hosting the encoders of some queues.

The command reaches the ``assistant`` CLI through the ``assistant.commands`` entry point group
(pyproject.toml), so the core never imports this package.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Sequence

import click

from assistant.config import Settings, get_settings
from assistant.dispatch import names
from assistant.logs import setup_logging
from assistant.plugins.registry import Registry, registry_for
from workers import gpu, threads
from workers.startup import NAME_ENV, QUEUES_ENV

log = logging.getLogger(__name__)


def _gpu_start(
    settings: Settings, registry: Registry, queues: list[str], concurrency: int | None
) -> tuple[list[str], int]:
    """Budget, CUDA check and pool size of a GPU worker; exits with a message when it cannot run."""
    chosen = gpu.plan(registry, queues, settings.workers.gpu_memory_budget_mb)
    for name, why in chosen.skipped.items():
        log.warning("encoder %s is not loaded on this GPU worker: %s", name, why)
    if not chosen.hosted and not chosen.skipped:
        click.echo(
            f"none of {', '.join(q for q in queues if q.startswith('cuda.'))} has an encoder "
            "configured for cuda: set ASSISTANT_PLUGINS__DEVICE=cuda (or ASSISTANT_PLUGINS__DEVICES "
            "per encoder) for the API and the workers alike; `assistant plugins` shows the queues",
            err=True,
        )
        sys.exit(gpu.EXIT_NO_CUDA)
    if not chosen.queues:
        raise SystemExit("no queues left to consume: no GPU encoder fits the memory budget")
    if chosen.needs_cuda:
        ok, why = gpu.cuda_available()
        if not ok:
            click.echo(
                f"this worker hosts GPU encoders ({', '.join(chosen.hosted)}) but CUDA is not "
                f"available: {why}. Run it on a machine with an NVIDIA GPU and a CUDA build of "
                "torch, or consume the cpu.* queues instead (`assistant worker --device cpu`).",
                err=True,
            )
            sys.exit(gpu.EXIT_NO_CUDA)
    os.environ[gpu.SKIP_ENV] = ",".join(chosen.skipped)
    log.info(
        "GPU worker: %s on CUDA_VISIBLE_DEVICES=%s",
        ", ".join(chosen.hosted) or "no CUDA encoders",
        os.environ.get("CUDA_VISIBLE_DEVICES", "(all)"),
    )
    return chosen.queues, concurrency or 1  # one pool process per GPU


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
    registry = registry_for(settings)
    chosen = names.parse_queues(queues) if queues else names.all_queues(registry, device or "cpu")
    if not chosen:
        raise SystemExit(
            f"no queues to consume: no encoder is configured for {device or 'cpu'} "
            "(ASSISTANT_PLUGINS__DEVICE, ASSISTANT_PLUGINS__DEVICES; see `assistant plugins`)"
        )
    if any(q.startswith("cuda.") for q in chosen):
        chosen, concurrency = _gpu_start(settings, registry, chosen, concurrency)
    pool = concurrency or settings.workers.concurrency
    threads.export(threads.thread_budget(settings.workers.threads_per_process, pool))
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
    help="consume every queue of the encoders configured for this device (default: cpu)",
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
