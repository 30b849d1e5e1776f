"""A capable model behind the API, the encoders on real workers: the video's keyframes reach
the model by reference through the blob store (and are gone afterwards), and a scripted
``look_closer`` call runs the video encoder on that span in the video worker, whose frames the
answer then cites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import LLMSettings
from assistant.dispatch import CeleryClient, CeleryDispatch
from assistant.orchestrator import ChatInput, ChatTurn
from assistant.services import Services
from tests.support import media as mf
from tests.support.bots import ServerThread
from tests.support.cluster import Cluster
from tests.support.upstream import FakeUpstream

pytestmark = [pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module")
def video_worker(cluster: Cluster) -> Iterator[int]:
    cluster.start_worker("video", "cpu.video")
    try:
        yield int(cluster.wait_ready("cpu.video")["pid"])
    finally:
        cluster.kill("video")


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with ServerThread(fake.app()) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def roadmap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("roadmap")
    return mf.make_video(
        folder / "update.mp4",
        [(mf.photo("astronaut"), 3.0), (mf.text_image("ROADMAP"), 5.0)],
    )


async def test_look_closer_runs_on_the_video_worker_and_is_cited(
    cluster: Cluster,
    video_worker: int,
    upstream: tuple[FakeUpstream, str],
    roadmap: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = upstream
    fake.script = [
        {"tool": "look_closer", "arguments": {"attachment": 1, "start_s": 3.5, "end_s": 5.0}},
        {"content": "The slide says ROADMAP [2]."},
    ]
    sent: list[tuple[dict[str, Any], str, int]] = []
    real_call = CeleryClient.call

    async def spy(self: CeleryClient, task: str, kwargs: dict, queue: str, **kw: object):
        out = await real_call(self, task, kwargs, queue, **kw)  # type: ignore[arg-type]
        sent.append((kwargs.get("options") or {}, queue, out["pid"]))
        return out

    monkeypatch.setattr(CeleryClient, "call", spy)
    settings = cluster.settings()
    settings.llm = LLMSettings(
        provider="openai",
        base_url=f"{url}/v1",
        model_name="omni",
        tools=True,
        input_modalities=["text", "image"],
        video_keyframes=2,
    )
    services = Services.build(settings)
    assert isinstance(services.dispatch, CeleryDispatch)
    item = await services.attachments.stage(
        "default", roadmap.read_bytes(), "video/mp4", "update.mp4"
    )
    chat = ChatInput(
        tenant="default",
        messages=[ChatTurn("user", "What does the slide in the video say?")],
        attachments=[item],
    )
    try:
        answer = await services.orchestrator.answer(chat)
    finally:
        await services.dispatch.client.aclose()

    first, second = fake.requests
    images = [p for p in first["messages"][-1]["content"] if p["type"] == "image_url"]
    assert len(images) == 2  # keyframes, by reference from the worker, as data URLs
    assert all(p["image_url"]["url"].startswith("data:image/jpeg;base64,") for p in images)
    # the encode pass and the closer look both ran in the video worker, on its queue
    assert [(q, pid) for _, q, pid in sent] == [("cpu.video", video_worker)] * 2
    closer = sent[1][0]
    assert (closer["start_s"], closer["end_s"], closer["transcribe"]) == (3.5, 5.0, False)
    tool_reply = second["messages"][-1]
    assert tool_reply["role"] == "tool" and "ROADMAP" in tool_reply["content"]
    assert tool_reply["content"].count("at 00:0") >= 4  # more frames than the first pass kept
    assert answer.text == "The slide says ROADMAP [2]."
    new = answer.citations[1]
    assert (new.index, new.kind, new.source) == (2, "attachment", "update.mp4")
    assert new.start is not None and 3.5 <= new.start <= 5.0
    # the renditions were read once and deleted: only the video itself is stored
    blobs = Path(settings.storage.resolved_blob_url()) / "default"
    assert [p.name for p in blobs.iterdir() if p.suffix == ".jpg"] == []
