"""Settings for tests: one builder in code, one environment for child processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from assistant.config import Settings

TEST_KEY = "sk-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
MODEL = "smollm2-135m-instruct"


def clear_assistant_env() -> None:
    """Nothing from the developer's shell (ASSISTANT_*) may leak into a test."""
    for name in [n for n in os.environ if n.startswith("ASSISTANT_")]:
        del os.environ[name]


def build_settings(data_dir: Path, base: dict[str, Any] | None = None, **groups: Any) -> Settings:
    """Settings rooted in ``data_dir``, with the test key; ``groups`` update ``base`` by group."""
    clear_assistant_env()
    data: dict[str, Any] = {
        "storage": {"data_dir": data_dir},
        "api": {"api_keys": [SecretStr(TEST_KEY)]},
    }
    for source in (base or {}, groups):
        for group, values in source.items():
            if isinstance(values, dict):
                data.setdefault(group, {}).update(values)
            else:
                data[group] = values
    return Settings(_env_file=None, **data)


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an `assistant` child process: this one's, minus ASSISTANT_*, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        {
            "ASSISTANT_STORAGE__DATA_DIR": str(data_dir),
            "ASSISTANT_API__API_KEYS": f'["{TEST_KEY}"]',
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    env.update(extra)  # may override any of the above
    return env
