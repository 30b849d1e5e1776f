"""Per-stage progress of a running job, saved to its row and pushed to local listeners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SaveProgress = Callable[[str, dict[str, dict[str, Any]]], None]


class Progress:
    def __init__(self, save: SaveProgress, job_id: str) -> None:
        self.save = save
        self.job_id = job_id
        self.stages: dict[str, dict[str, Any]] = {}

    def stage(
        self, name: str, *, done: int = 0, total: int | None = None, state: str = "running"
    ) -> None:
        entry = self.stages.setdefault(name, {"done": 0, "total": total, "state": state})
        entry.update({"done": done, "state": state})
        if total is not None:
            entry["total"] = total
        self.save(self.job_id, self.stages)
