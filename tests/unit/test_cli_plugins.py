"""A broken plugin stops the commands at start-up with a message that names it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.config import get_settings


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # each command reads this test's environment
    yield
    get_settings.cache_clear()  # and leaves nothing of it behind


def test_a_misspelled_hook_stops_serve_and_plugins_naming_the_plugin(tmp_path: object) -> None:
    env = {
        "ASSISTANT_WORKERS__PLUGIN_MODULES": json.dumps(["tests.support.plugins.misspelled"]),
        "ASSISTANT_PLUGINS__ALLOW": json.dumps(["documents"]),
        "ASSISTANT_STORAGE__DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()
    for command in (["plugins"], ["serve", "--port", "9"]):
        result = runner.invoke(main, command, env=env)
        assert result.exit_code == 1, (command, result.output)
        assert "plugin 'tests.support.plugins.misspelled' implements no hook" in result.output
        assert "'register_encoder' is not a hook" in result.output


@pytest.mark.parametrize("allow", [["documents"], ["documents", "whisper", "vision", "video"]])
def test_plugins_lists_the_registry(allow: list[str]) -> None:
    result = CliRunner().invoke(
        main, ["plugins"], env={"ASSISTANT_PLUGINS__ALLOW": json.dumps(allow)}
    )
    assert result.exit_code == 0, result.output
    names = {p["name"] for p in json.loads(result.output)["plugins"]}
    assert names == set(allow)
