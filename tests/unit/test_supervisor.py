"""The embedded supervisor restarts children that die on their own, with backoff, and leaves
alone what was stopped on purpose."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from assistant.embedded import Supervisor

pytestmark = pytest.mark.unit


@dataclass
class Child:
    """A real process (``python -c``) that exits with ``code`` after ``seconds``."""

    code: int = 0
    seconds: float = 0.0
    fail_starts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.starts.append(len(self.starts))
        if self.fail_starts:
            self.fail_starts -= 1
            self.proc = None
            raise RuntimeError("port in use")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import time, sys; time.sleep({self.seconds}); sys.exit({self.code})",
            ]
        )

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


def test_a_dead_child_is_restarted_and_a_running_one_left_alone() -> None:
    dead, alive = Child(code=9), Child(seconds=30)
    dead.start()
    alive.start()
    assert dead.proc is not None
    dead.proc.wait()
    supervisor = Supervisor({"dead": dead, "alive": alive}, backoff_s=0.0)
    supervisor.check("dead", dead)
    supervisor.check("alive", alive)
    assert supervisor.restarts == {"dead": 1, "alive": 0}
    assert len(alive.starts) == 1
    for child in (dead, alive):
        assert child.proc is not None
        child.proc.kill()
        child.proc.wait()


def test_restarts_back_off_and_a_failed_start_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr("assistant.embedded.time.monotonic", lambda: clock[0])
    child = Child(code=1, fail_starts=1)
    child.proc = subprocess.Popen([sys.executable, "-c", "pass"])
    child.proc.wait()
    supervisor = Supervisor({"w": child}, backoff_s=1.0, max_backoff_s=4.0)
    supervisor.check("w", child)  # first try fails (port in use): the child stays down
    assert child.proc is None and supervisor.restarts["w"] == 0
    supervisor.check("w", child)  # within the 1 s backoff: not yet
    assert len(child.starts) == 1
    clock[0] += 1.01
    supervisor.check("w", child)  # retried, and up
    assert supervisor.restarts["w"] == 1
    child.proc.wait()  # dies again at once: the next delay is 2 s, then 4 s (the cap)
    clock[0] += 1.5
    supervisor.check("w", child)
    assert len(child.starts) == 2
    clock[0] += 0.6
    supervisor.check("w", child)
    assert len(child.starts) == 3 and supervisor.restarts["w"] == 2
    assert child.proc is not None
    child.proc.wait()


def test_stopping_the_supervisor_ends_its_thread() -> None:
    supervisor = Supervisor({}, interval_s=0.01)
    supervisor.start()
    supervisor.stop()
    assert not supervisor._thread.is_alive()
