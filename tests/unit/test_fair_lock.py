"""The local model's queue: people's calls before background ones, arrival order within each."""

from __future__ import annotations

import threading
from functools import partial

from assistant.llm.fair import FairLock, Priority
from tests.support.procs import wait_for


def _has_waiting(lock: FairLock, priority: Priority, n: int) -> bool:
    return lock.waiting(priority) == n


def test_interactive_callers_go_before_background_ones_that_came_earlier() -> None:
    lock = FairLock()
    served: list[str] = []
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock.hold("background"):
            held.set()
            release.wait(10)

    def caller(name: str, priority: Priority) -> None:
        with lock.hold(priority):
            served.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(5)
    threads = []
    arrivals: list[tuple[str, Priority]] = [
        ("bg1", "background"),
        ("bg2", "background"),
        ("person1", "interactive"),
        ("bg3", "background"),
        ("person2", "interactive"),
    ]
    for name, priority in arrivals:
        waiting = lock.waiting(priority)
        thread = threading.Thread(target=caller, args=(name, priority))
        thread.start()
        threads.append(thread)
        assert wait_for(partial(_has_waiting, lock, priority, waiting + 1), 5, 0.01)
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert served == ["person1", "person2", "bg1", "bg2", "bg3"]
    assert lock.waiting("interactive") == lock.waiting("background") == 0


def test_an_idle_lock_is_taken_at_once_and_released_on_error() -> None:
    lock = FairLock()
    try:
        with lock.hold("background"):
            raise RuntimeError("the generation failed")
    except RuntimeError:
        pass
    done = threading.Event()

    def person() -> None:
        with lock.hold("interactive"):
            done.set()

    threading.Thread(target=person).start()
    assert done.wait(2)
