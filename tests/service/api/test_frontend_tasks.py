"""A front end's own task completion (Open WebUI's title, tags, follow-ups) reaches the model as
the front end sent it: no knowledge-base sources, none of our grounding instructions; the same
words asked as a question are grounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.orchestrator.prompt import NO_SOURCES, SYSTEM
from tests.support.apps import RecordingChatModel, app_client, app_settings, chat_body, services_of
from tests.support.settings import AUTH

pytestmark = [pytest.mark.models]

NOTES = b"# Harbor E-Bike 2\n\nThe Harbor E-Bike 2 weighs 21.4 kilograms and costs 2,390 euros.\n"
HISTORY = (
    "### Chat History:\n<chat_history>\nUSER: How much does the Harbor E-Bike 2 weigh?\n"
    "ASSISTANT: It weighs 21.4 kilograms [1].\n</chat_history>"
)
TITLE_TASK = (  # Open WebUI's title prompt, shortened
    "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
    '### Output:\nJSON format: { "title": "your concise title here" }\n' + HISTORY
)


def test_a_task_prompt_is_sent_as_is_and_a_question_is_grounded(tmp_path: Path) -> None:
    with app_client(app_settings(tmp_path)) as c:
        recorder = RecordingChatModel(reply='{"title": "E-Bike weight"}')
        services = services_of(c)
        services.llm = services.orchestrator.llm = recorder
        response = c.post("/v1/documents", headers=AUTH, files={"file": ("bike.md", NOTES)})
        assert response.status_code == 201, response.text
        system = {"role": "system", "content": "You name chats."}
        body = chat_body(TITLE_TASK) | {
            "messages": [system, {"role": "user", "content": TITLE_TASK}]
        }
        response = c.post("/v1/chat/completions", headers=AUTH, json=body)
        assert response.status_code == 200, response.text
        completion = response.json()
        assert completion["choices"][0]["message"]["content"] == '{"title": "E-Bike weight"}'
        assert completion["citations"] == []
        [prompt] = recorder.prompts
        assert [(m.type, m.text) for m in prompt] == [
            ("system", "You name chats."),
            ("human", TITLE_TASK),
        ]
        # the same chat history asked about as a question: searched, sourced, instructed
        question = "Summarise this chat history: " + HISTORY
        response = c.post("/v1/chat/completions", headers=AUTH, json=chat_body(question))
        assert response.status_code == 200, response.text
        assert response.json()["citations"]
        grounded = recorder.prompts[-1]
        assert SYSTEM in grounded[0].text and '<source id="1"' in grounded[-1].text
        assert NO_SOURCES not in grounded[-1].text
