"""Hook specifications for assistant plugins (pluggy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from assistant.plugins.contract import Encoder

PROJECT = "assistant"
ENTRY_POINT_GROUP = "assistant.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
    """Register encoder instances by calling ``register(encoder)`` once per encoder.

    Construction must be cheap: no weights, no heavy imports (do that in ``Encoder.load``).
    """
