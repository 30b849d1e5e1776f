"""A plugin whose hook name has a typo (and no marker): registration must refuse it by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def register_encoder(register: Callable[[Any], None]) -> None:
    register(object())
