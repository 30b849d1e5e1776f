"""Micro-batching on the dispatching side (a worker with prefetch 1 cannot gather messages).

``MicroBatcher`` collects the items for one encoder (or the text embedder) and sends what is
pending

- at once when fewer tasks of that kind are in flight than there are worker processes
  consuming its queue (an idle system pays no wait);
- otherwise (every consumer busy) when a task of that kind returns, or after the batching
  window at the latest.

So batches form exactly when the workers are saturated, across concurrent API requests. What is
pending goes as tasks of at most the batch size, spread evenly over a multiple of the consumers
(``spread``): the last 10 of a burst go to 2 workers as 5 + 5, not as a full batch of 8 and a
task of 2, one worker working through the 8 while the other idles. (A full batch used to go at
once, consumers busy or not; bench_workers.py showed those tails making batched vision slower
than one task per image once each pool process had one core.)
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.dispatch import propagation
from assistant.dispatch.protocol import task_sink


def spread(count: int, max_batch: int, consumers: int) -> list[int]:
    """Batch sizes for ``count`` items: at most ``max_batch`` each, as even as can be, over a
    number of tasks that is a multiple of ``consumers`` (so no consumer is left idle at the end
    while another works through a longer batch)."""
    if count <= 0:
        return []
    consumers = max(1, consumers)
    tasks = math.ceil(count / max(1, max_batch))
    tasks = min(count, math.ceil(tasks / consumers) * consumers)
    base, extra = divmod(count, tasks)
    return [base + 1] * extra + [base] * (tasks - extra)


@dataclass
class Entry:
    payload: Any
    future: asyncio.Future[Any]
    sink: list[str] | None  # where the task id goes (track_tasks of the submitter)
    carrier: dict[str, str]  # request/job ids and traceparent of the submitter


SendBatch = Callable[[list[Entry]], Awaitable[list[Any]]]


class MicroBatcher:
    def __init__(
        self,
        send: SendBatch,
        max_batch: int,
        window_s: float,
        parallelism: Callable[[], int],
    ) -> None:
        self.send = send
        self.max_batch = max(1, max_batch)
        self.window_s = window_s
        self.parallelism = parallelism
        self.pending: list[Entry] = []
        self.inflight = 0
        self._timer: asyncio.TimerHandle | None = None

    def submit(self, payloads: Sequence[Any]) -> list[asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        sink = task_sink()
        carrier = propagation.capture()
        entries = [Entry(p, loop.create_future(), sink, carrier) for p in payloads]
        self.pending.extend(entries)
        self._pump()
        return [e.future for e in entries]

    def _pump(self, timer: bool = False) -> None:
        self.pending = [e for e in self.pending if not e.future.done()]  # drop cancelled
        if not self.pending:
            self._cancel_timer()
            return
        consumers = self.parallelism()
        if timer or self.window_s <= 0 or self.inflight < consumers:
            for size in spread(len(self.pending), self.max_batch, consumers):
                self._flush(size)
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump(timer=True)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self, n: int) -> None:
        batch, self.pending = self.pending[:n], self.pending[n:]
        if not self.pending:
            self._cancel_timer()
        self.inflight += 1
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[Entry]) -> None:
        try:
            results = await self.send(batch)
        except BaseException as exc:
            results = [exc] * len(batch)
        finally:
            self.inflight -= 1
        for entry, result in zip(batch, results, strict=True):
            if entry.future.done():
                continue
            if isinstance(result, BaseException):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)
        self._pump()
