import json

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from assistant.cli import main
from assistant.config import Settings, ensure_api_key, masked_dump


def test_env_prefix_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_LLM__PROVIDER", "openai")
    monkeypatch.setenv("ASSISTANT_LLM__BASE_URL", "http://127.0.0.1:9999/v1")
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__TOP_K", "7")
    settings = Settings()
    assert settings.llm.provider == "openai"
    assert settings.retrieval.top_k == 7


def test_bad_values_fail_at_start_up_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__TOP_K", "0")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()


def test_openai_provider_requires_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_LLM__PROVIDER", "openai")
    with pytest.raises(ValidationError, match="base_url is required"):
        Settings()


def test_chunk_overlap_must_be_below_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__CHUNK_SIZE", "200")
    monkeypatch.setenv("ASSISTANT_RETRIEVAL__CHUNK_OVERLAP", "200")
    with pytest.raises(ValidationError, match="chunk_overlap"):
        Settings()


def test_secrets_are_masked(make_settings) -> None:
    settings = make_settings(
        llm={"provider": "openai", "base_url": "http://x/v1", "api_key": "sk-secret"}
    )
    dumped = json.dumps(masked_dump(settings))
    assert "sk-secret" not in dumped
    assert "sk-test-key" not in dumped


def test_generated_key_is_persisted_privately(make_settings) -> None:
    settings = make_settings(api={"api_keys": []})
    key = ensure_api_key(settings)
    assert key and key.startswith("sk-local-")
    key_file = settings.storage.data_dir / "api_key"
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = make_settings(api={"api_keys": []})
    assert ensure_api_key(again) == key


def test_cli_config_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("ASSISTANT_API__API_KEYS", '["sk-very-secret"]')
    result = CliRunner().invoke(main, ["config"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    assert json.loads(result.output)["api"]["api_keys"] == ["**********"]


def test_cli_reports_invalid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("ASSISTANT_API__PORT", "99999")
    result = CliRunner().invoke(main, ["config"])
    get_settings.cache_clear()
    assert result.exit_code != 0
    assert "invalid configuration" in result.output and "port" in result.output
