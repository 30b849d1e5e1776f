"""A grounded answer's numbers and names that nothing the model was given holds are named under
it, plain and streamed (the real app, embedder and Chroma; the model's reply is canned, since
the packaged model invents at will but not on cue)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.apps import app_client, app_settings, chat_body
from tests.support.settings import AUTH

pytestmark = [pytest.mark.models]

SHEET = (
    b"# Harbor E-Bike 2\n\nThe Harbor E-Bike 2 is a city bike made by Lumen Cycles in Porto. "
    b"It costs 2,390 euros and weighs 21.4 kilograms.\n"
)
INVENTED = "Lumen Cycles is run by Elena Kravitscheva; the bike costs 2390 euros [1]."
NOTE = "\n\n(The sources do not mention Elena Kravitscheva: check this answer.)"
QUESTION = "Who runs Lumen Cycles, and what does the Harbor E-Bike 2 cost?"


@contextmanager
def _app(root: Path, reply: str, **llm: Any) -> Iterator[TestClient]:
    settings = app_settings(root, llm={"provider": "fake", "fake_responses": [reply], **llm})
    with app_client(settings) as c:
        response = c.post("/v1/documents", headers=AUTH, files={"file": ("bike.md", SHEET)})
        assert response.status_code == 201, response.text
        yield c


TAGS_TASK = (  # Open WebUI's tags prompt, shortened
    "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history.\n"
    f"### Chat History:\n<chat_history>\nUSER: {QUESTION}\n</chat_history>"
)


def _completion(c: TestClient, question: str = QUESTION, **extra: Any) -> dict[str, Any]:
    response = c.post("/v1/chat/completions", headers=AUTH, json=chat_body(question, **extra))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _answer(c: TestClient, **extra: Any) -> str:
    return str(_completion(c, **extra)["choices"][0]["message"]["content"])


def _streamed(c: TestClient) -> tuple[list[str], list[str]]:
    """The content deltas, and the last chunk's ``unsupported``."""
    deltas: list[str] = []
    unsupported: list[str] = []
    body = chat_body(QUESTION, stream=True)
    with c.stream("POST", "/v1/chat/completions", headers=AUTH, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                event = json.loads(line[6:])
                unsupported = event.get("unsupported", unsupported)
                for choice in event["choices"]:
                    if choice["delta"].get("content"):
                        deltas.append(choice["delta"]["content"])
    return deltas, unsupported


def test_an_invented_name_is_named_under_the_answer_plain_and_streamed(tmp_path: Path) -> None:
    with _app(tmp_path, INVENTED) as c:
        completion = _completion(c)
        assert completion["choices"][0]["message"]["content"] == INVENTED + NOTE
        assert completion["unsupported"] == ["Elena Kravitscheva"]
        deltas, unsupported = _streamed(c)
        assert "".join(deltas) == INVENTED + NOTE and deltas[-1] == NOTE  # after the answer
        assert unsupported == ["Elena Kravitscheva"]


def test_an_answer_the_sources_hold_gets_no_note(tmp_path: Path) -> None:
    reply = "Lumen Cycles makes it in Porto; it costs 2390 euros and weighs 21.4 kg [1]."
    with _app(tmp_path, reply) as c:
        completion = _completion(c)
        assert completion["choices"][0]["message"]["content"] == reply
        assert completion["unsupported"] == []


def test_with_no_source_found_the_models_own_knowledge_is_named_too(tmp_path: Path) -> None:
    """Nothing in the knowledge base is near the question: the answer has no citation to be
    checked by, and the invented name is named all the same; one the question holds is not."""
    reply = "The Lighthouse Club was founded by Oskar Brandt in 1931."
    with _app(tmp_path, reply) as c:
        completion = _completion(c, "Who founded the Lighthouse Club?")
        assert completion["citations"] == []
        assert completion["unsupported"] == ["1931", "Oskar Brandt"]
        assert completion["choices"][0]["message"]["content"].endswith(
            "(The sources do not mention 1931, Oskar Brandt: check this answer.)"
        )


def test_json_a_front_ends_own_task_and_the_setting_off_get_no_note(tmp_path: Path) -> None:
    with _app(tmp_path / "on", INVENTED) as c:
        assert _answer(c, response_format={"type": "json_object"}) == INVENTED
        task = _completion(c, TAGS_TASK)  # its JSON is parsed, not read
        assert task["choices"][0]["message"]["content"] == INVENTED
        assert task["citations"] == [] and task["unsupported"] == []
        # background, yet a person reads it later (as a chat job's answer)
        assert _answer(c, service_tier="flex") == INVENTED + NOTE
    with _app(tmp_path / "off", INVENTED, flag_unsupported=False) as c:
        assert _answer(c) == INVENTED


def test_an_invention_said_again_is_named_again_and_an_earlier_answers_sources_stand(
    tmp_path: Path,
) -> None:
    """The client sends its conversation back, the earlier answer with its note: the model's
    own earlier words are no evidence for what that note named (the model repeating its
    invention), while what the earlier answer held unflagged still counts."""
    follow_up = "And who founded Lumen Cycles?"
    with _app(tmp_path, INVENTED) as c:
        earlier = _answer(c)
        assert earlier == INVENTED + NOTE
        messages = [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": earlier},
            {"role": "user", "content": follow_up},
        ]
        body = chat_body(follow_up) | {"messages": messages}
        response = c.post("/v1/chat/completions", headers=AUTH, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["unsupported"] == ["Elena Kravitscheva"]
        # an earlier answer the sources did not need to hold (a name the person accepted)
        messages[1]["content"] = "Lumen Cycles is run by Elena Kravitscheva [1]."
        response = c.post("/v1/chat/completions", headers=AUTH, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["unsupported"] == []
