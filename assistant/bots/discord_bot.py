"""The Discord adapter (discord.py): mentions, DMs, follow-ups in its threads, attachments, /ask.

In a guild channel a mention starts a thread from the question and the answer goes there; the
thread is one conversation (``discord:{guild}:{thread}``), so later messages in it need no
mention. In DMs the bot just replies; one DM channel is one conversation. Answers longer than
Discord's 2000 characters are split on paragraph, line or word boundaries.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from assistant.bots.common import (
    BotBridge,
    Downloaded,
    Incoming,
    TTLSet,
    download,
    format_sources,
    safe_filename,
    split_message,
    strip_mentions,
    user_error,
)
from assistant.bots.settings import DiscordBotSettings
from assistant.errors import AssistantError, PayloadTooLarge
from assistant.orchestrator import Answer, Finding
from assistant.services import Services

log = logging.getLogger(__name__)

DISCORD_LIMIT = 2000
NO_PINGS = discord.AllowedMentions.none()


def render_answer(answer: Answer) -> str:
    body = answer.text.strip() or "*(no answer)*"
    sources = format_sources(answer.citations, bold="**")
    return f"{body}\n\n{sources}" if sources else body


def thread_name(text: str) -> str:
    name = " ".join(text.split())[:90]
    return name or "Assistant"


class DiscordBot(commands.Bot):
    def __init__(
        self,
        services: Services,
        settings: DiscordBotSettings | None = None,
        *,
        intents: discord.Intents | None = None,
        **kwargs: Any,
    ) -> None:
        if intents is None:  # guilds + messages (defaults) and message content
            intents = discord.Intents.default()
            intents.message_content = True  # privileged: enable it in the developer portal too
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, help_command=None, **kwargs
        )
        self.services = services
        self.settings = settings or DiscordBotSettings()
        self.bridge = BotBridge(services)
        self.seen = TTLSet(3600.0)
        self.tree.add_command(
            app_commands.Command(
                name="ask",
                description="Ask the assistant a question",
                callback=self._ask_command,
            )
        )

    async def setup_hook(self) -> None:
        if self.settings.sync_commands:
            await self.tree.sync()

    def tenant_for(self, guild: discord.Guild | None) -> str:
        s = self.settings
        by_guild = s.guild_tenants.get(str(guild.id)) if guild is not None else None
        return by_guild or s.tenant or self.services.settings.default_tenant

    # --- messages -------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None:
            return
        guild = message.guild
        tenant = self.tenant_for(guild)
        mentioned = any(u.id == self.user.id for u in message.mentions)
        if guild is None:
            key = f"discord:dm:{message.channel.id}"
        elif isinstance(message.channel, discord.Thread):
            key = f"discord:{guild.id}:{message.channel.id}"
            if not mentioned and await self.bridge.find_conversation(tenant, key) is None:
                return  # a thread the assistant is not part of
        elif mentioned:
            key = ""  # decided once the thread exists
        else:
            return
        if not self.seen.add(f"msg:{message.id}"):
            return
        text = strip_mentions(message.content)
        target: discord.abc.Messageable = message.channel
        if not key:
            target, key = await self._thread_for(message, text)
        async with target.typing():
            reply = await self._answer(tenant, key, text, message.attachments)
        for i, piece in enumerate(split_message(reply, DISCORD_LIMIT)):
            if i == 0 and target is message.channel:
                await message.reply(piece, allowed_mentions=NO_PINGS, mention_author=False)
            else:
                await target.send(piece, allowed_mentions=NO_PINGS)

    async def _thread_for(
        self, message: discord.Message, text: str
    ) -> tuple[discord.abc.Messageable, str]:
        """A new thread from the question (guild channels), else the channel itself."""
        guild_id = message.guild.id if message.guild else "dm"
        if self.settings.use_threads:
            try:
                thread = await message.create_thread(
                    name=thread_name(text), auto_archive_duration=1440
                )
                return thread, f"discord:{guild_id}:{thread.id}"
            except discord.HTTPException as exc:  # no Create Public Threads permission, ...
                log.warning("discord: could not start a thread (%s); replying in channel", exc)
        return message.channel, f"discord:{guild_id}:{message.channel.id}:{message.id}"

    async def _answer(
        self, tenant: str, key: str, text: str, attachments: list[discord.Attachment]
    ) -> str:
        folder = self.bridge.temp_dir() if attachments else None
        try:
            incoming = Incoming()
            if folder is not None:
                downloaded, notes = await self.fetch_attachments(attachments, folder)
                incoming = await self.bridge.stage(tenant, downloaded, notes)
            answer = await self.bridge.answer(tenant, key, text, title=text[:80], incoming=incoming)
            return render_answer(answer)
        except Exception as exc:
            if not isinstance(exc, AssistantError):
                log.exception("discord: answering failed")
            else:
                log.warning("discord: answering failed: %s", exc.message)
            return f"⚠️ Sorry, I could not answer that: {user_error(exc)}"
        finally:
            self.bridge.cleanup(folder)

    async def fetch_attachments(
        self, attachments: list[discord.Attachment], folder: Path
    ) -> tuple[list[Downloaded], list[Finding]]:
        """Download attachments, from Discord's CDN hosts only."""
        s = self.settings
        downloaded: list[Downloaded] = []
        notes: list[Finding] = []
        for i, att in enumerate(attachments):
            name = safe_filename(att.filename, f"file-{i + 1}")
            declared = att.content_type
            if i >= s.max_files:
                notes.append(Finding(name, declared or "", error="too many attachments"))
                continue
            try:
                if att.size and att.size > s.max_file_bytes:
                    raise PayloadTooLarge(f"{name} is larger than the bot's file limit")
                path = folder / f"{i:02d}-{name}"
                await download(
                    att.url,
                    path,
                    allowed_hosts=s.cdn_hosts,
                    max_bytes=s.max_file_bytes,
                    allow_http=s.allow_insecure_http,
                    timeout_s=s.download_timeout_s,
                )
                downloaded.append(Downloaded(path, name, declared))
            except AssistantError as exc:
                log.warning("discord: skipping attachment %s: %s", name, exc.message)
                notes.append(Finding(name, declared or "", error=exc.message))
            except Exception as exc:
                log.warning("discord: skipping attachment %s: %s", name, type(exc).__name__)
                notes.append(Finding(name, declared or "", error="it could not be downloaded"))
        return downloaded, notes

    # --- /ask -----------------------------------------------------------------------------

    async def _ask_command(self, interaction: discord.Interaction, question: str) -> None:
        await interaction.response.defer(thinking=True)
        channel_id = interaction.channel_id or 0
        guild_id = interaction.guild_id or "dm"
        key = f"discord:{guild_id}:{channel_id}:ask:{interaction.user.id}"
        reply = await self._answer(self.tenant_for(interaction.guild), key, question, [])
        for piece in split_message(f"> {question}\n{reply}", DISCORD_LIMIT):
            await interaction.followup.send(piece, allowed_mentions=NO_PINGS)


def run(services: Services, settings: DiscordBotSettings) -> None:
    """Connect to Discord and serve until interrupted (``assistant discord``)."""
    if not settings.bot_token.get_secret_value():
        raise AssistantError("set ASSISTANT_DISCORD_BOT_TOKEN to the bot's token")
    bot = DiscordBot(services, settings)
    bot.run(settings.bot_token.get_secret_value(), log_handler=None)
