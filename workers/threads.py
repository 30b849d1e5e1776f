"""CPU threads per pool process: the machine's cores shared out among the pool processes.

Left alone, every pool process sizes its thread pools (torch's OpenMP, onnxruntime,
CTranslate2) to every core, so two processes run four busy threads on two cores; OpenMP and
onnxruntime threads spin while they wait, and each process ends up several times slower than
one process alone (``bench/bench_workers.py``: the text embedder's batches of 64 took 0.9-2.0 s
in a pool of 2 on 2 cores, 0.4 s with a thread each).
"""

from __future__ import annotations

import contextlib
import os
import sys

THREADS_ENV = "ASSISTANT_WORKER_THREADS"
# read by the OpenMP and BLAS runtimes when they start: set before the pool forks
LIBRARY_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set), else the machine's."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_budget(configured: int, pool_processes: int, cores: int | None = None) -> int:
    """``workers.threads_per_process`` when set; else an OMP_NUM_THREADS the operator exported;
    else the cores divided among the pool processes (at least 1)."""
    if configured > 0:
        return configured
    exported = _positive_env("OMP_NUM_THREADS")
    if exported is not None:
        return exported
    return max(1, (cores or available_cores()) // max(1, pool_processes))


def export(threads: int) -> None:
    """For the pool processes forked after this call (the worker's main process runs it)."""
    os.environ[THREADS_ENV] = str(threads)
    for name in LIBRARY_ENV:
        os.environ[name] = str(threads)


def budget_here() -> int | None:
    """This pool process's budget (None outside a worker started by ``assistant worker``)."""
    return _positive_env(THREADS_ENV)


def _positive_env(name: str) -> int | None:
    """The variable as a count of threads; None when unset, not a number or not above 0."""
    with contextlib.suppress(ValueError):
        value = int(os.environ.get(name, ""))
        return value if value > 0 else None
    return None


def apply_here() -> None:
    """Size torch's thread pool in this process to the budget, when torch is loaded (it may have
    been imported before the fork, before OMP_NUM_THREADS was set). Encoders get the budget as
    ``Encoder.threads`` for their own runtimes (onnxruntime, CTranslate2)."""
    threads = budget_here()
    torch = sys.modules.get("torch")
    if threads is not None and torch is not None:
        torch.set_num_threads(threads)


def torch_threads() -> int | None:
    """torch's intra-op threads in this process, or None when torch is not loaded."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None
