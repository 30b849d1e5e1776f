"""Dispatcher-side micro-batching (assistant/dispatch/batcher.py), with a send that records the
batches it is given and answers after a moment, as a worker would."""

from __future__ import annotations

import asyncio
from typing import Any

from assistant.dispatch.batcher import Entry, MicroBatcher, spread


def test_spread_keeps_batches_full_sized_and_even_over_the_consumers() -> None:
    assert spread(0, 8, 2) == []
    assert spread(1, 8, 2) == [1]
    assert spread(6, 8, 2) == [3, 3]  # not one task of 6 that one consumer runs alone
    assert spread(7, 8, 1) == [7]
    assert spread(22, 8, 2) == [6, 6, 5, 5]
    assert spread(128, 64, 2) == [64, 64]
    assert spread(130, 64, 2) == [33, 33, 32, 32]
    assert all(max(spread(n, 8, 3)) <= 8 and sum(spread(n, 8, 3)) == n for n in range(1, 60))


def _recording_batcher(batches: list[list[Any]], consumers: int, max_batch: int) -> MicroBatcher:
    async def send(batch: list[Entry]) -> list[Any]:
        batches.append([e.payload for e in batch])
        await asyncio.sleep(0.02 * len(batch))  # a consumer's time grows with its batch
        return [f"done {e.payload}" for e in batch]

    return MicroBatcher(send, max_batch, window_s=0.5, parallelism=lambda: consumers)


async def test_an_idle_system_sends_at_once_and_a_busy_one_batches_evenly() -> None:
    batches: list[list[Any]] = []
    batcher = _recording_batcher(batches, consumers=2, max_batch=8)
    futures = [f for i in range(12) for f in batcher.submit([i])]
    assert await asyncio.gather(*futures) == [f"done {i}" for i in range(12)]
    # two consumers idle: the first two go alone; the other ten wait for a consumer, then go as
    # an even split for both consumers rather than as one batch of ten
    assert batches[:2] == [[0], [1]]
    assert sorted(len(b) for b in batches[2:]) == [5, 5]
    assert sorted(p for b in batches for p in b) == list(range(12))


async def test_a_busy_system_sends_batches_of_at_most_the_batch_size() -> None:
    batches: list[list[Any]] = []
    batcher = _recording_batcher(batches, consumers=1, max_batch=4)
    futures = [f for i in range(11) for f in batcher.submit([i])]
    await asyncio.gather(*futures)
    assert batches[0] == [0]  # the idle consumer's
    assert [len(b) for b in batches[1:]] == [4, 3, 3]  # ten waiting: three tasks, even
    assert [p for b in batches for p in b] == list(range(11))  # in the order they came
