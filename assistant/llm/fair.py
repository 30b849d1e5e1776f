"""One local model, many callers: the person waiting goes first.

The local model generates one answer at a time. Callers queue for it in two classes:
``interactive`` (a person waits for this answer) before ``background`` (a front end's title, tag
and follow-up completions, ``service_tier: "flex"``, chat jobs), first come first served within a
class, so a burst of background work cannot starve an answer. A person's generation runs to its
end; a background one in plain text steps aside between tokens, and between chunks of its
prompt as it is read, when a person's call waits, and resumes later by continuing what it wrote
(``LlamaCppChat._stepping_aside``, ``_read_prompt``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from assistant import metrics

Priority = Literal["interactive", "background"]
PRIORITIES: tuple[Priority, ...] = ("interactive", "background")  # serving order


class FairLock:
    """A lock whose waiters are served by priority class, then arrival."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting: list[tuple[int, int]] = []  # (class rank, arrival), a heap
        self._arrivals = itertools.count()

    def waiting(self, priority: Priority) -> int:
        rank = PRIORITIES.index(priority)
        with self._cond:
            return sum(1 for r, _ in self._waiting if r == rank)

    @contextmanager
    def hold(self, priority: Priority = "interactive") -> Iterator[None]:
        ticket = (PRIORITIES.index(priority), next(self._arrivals))
        gauge = metrics.LLM_WAITING.labels(priority)
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            gauge.inc()
            try:
                while self._held or self._waiting[0] != ticket:
                    self._cond.wait()
            except BaseException:  # given up while waiting: the next in line may go
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._cond.notify_all()
                raise
            finally:
                gauge.dec()
            heapq.heappop(self._waiting)
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()
