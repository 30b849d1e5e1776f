"""Cross-modal retrieval: a text question finds the right image, audio segment and video
segment among a small mixed corpus, and the citation carries file and timestamp."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.orchestrator import ChatInput, ChatTurn
from assistant.services import Services
from tests.support import media

pytestmark = [pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = media.mixed_corpus(tmp_path_factory.mktemp("mixed"))
    media.save_image(media.text_image("INVOICE 4711"), folder / "scan.png")
    return folder


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Services:
    from pydantic import SecretStr

    from assistant.config import Settings

    settings = Settings(
        storage={"data_dir": tmp_path_factory.mktemp("media-data")},
        api={"api_keys": [SecretStr("k")]},
        llm={"provider": "fake"},
    )
    services = Services.build(settings)
    loop = asyncio.new_event_loop()
    try:
        for path in sorted(corpus.iterdir()):
            loop.run_until_complete(services.ingest.ingest("default", path.name, path.read_bytes()))
    finally:
        loop.close()
    return services


QUERIES = [
    ("a cup of coffee", "breakfast.png"),
    ("a photo of a cat", "pet.jpg"),
    ("a space rocket launch", "launch.png"),
    ("invoice number", "scan.png"),
    ("how much money is in the marketing budget", "budget.wav"),
    ("where do we go on summer holiday", "holiday.wav"),
    ("when does the Berlin office open", "update.mp4"),
    ("tomatoes and sunlight", "notes.md"),
]


def test_text_queries_find_media_by_content(services: Services) -> None:
    hits_at_1 = 0
    hits_at_3 = 0
    for query, expected in QUERIES:
        hits = services.store.search("default", query, 3)
        sources = [h.metadata["source"] for h in hits]
        hits_at_1 += sources[0] == expected
        hits_at_3 += expected in sources
    recall_at_3 = hits_at_3 / len(QUERIES)
    figures = f"mixed-corpus recall@1={hits_at_1 / len(QUERIES):.2f} recall@3={recall_at_3:.2f}"
    assert recall_at_3 >= 0.85, figures
    assert hits_at_1 >= 6, figures


def test_media_segments_carry_modality_and_timestamps(services: Services) -> None:
    [hit] = services.store.search("default", "when does the Berlin office open", 1)
    assert hit.metadata["source"] == "update.mp4"
    assert hit.metadata["modality"] == "video" and hit.metadata["kind"] == "speech"
    assert 2.0 <= hit.metadata["start"] <= 4.5  # the speech starts at 3 s


def test_answer_cites_file_and_timestamp(services: Services) -> None:
    chat = ChatInput(tenant="default", messages=[ChatTurn("user", "What is the marketing budget?")])
    answer = asyncio.run(services.orchestrator.answer(chat))
    assert answer.citations[0].source == "budget.wav"
    assert answer.citations[0].kind == "media" and answer.citations[0].start is not None


def test_reingesting_media_replaces_its_chunks(services: Services, corpus: Path) -> None:
    before = services.store.count("default")
    data = (corpus / "budget.wav").read_bytes()
    asyncio.run(services.ingest.ingest("default", "budget.wav", data))
    assert services.store.count("default") == before
