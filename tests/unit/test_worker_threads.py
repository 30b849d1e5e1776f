"""The CPU thread budget of a worker's pool processes (workers/threads.py)."""

from __future__ import annotations

import os

import pytest

from workers.threads import THREADS_ENV, budget_here, export, thread_budget


def test_the_cores_are_shared_out_among_the_pool_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert thread_budget(0, 1, cores=8) == 8
    assert thread_budget(0, 2, cores=8) == 4
    assert thread_budget(0, 3, cores=8) == 2
    assert thread_budget(0, 4, cores=2) == 1  # never none


def test_the_setting_wins_then_an_exported_omp_num_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert thread_budget(0, 2, cores=8) == 3  # the operator's own OpenMP setting
    assert thread_budget(5, 2, cores=8) == 5  # workers.threads_per_process
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert thread_budget(0, 2, cores=8) == 4  # not a number: ignored


def test_export_reaches_the_libraries_and_the_pool_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(name, "0")  # recorded, so what export() sets is undone afterwards
        monkeypatch.delenv(name)
    assert budget_here() is None  # not in a worker: the libraries keep their defaults
    export(2)
    assert [os.environ[n] for n in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")] == ["2", "2"]
    assert budget_here() == 2
