"""What a GPU worker decides before it starts: is CUDA there, and which encoders fit its memory.

CUDA is never initialised in the worker's main process: Celery's prefork pool forks it, and a
CUDA context does not survive a fork (celery#6036). The check runs in a child interpreter, the
models load in each pool process after the fork (``worker_process_init``), and a GPU worker
runs one pool process per GPU (``CUDA_VISIBLE_DEVICES`` says which GPUs it sees).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.plugins.contract import Device, Encoder
from assistant.plugins.registry import Registry

log = logging.getLogger(__name__)

# exit status of a worker that cannot run here (EX_CONFIG): a supervisor should not restart it
EXIT_NO_CUDA = 78
SKIP_ENV = "ASSISTANT_WORKER_SKIP"  # encoders left out by the budget, read by each pool process

_PROBE = (
    "import sys\n"
    "try:\n"
    "    import torch\n"
    "except ImportError:\n"
    "    sys.exit(3)\n"
    "sys.exit(0 if torch.cuda.is_available() and torch.cuda.device_count() > 0 else 4)\n"
)


def cuda_available(timeout: float = 120.0) -> tuple[bool, str]:
    """Ask a child interpreter (this process must not touch CUDA); (ok, why not)."""
    try:
        result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
            [sys.executable, "-c", _PROBE], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the CUDA probe did not finish: {exc}"
    reasons = {
        3: "torch is not installed",
        4: "torch sees no CUDA device (a CPU build of torch, no driver, or no GPU visible)",
    }
    if result.returncode == 0:
        return True, ""
    return False, reasons.get(result.returncode, result.stderr.decode(errors="replace")[-500:])


@dataclass
class GpuPlan:
    """The encoders a GPU worker hosts, and those it leaves out (with the reason)."""

    queues: list[str]
    hosted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    needs_cuda: bool = False


def plan(registry: Registry, queues: Sequence[str], budget_mb: int) -> GpuPlan:
    """Keep the cuda encoders of ``queues`` that fit ``budget_mb`` (0: no budget), in the
    registry's order; a queue none of whose encoders fit is not consumed."""
    chosen: list[Encoder[Any]] = []
    skipped: dict[str, str] = {}
    used = 0
    for encoder in registry.encoders.values():
        if encoder.queue not in queues or encoder.device != Device.CUDA:
            continue
        need = max(0, encoder.gpu_memory_mb)
        if budget_mb and used + need > budget_mb:
            skipped[encoder.name] = (
                f"needs about {need} MB of GPU memory; {budget_mb - used} MB of the "
                f"{budget_mb} MB budget are left"
            )
            continue
        used += need
        chosen.append(encoder)
    kept = {e.queue for e in chosen}
    return GpuPlan(
        queues=[q for q in queues if not q.startswith(f"{Device.CUDA.value}.") or q in kept],
        hosted=[e.name for e in chosen],
        skipped=skipped,
        needs_cuda=any(e.needs_cuda_runtime for e in chosen),
    )


def skipped_from_env() -> set[str]:
    return {n for n in os.environ.get(SKIP_ENV, "").split(",") if n}
