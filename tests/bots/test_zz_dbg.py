import logging
from tests.bots.test_discord import *  # noqa
from assistant.bots import discord_bot as db

async def test_dbg(bot, caplog, monkeypatch):
    orig = db.DiscordBot.on_message
    async def traced(self, message):
        print("on_message from", message.author, "content", message.content[:40])
        try:
            await orig(self, message)
        except BaseException as e:
            print("EXC", repr(e)); raise
        print("done")
    monkeypatch.setattr(db.DiscordBot, "on_message", traced)
    msg = await dpytest.message(f"<@{bot.user.id}> How tall?")
    print("queue", dpytest.runner.sent_queue.qsize())
    for cid, ms in dpytest.backend._cur_config.messages.items():
        print(cid, [m["content"][:30] for m in ms])
