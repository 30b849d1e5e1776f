"""Bot settings, separate from the core ``Settings`` (environment prefixes ``ASSISTANT_SLACK_``
and ``ASSISTANT_DISCORD_``). Secrets are ``SecretStr``: they never appear in logs or dumps."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _hosts(value: list[str]) -> list[str]:
    hosts = [h.strip().lower() for h in value if h.strip()]
    for h in hosts:
        if "/" in h or "@" in h:
            raise ValueError(f"{h!r} is not a host name (use host or host:port, no scheme or path)")
    return hosts


class SlackBotSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_SLACK_", env_file=".env", extra="ignore"
    )

    bot_token: SecretStr = SecretStr("")  # xoxb-...
    signing_secret: SecretStr = SecretStr("")  # HTTP Events API
    app_token: SecretStr = SecretStr("")  # xapp-..., Socket Mode only
    # Slack Web API base URL; tests point it at a local fake
    api_base_url: str = "https://slack.com/api/"
    # hosts (host or host:port) the bot token may be sent to when downloading files
    file_hosts: list[str] = Field(default_factory=lambda: ["files.slack.com"])
    # plain http downloads: only for local fakes in tests
    allow_insecure_http: bool = False
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1)
    max_files: int = Field(8, ge=0)
    download_timeout_s: float = Field(30.0, gt=0)
    # tenant for every workspace; empty = the core default_tenant. team_tenants overrides per team
    tenant: str = ""
    team_tenants: dict[str, str] = Field(default_factory=dict)
    # reaction shown while the assistant works (empty = none)
    working_reaction: str = "eyes"
    # how long event ids and message ids are remembered to drop Slack's retries
    dedupe_ttl_s: float = Field(3600.0, gt=0)

    @field_validator("file_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        return _hosts(value)

    @property
    def configured(self) -> bool:
        return bool(self.bot_token.get_secret_value() and self.signing_secret.get_secret_value())


class DiscordBotSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_DISCORD_", env_file=".env", extra="ignore"
    )

    bot_token: SecretStr = SecretStr("")
    # hosts attachments may be downloaded from
    cdn_hosts: list[str] = Field(
        default_factory=lambda: ["cdn.discordapp.com", "media.discordapp.net"]
    )
    allow_insecure_http: bool = False
    max_file_bytes: int = Field(25 * 1024 * 1024, ge=1)
    max_files: int = Field(8, ge=0)
    download_timeout_s: float = Field(30.0, gt=0)
    tenant: str = ""
    guild_tenants: dict[str, str] = Field(default_factory=dict)
    # answer in a new thread created from the question (guild channels only)
    use_threads: bool = True
    # register the /ask slash command with Discord on start-up
    sync_commands: bool = True

    @field_validator("cdn_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        return _hosts(value)

    @property
    def configured(self) -> bool:
        return bool(self.bot_token.get_secret_value())
