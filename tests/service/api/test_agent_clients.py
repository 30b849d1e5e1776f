"""Agent frameworks and CLIs as clients: pydantic-ai's structured output (a tool call by
default) and simonw's ``llm`` with ``--schema`` and ``-T``, against the running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.models, pytest.mark.slow]
MODEL = "smollm2-135m-instruct"


class City(BaseModel):
    name: str
    population: int


async def test_pydantic_ai_structured_output_and_tools(live_server: str) -> None:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    client = AsyncOpenAI(base_url=f"{live_server}/v1", api_key=TEST_KEY, max_retries=0)
    async with client:
        model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))
        result = await Agent(model, output_type=City).run("Give the name and population of Paris.")
        assert isinstance(result.output, City)  # the output tool's arguments matched the schema
        await _tool_run(model)


async def _tool_run(model: Any) -> None:
    from pydantic_ai import Agent

    agent = Agent(model)

    @agent.tool_plain
    def get_weather(city: str) -> str:  # noqa: ARG001 - the tool's schema comes from it
        """The current weather in a city."""
        return "18 degrees and raining"

    reply = await agent.run("What is the weather in Paris?")
    assert isinstance(reply.output, str) and reply.output  # a tool-offering run completes


def _llm(user_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLM_USER_PATH": str(user_dir), "LLM_ASSISTANT_KEY": TEST_KEY}
    return subprocess.run(
        [sys.executable, "-m", "llm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_llm_cli_schema_and_tools(live_server: str, tmp_path: Path) -> None:
    (tmp_path / "extra-openai-models.yaml").write_text(
        "- model_id: assistant\n"
        f"  model_name: {MODEL}\n"
        f"  api_base: {live_server}/v1\n"
        "  api_key_name: assistant\n"
        "  supports_tools: true\n"
        "  supports_schema: true\n"
    )
    keys = _llm(tmp_path, "keys", "set", "assistant", "--value", TEST_KEY)
    assert keys.returncode == 0, keys.stderr
    schema = _llm(tmp_path, "-m", "assistant", "--schema", "name, population int", "Paris")
    assert schema.returncode == 0, schema.stderr
    data = json.loads(schema.stdout)
    assert isinstance(data["name"], str) and isinstance(data["population"], int)
    tools = _llm(tmp_path, "-m", "assistant", "-T", "llm_time", "What time is it?", "--td")
    assert tools.returncode == 0, tools.stderr
    assert tools.stdout.strip()
