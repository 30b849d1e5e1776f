"""The Slack adapter end to end: the real FastAPI app under uvicorn on loopback, a local fake of
the Slack Web API (and of files.slack.com) on loopback, and correctly signed Events API
requests. The LLM is LangChain's fake chat model; retrieval (Chroma + MiniLM) is real."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from assistant.api.app import create_app
from assistant.bots.settings import SlackBotSettings
from assistant.bots.slack import SlackBot
from assistant.services import Services
from tests.support.bots import CANNED, TENANT, RecordingDispatch, ServerThread
from tests.support.bots import eventually as wait_for
from tests.support.slack import (
    BOT_TOKEN,
    BOT_USER,
    CHANNEL,
    SIGNING_SECRET,
    TEAM,
    USER,
    Env,
    FakeSlack,
    event_body,
    post_event,
    replies_in,
    signed,
)

pytestmark = [pytest.mark.bots]


@pytest.fixture(scope="module")
def env(bot_services: Services, png_bytes: bytes) -> Iterator[Env]:
    fake = FakeSlack(png=png_bytes)
    with ServerThread(fake.app()) as fake_server:
        fake.url = fake_server.url
        settings = SlackBotSettings(
            _env_file=None,
            bot_token=SecretStr(BOT_TOKEN),
            signing_secret=SecretStr(SIGNING_SECRET),
            api_base_url=f"{fake.url}/api/",
            file_hosts=[f"127.0.0.1:{fake_server.port}"],
            allow_insecure_http=True,
            tenant=TENANT,
        )
        bot = SlackBot(bot_services, settings)
        bot_services.slack_bot = bot
        try:
            with ServerThread(create_app(services=bot_services)) as app_server:
                yield Env(fake, app_server.url, bot_services, bot)
        finally:
            bot_services.slack_bot = None


def test_url_verification_challenge(env: Env) -> None:
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    ).encode()
    r = post_event(env, body)
    assert r.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in r.text


def test_bad_stale_and_missing_signatures_are_401(env: Env) -> None:
    body = event_body(
        {"type": "app_mention", "user": USER, "text": "hi", "ts": "1.1", "channel": CHANNEL},
        "EvBAD",
    )
    url = f"{env.base}/slack/events"
    wrong = signed(body, secret="not-the-secret")
    stale = signed(body, ts=int(time.time()) - 600)
    tampered = signed(body)
    for headers, content in ((wrong, body), (stale, body), ({}, body), (tampered, body + b" ")):
        r = httpx.post(
            url, content=content, headers={"Content-Type": "application/json", **headers}
        )
        assert r.status_code == 401, (headers, r.text)
    time.sleep(0.3)
    assert replies_in(env, "1.1") == []


def test_mention_with_image_answers_in_thread_with_sources(env: Env) -> None:
    ts = "1700000000.000100"
    event = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> How tall is the Eiffel Tower? Also, what is in this photo?",
        "ts": ts,
        "channel": CHANNEL,
        "client_msg_id": "c1",
        "files": [env.fake.file("photo.png", "image/png", 120)],
    }
    started = time.monotonic()
    r = post_event(env, event_body(event, "Ev0001"))
    assert r.status_code == 200
    assert time.monotonic() - started < 3.0  # acknowledged before the work is done

    [reply] = wait_for(lambda: replies_in(env, ts))
    assert reply["channel"] == CHANNEL
    assert reply["text"].startswith(CANNED.replace("**", "*"))
    # the attachment is numbered first, then the knowledge-base chunk it retrieved
    assert reply["text"].endswith("*Sources:* [1] photo.png · [2] eiffel.md")
    # the file was fetched from the allowed host, with the bot token, and reached the encoders
    # as a sniffed, stored MediaItem
    assert ("photo.png", f"Bearer {BOT_TOKEN}") in env.fake.downloads
    dispatch = env.services.dispatch
    assert isinstance(dispatch, RecordingDispatch)
    item = [i for i in dispatch.items if i.name == "photo.png"][-1]
    assert item.media_type == "image/png"
    assert item.path.read_bytes() == env.fake.png
    # working indicator: eyes added, then removed, on the question
    added = env.fake.named("reactions.add")
    assert {"channel": CHANNEL, "timestamp": ts, "name": "eyes"}.items() <= added[-1].items()
    wait_for(lambda: env.fake.named("reactions.remove"))
    # both turns persisted in the conversation for the thread
    conv = asyncio.run(env.bot.bridge.find_conversation(TENANT, f"slack:{TEAM}:{CHANNEL}:{ts}"))
    assert conv is not None
    history = env.services.db.history(TENANT, conv.id)
    assert [m.role for m in history] == ["user", "assistant"]
    assert "photo.png" in history[0].content
    assert [c["source"] for c in history[1].citations] == ["photo.png", "eiffel.md"]
    # temp files are gone
    assert not any((env.bot.bridge.temp_root).glob("in-*/*"))


def test_retry_and_duplicate_deliveries_get_one_answer(env: Env) -> None:
    ts = "1700000100.000200"
    event = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> hello",
        "ts": ts,
        "channel": CHANNEL,
    }
    body = event_body(event, "Ev0002")
    assert post_event(env, body).status_code == 200
    wait_for(lambda: replies_in(env, ts))
    retry = post_event(
        env, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retry.status_code == 200
    # the same message delivered as a plain message event (bot mention) is left to app_mention
    message = {**event, "type": "message", "channel_type": "channel"}
    assert post_event(env, event_body(message, "Ev0003")).status_code == 200
    time.sleep(1.0)
    assert len(replies_in(env, ts)) == 1


def test_thread_follow_up_without_mention_keeps_context(env: Env) -> None:
    root = "1700000200.000300"
    first = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> How tall is the Eiffel Tower?",
        "ts": root,
        "channel": CHANNEL,
    }
    post_event(env, event_body(first, "Ev0010"))
    wait_for(lambda: replies_in(env, root))
    follow = {
        "type": "message",
        "channel_type": "channel",
        "user": USER,
        "text": "And when was it built?",
        "ts": "1700000210.000400",
        "thread_ts": root,
        "channel": CHANNEL,
    }
    post_event(env, event_body(follow, "Ev0011"))
    replies = wait_for(lambda: len(replies_in(env, root)) >= 2 and replies_in(env, root))
    assert replies
    assert replies[1]["text"].startswith(CANNED)
    conv = asyncio.run(env.bot.bridge.find_conversation(TENANT, f"slack:{TEAM}:{CHANNEL}:{root}"))
    assert conv is not None
    history = env.services.db.history(TENANT, conv.id)
    assert [m.content for m in history if m.role == "user"] == [
        "How tall is the Eiffel Tower?",
        "And when was it built?",
    ]


def test_messages_outside_the_bots_threads_are_ignored(env: Env) -> None:
    other_thread = {
        "type": "message",
        "channel_type": "channel",
        "user": USER,
        "text": "unrelated",
        "ts": "1700000300.1",
        "thread_ts": "1700000299.9",
        "channel": CHANNEL,
    }
    plain = {
        "type": "message",
        "channel_type": "channel",
        "user": USER,
        "text": "chatter",
        "ts": "1700000301.1",
        "channel": CHANNEL,
    }
    from_bot = {
        "type": "message",
        "channel_type": "im",
        "bot_id": "B0OTHER",
        "text": "beep",
        "ts": "1700000302.1",
        "channel": "D0DM",
    }
    for i, event in enumerate((other_thread, plain, from_bot)):
        assert post_event(env, event_body(event, f"Ev002{i}")).status_code == 200
    time.sleep(0.8)
    for ts in ("1700000299.9", "1700000301.1", "1700000302.1"):
        assert replies_in(env, ts) == []


def test_direct_message_is_answered_in_thread(env: Env) -> None:
    ts = "1700000400.000500"
    dm = {
        "type": "message",
        "channel_type": "im",
        "user": USER,
        "text": "How tall is it?",
        "ts": ts,
        "channel": "D0DM",
    }
    post_event(env, event_body(dm, "Ev0030"))
    [reply] = wait_for(lambda: replies_in(env, ts))
    assert reply["channel"] == "D0DM"


def test_file_on_a_foreign_host_is_never_fetched(env: Env) -> None:
    ts = "1700000500.000600"
    bad = {
        **env.fake.file("steal.png", "image/png", 10, fid="F0BAD"),
        "url_private_download": "https://evil.invalid/x.png",
    }
    redirect = {**env.fake.file("hop.png", "image/png", 10, fid="F0HOP")}
    redirect["url_private_download"] = f"{env.fake.url}/files-pri/redirect/download/hop.png"
    event = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> look",
        "ts": ts,
        "channel": CHANNEL,
        "files": [bad, redirect],
    }
    before = len(env.fake.downloads)
    post_event(env, event_body(event, "Ev0040"))
    [reply] = wait_for(lambda: replies_in(env, ts))
    assert reply["text"].startswith(CANNED)  # the answer still comes, with notes for the files
    assert len(env.fake.downloads) == before
    conv = asyncio.run(env.bot.bridge.find_conversation(TENANT, f"slack:{TEAM}:{CHANNEL}:{ts}"))
    assert conv is not None
    assert "steal.png" in env.services.db.history(TENANT, conv.id)[0].content


def test_failure_posts_a_readable_error(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.errors import ServiceUnavailable

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ServiceUnavailable("the language model failed: connection refused")

    monkeypatch.setattr(env.services.orchestrator, "answer", broken)
    ts = "1700000600.000700"
    event = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> hi",
        "ts": ts,
        "channel": CHANNEL,
    }
    post_event(env, event_body(event, "Ev0050"))
    [reply] = wait_for(lambda: replies_in(env, ts))
    assert (
        reply["text"]
        == ":warning: Sorry, I could not answer that: the language model failed: connection refused"
    )
    wait_for(lambda: any(r.get("timestamp") == ts for r in env.fake.named("reactions.remove")))


def _command(env: Env, text: str, rid: str) -> httpx.Response:
    form = {
        "token": "legacy",
        "team_id": TEAM,
        "team_domain": "test",
        "channel_id": CHANNEL,
        "channel_name": "general",
        "user_id": USER,
        "user_name": "someone",
        "command": "/assistant",
        "text": text,
        "api_app_id": "A0APP",
        "response_url": f"{env.fake.url}/respond/{rid}",
        "trigger_id": "1.2.3",
    }
    body = urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
    return httpx.post(f"{env.base}/slack/events", content=body, headers=headers, timeout=10)


def test_slash_command_asks_and_ingests(env: Env) -> None:
    r = _command(env, "How tall is the Eiffel Tower?", "r1")
    assert r.status_code == 200 and "Working on it" in r.text
    answer = wait_for(
        lambda: [x for x in env.fake.responses if x.get("response_type") == "in_channel"]
    )
    assert answer[0]["text"].startswith("> How tall is the Eiffel Tower?\n" + CANNED)

    r = _command(env, "ingest", "r2")
    assert r.status_code == 200
    ingested = wait_for(lambda: [x for x in env.fake.responses if "notes.md" in x.get("text", "")])
    assert ingested[0]["text"].startswith("✓ notes.md:"), ingested
    assert any(d.source == "notes.md" for d in env.services.db.list_documents(TENANT))


def test_route_is_404_until_configured(
    bot_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    bot_services.slack_bot = None
    try:
        with TestClient(create_app(services=bot_services)) as client:
            assert client.post("/slack/events", content=b"{}").status_code == 404
            monkeypatch.setenv("ASSISTANT_SLACK_BOT_TOKEN", BOT_TOKEN)
            monkeypatch.setenv("ASSISTANT_SLACK_SIGNING_SECRET", SIGNING_SECRET)
            r = client.post(
                "/slack/events", content=b"{}", headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 401  # built from the environment; unsigned is refused
    finally:
        bot_services.slack_bot = None
