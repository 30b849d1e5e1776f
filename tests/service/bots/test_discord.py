"""The Discord adapter under dpytest (a fake Discord backend for discord.py).

dpytest has no thread support (creating a thread reaches its unimplemented HTTP route), so
``Message.create_thread`` is replaced with a stub that returns a separate text channel: what is
tested is that the answer goes to the channel the thread call returned and that the thread id
keys the conversation. Attachments are served by a local HTTP server standing in for the CDN.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response

from assistant.bots.discord_bot import DiscordBot
from assistant.bots.settings import DiscordBotSettings
from assistant.services import Services
from tests.support.bots import CANNED, TENANT, ServerThread

# the bot fixture and the tests share one event loop (the session's): discord.py schedules
# handlers on the loop the client was set up with, and dpytest waits for them on the test's
pytestmark = [
    pytest.mark.bots,
    pytest.mark.asyncio(loop_scope="session"),
]


class FakeCDN:
    def __init__(self, png: bytes):
        self.png = png
        self.fetched: list[str] = []
        self.app = FastAPI()

        @self.app.get("/attachments/{a}/{b}/{name}")
        async def attachment(a: str, b: str, name: str, request: Request) -> Response:  # noqa: ARG001 - the faked API's signature
            self.fetched.append(name)
            return Response(self.png, media_type="image/png")


@pytest.fixture(scope="module")
def cdn(png_bytes: bytes) -> Iterator[tuple[FakeCDN, ServerThread]]:
    fake = FakeCDN(png_bytes)
    with ServerThread(fake.app) as server:
        yield fake, server


def _settings(port: int, use_threads: bool) -> DiscordBotSettings:
    return DiscordBotSettings(
        _env_file=None,
        cdn_hosts=[f"127.0.0.1:{port}"],
        allow_insecure_http=True,
        tenant=TENANT,
        use_threads=use_threads,
        sync_commands=False,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def bot(
    bot_services: Services, cdn: tuple[FakeCDN, ServerThread], request: pytest.FixtureRequest
) -> AsyncIterator[DiscordBot]:
    use_threads = bool(getattr(request, "param", False))
    # dpytest's fake guilds need the member cache, hence every intent here
    client = DiscordBot(
        bot_services, _settings(cdn[1].port, use_threads), intents=discord.Intents.all()
    )
    await client._async_setup_hook()
    dpytest.configure(client, members=["alice", "bob"])
    client._connection.loop = client.loop  # dpytest's fresh state still needs the running loop
    yield client
    await dpytest.empty_queue()


def drain() -> list[discord.Message]:
    out: list[discord.Message] = []
    while True:
        try:
            out.append(dpytest.get_message())
        except asyncio.QueueEmpty:
            return out


async def test_mention_in_a_guild_channel_answers_with_sources(bot: DiscordBot) -> None:
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> How tall is the Eiffel Tower?")
    [reply] = drain()
    assert reply.content.startswith(CANNED)
    assert reply.content.endswith("**Sources:** [1] eiffel.md")
    assert reply.channel == dpytest.get_config().channels[0]


@pytest.mark.usefixtures("bot")
async def test_messages_without_a_mention_are_ignored() -> None:
    await dpytest.message("just chatting")
    assert drain() == []


async def test_direct_message_is_answered(bot: DiscordBot) -> None:
    member = dpytest.get_config().members[0]
    dm = await member.create_dm()
    await dpytest.message("How tall is the Eiffel Tower?", channel=dm, member=member)
    [reply] = drain()
    assert reply.channel == dm
    assert reply.content.startswith(CANNED)
    conv = await bot.bridge.find_conversation(TENANT, f"discord:dm:{dm.id}")
    assert conv is not None


async def test_attachment_is_downloaded_from_the_cdn_and_passed_on(
    bot: DiscordBot, cdn: tuple[FakeCDN, ServerThread]
) -> None:
    fake, server = cdn
    assert bot.user is not None
    url = f"{server.url}/attachments/111/222/photo.png"
    msg = await dpytest.message(f"<@{bot.user.id}> what is this?", attachments=[url])
    [reply] = drain()
    assert reply.content.startswith(CANNED)
    assert "photo.png" in fake.fetched
    assert "[1] photo.png" in reply.content
    key = f"discord:{msg.guild.id}:{msg.channel.id}:{msg.id}" if msg.guild else ""
    conv = await bot.bridge.find_conversation(TENANT, key)
    assert conv is not None
    history = bot.services.db.history(TENANT, conv.id)
    assert "photo.png" in history[0].content


async def test_attachment_from_another_host_is_not_fetched(
    bot: DiscordBot, cdn: tuple[FakeCDN, ServerThread]
) -> None:
    fake, _ = cdn
    assert bot.user is not None
    before = list(fake.fetched)
    await dpytest.message(
        f"<@{bot.user.id}> and this?", attachments=["https://evil.invalid/attachments/1/2/x.png"]
    )
    [reply] = drain()
    assert reply.content.startswith(CANNED)
    assert fake.fetched == before


async def test_long_answer_is_split_under_2000_characters(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.orchestrator import Answer, Usage

    paragraphs = [f"Paragraph {i}: " + "word " * 120 for i in range(12)]
    long_text = "\n\n".join(p.strip() for p in paragraphs)

    async def long_answer(chat: Any) -> Answer:  # noqa: ARG001 - the faked API's signature
        return Answer(long_text, [], Usage())

    monkeypatch.setattr(bot.services.orchestrator, "answer", long_answer)
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> tell me everything")
    replies = drain()
    assert len(replies) > 1
    assert all(len(r.content) <= 2000 for r in replies)
    # cut on paragraph boundaries: every piece starts a paragraph, nothing lost
    assert all(r.content.startswith("Paragraph ") for r in replies)
    assert "\n\n".join(r.content for r in replies) == long_text


@pytest.mark.parametrize("bot", [True], indirect=True)
async def test_guild_mention_replies_in_the_new_thread(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dpytest.get_config()
    thread_stand_in = dpytest.backend.make_text_channel("thread-stand-in", config.guilds[0])
    calls: list[dict[str, Any]] = []

    async def create_thread(self: discord.Message, **kwargs: Any) -> Any:  # noqa: ARG001 - the faked API's signature
        calls.append(kwargs)
        return thread_stand_in

    monkeypatch.setattr(discord.Message, "create_thread", create_thread)
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> How tall is the Eiffel Tower?")
    [reply] = drain()
    assert calls and calls[0]["name"] == "How tall is the Eiffel Tower?"
    assert reply.channel == thread_stand_in
    guild_id = config.guilds[0].id
    assert await bot.bridge.find_conversation(TENANT, f"discord:{guild_id}:{thread_stand_in.id}")


async def test_ask_slash_command_is_registered(bot: DiscordBot) -> None:
    command = bot.tree.get_command("ask")
    assert isinstance(command, discord.app_commands.Command)
    assert [p.name for p in command.parameters] == ["question"]
