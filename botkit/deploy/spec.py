"""The pydantic models of a deployment file (``configs/bots/*.yaml``): one botkit server.

It says which surfaces run (the HTTP API and web page, Slack, Discord) and how, which GPT answers
where, who may use which GPT, how often, and how much text. Like GPT files it forbids unknown keys
and never holds a secret: only the *names* of the environment variables that hold them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from botkit.spec import SafetySpec

#: An environment variable's name (what every ``*_env`` field holds; a pasted token is not one).
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(value: str | None) -> str | None:
    if value is None:
        return None
    if not ENV_NAME.match(value):
        raise ValueError(
            "name the environment variable that holds the secret (like SLACK_BOT_TOKEN), "
            "never the secret itself: secrets do not belong in this file"
        )
    return value


class RateLimit(_Strict):
    """A token bucket per user: ``burst`` messages at once, refilled at ``per_minute``."""

    per_minute: float = Field(20, gt=0, description="Messages a user may send per minute.")
    burst: int = Field(10, gt=0, description="Messages a user may send at once.")


class AccessRule(_Strict):
    """Opens ``gpts`` to whoever matches every list given here (a list left out matches all)."""

    gpts: list[str] = Field(min_length=1, description="GPT names, or '*' for all of them.")
    users: list[str] = Field(default_factory=list, description="User ids (or names).")
    channels: list[str] = Field(default_factory=list, description="Channel ids (or names).")
    workspaces: list[str] = Field(
        default_factory=list, description="Slack workspace (team) or Discord guild ids."
    )
    roles: list[str] = Field(default_factory=list, description="Discord role ids or names.")
    api_keys: list[str] = Field(default_factory=list, description="Names of API keys.")
    surfaces: list[str] = Field(default_factory=list, description="api, slack, discord...")


class Access(_Strict):
    """Who may use which GPT. A GPT that no rule names is open to all unless ``default: deny``."""

    default: Literal["allow", "deny"] = "allow"
    rules: list[AccessRule] = Field(default_factory=list)


class Conversations(_Strict):
    share_threads: bool = Field(
        True, description="Everyone in a thread shares one conversation (else one per user)."
    )
    retention_days: float | None = Field(
        90, gt=0, description="Conversations idle longer are deleted (null: kept forever)."
    )
    max_history_turns: int = Field(200, gt=0, description="Turns read back for a prompt at most.")


class ApiKey(_Strict):
    name: str = Field(description="How access rules, logs and usage refer to this key.")
    env: str = Field(description="The environment variable holding the key.")

    _check_env = field_validator("env")(_env_name)


class ApiSurface(_Strict):
    """The OpenAI-compatible HTTP API, and the web chat page served by the same app."""

    enabled: bool = True
    host: str = Field("127.0.0.1", description="0.0.0.0 to listen on every interface.")
    port: int = Field(8000, ge=0, le=65535, description="0: a free port, printed at start.")
    api_keys: list[ApiKey] = Field(
        default_factory=list, description="Named keys, each from an environment variable."
    )
    api_keys_env: str | None = Field(
        "BOTKIT_API_KEYS",
        description="A variable holding comma-separated keys (KEY or NAME=KEY), added to api_keys.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    web_page: bool = Field(True, description="Serve the chat page at /.")
    gpts: list[str] = Field(
        default_factory=list, description="The GPTs served here (default: every GPT)."
    )
    metrics: bool = Field(True, description="Prometheus metrics at /metrics.")

    _check_env = field_validator("api_keys_env")(_env_name)


class SlackSurface(_Strict):
    enabled: bool = False
    mode: Literal["socket", "http"] = Field(
        "socket",
        description="socket: Socket Mode (needs the app token); http: events at /slack/events "
        "(needs the signing secret).",
    )
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    default_gpt: str | None = Field(
        None, description="The GPT answering here (default: the bot's)."
    )
    channels: dict[str, str] = Field(
        default_factory=dict, description="Channel id -> the GPT answering in it."
    )
    follow_threads: bool = Field(
        True, description="Answer follow-ups in threads the bot is in without a new @mention."
    )
    assistant: bool = Field(True, description="Answer in Slack's AI assistant side panel.")
    native_streaming: bool = Field(
        True, description="Stream with chat.startStream where the workspace has it."
    )
    slash_command: str = Field("/botkit", pattern=r"^/[a-z0-9_-]+$")
    translate_to: str = Field(
        "English", description="The language of the 'Translate with botkit' message shortcut."
    )
    api_url: str = Field(
        "https://slack.com/api/", description="Slack's Web API (another for GovSlack, say)."
    )

    _check_env = field_validator("bot_token_env", "app_token_env", "signing_secret_env")(_env_name)


class DiscordSurface(_Strict):
    enabled: bool = False
    token_env: str = "DISCORD_TOKEN"
    guild_env: str = Field(
        "BOTKIT_DISCORD_GUILD",
        description="A variable holding a guild id to sync slash commands to (development); "
        "unset: synced globally.",
    )
    default_gpt: str | None = None
    channels: dict[str, str] = Field(
        default_factory=dict, description="Channel id -> the GPT answering in it."
    )
    open_threads: bool = Field(
        True, description="Answer a mention in a new thread (one conversation per thread)."
    )
    sharded: bool = Field(False, description="Use discord.py's AutoShardedClient.")

    _check_env = field_validator("token_env", "guild_env")(_env_name)


class Surfaces(_Strict):
    api: ApiSurface = ApiSurface()
    slack: SlackSurface = SlackSurface()
    discord: DiscordSurface = DiscordSurface()


class BotSpec(_Strict):
    """One botkit server: what it serves, where, and to whom."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="botkit deployment",
        json_schema_extra={"$id": "botkit-bot"},
    )

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Lower-case id.")
    description: str = ""
    default_gpt: str = Field("assistant", description="The GPT answering where no route says.")
    command_prefix: str = Field(
        "!", min_length=1, max_length=3, description="Marks a command word in chat: !translate."
    )
    max_input_chars: int = Field(8000, gt=0, description="Longer messages are refused.")
    rate_limit: RateLimit | None = Field(RateLimit(), description="Per user; null: no limit.")
    access: Access = Access()
    conversations: Conversations = Conversations()
    storage: str = Field(
        "sqlite",
        description="sqlite (files under the data folder) or redis://host:port/db "
        "(several workers; default $BOTKIT_REDIS_URL when set).",
    )
    shutdown_grace: float = Field(
        30, ge=0, description="Seconds in-flight replies get to finish on SIGTERM."
    )
    all_or_nothing: bool = Field(
        False, description="Stop everything when one surface fails to start."
    )
    surfaces: Surfaces = Surfaces()
    safety: SafetySpec = Field(
        SafetySpec(),
        description="Redaction and moderation for every GPT (a GPT file may override).",
    )
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="US dollars per million prompt and completion tokens, per model name (over "
        "botkit's table), for the usage table.",
    )

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if value != "sqlite" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected 'sqlite' or a redis:// URL")
        if "@" in value:
            raise ValueError(
                "a password does not belong in this file: put the URL in $BOTKIT_REDIS_URL"
            )
        return value

    @model_validator(mode="after")
    def _a_surface(self) -> BotSpec:
        s = self.surfaces
        if not (s.api.enabled or s.slack.enabled or s.discord.enabled):
            raise ValueError("enable at least one surface (surfaces.api, slack or discord)")
        return self

    def gpt_names(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every GPT name the file mentions, with where (a field path), to check they exist."""
        found: list[tuple[tuple[str | int, ...], str]] = [(("default_gpt",), self.default_gpt)]
        for surface in ("slack", "discord"):
            spec = getattr(self.surfaces, surface)
            if spec.default_gpt:
                found.append((("surfaces", surface, "default_gpt"), spec.default_gpt))
            for channel, gpt in spec.channels.items():
                found.append((("surfaces", surface, "channels", channel), gpt))
        for i, gpt in enumerate(self.surfaces.api.gpts):
            found.append((("surfaces", "api", "gpts", i), gpt))
        for r, rule in enumerate(self.access.rules):
            for i, gpt in enumerate(rule.gpts):
                if gpt != "*":
                    found.append((("access", "rules", r, "gpts", i), gpt))
        return found


def bot_json_schema() -> dict[str, Any]:
    """The JSON Schema of deployment files (``botkit schema --bot``)."""
    schema = BotSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
