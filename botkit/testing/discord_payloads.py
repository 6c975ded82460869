"""Discord's JSON objects as the stub sends them, and the limits Discord checks on what it receives.

Pure functions, no server: snowflakes, users, members, roles, channels, threads, guilds and
messages in the shapes of Discord's API v10 (ids as snowflake strings), and checks of outgoing
messages and application commands against Discord's documented limits, answering with the
``50035 Invalid Form Body`` error Discord gives. :mod:`botkit.testing.discord_stub` builds on them.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1  # privileged
GUILD_PRESENCES = 1 << 8  # privileged
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15  # privileged
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Application flags Discord reports for a bot in fewer than 100 servers whose privileged
# intents are switched on in the developer portal.
APP_FLAG_PRESENCE_LIMITED = 1 << 13
APP_FLAG_GUILD_MEMBERS_LIMITED = 1 << 15
APP_FLAG_MESSAGE_CONTENT_LIMITED = 1 << 19

# Channel types.
GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = (10, PUBLIC_THREAD, PRIVATE_THREAD)

# Message flags.
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

ALL_PERMISSIONS = (1 << 53) - 1


class Snowflakes:
    """Unique, increasing snowflake ids whose timestamp is the time they were made."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            self._last = max(now, self._last + 1)
            return self._last


def timestamp(at: datetime | None = None) -> str:
    """An ISO 8601 timestamp as Discord writes them."""
    return (at or datetime.now(timezone.utc)).isoformat()


def user(user_id: int, username: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": None if bot else username.capitalize(),
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
    }


def role(role_id: int, name: str, permissions: int, *, position: int = 0) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def member(user_data: dict[str, Any], roles: list[int], joined_at: str) -> dict[str, Any]:
    return {
        "user": user_data,
        "nick": None,
        "avatar": None,
        "roles": [str(r) for r in roles],
        "joined_at": joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


def text_channel(
    channel_id: int,
    guild_id: int,
    name: str,
    *,
    position: int = 0,
    kind: int = GUILD_TEXT,
    topic: str | None = None,
    parent_id: int | None = None,
) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": kind,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": str(parent_id) if parent_id else None,
        "topic": topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def thread(
    thread_id: int,
    guild_id: int,
    parent_id: int,
    owner_id: int,
    name: str,
    *,
    kind: int = PUBLIC_THREAD,
    auto_archive_duration: int = 1440,
) -> dict[str, Any]:
    now = timestamp()
    return {
        "id": str(thread_id),
        "type": kind,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": now,
            "locked": False,
            "invitable": kind == PRIVATE_THREAD,
            "create_timestamp": now,
        },
    }


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": DM,
        "last_message_id": None,
        "recipients": [recipient],
        "flags": 0,
    }


def message(
    message_id: int,
    channel_id: int,
    author: dict[str, Any],
    content: str = "",
    **fields: Any,
) -> dict[str, Any]:
    """A message object; ``fields`` (embeds, components, guild_id, member...) are added as given."""
    data: dict[str, Any] = {
        "id": str(message_id),
        "type": 0,
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": timestamp(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "reactions": [],
        "pinned": False,
        "flags": 0,
    }
    data.update(fields)
    return data


def discord_error(status: int, message: str, code: int = 0) -> tuple[int, dict[str, Any]]:
    return status, {"message": message, "code": code}


# -- checks of what a client sends, against Discord's documented limits -----------------------

_COMMAND_NAME = re.compile(r"^[-_'\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")
_EMBED_LIMITS = {"title": 256, "description": 4096}
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000


class FormErrors:
    """Collects errors as Discord nests them under ``errors`` in a ``50035 Invalid Form Body``."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}

    def add(self, path: list[str | int], code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def too_long(self, path: list[str | int], value: Any, limit: int) -> None:
        if isinstance(value, (str, list)) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def body(self) -> dict[str, Any] | None:
        if not self.errors:
            return None
        return {"code": 50035, "errors": self.errors, "message": "Invalid Form Body"}


def check_message(body: dict[str, Any], *, files: int = 0, editing: bool = False) -> Any:
    """Discord's error body for a message ``body`` it would refuse, or ``None``."""
    errors = FormErrors()
    content = body.get("content")
    embeds = body.get("embeds") or []
    components = body.get("components") or []
    something = content or embeds or components or files or body.get("sticker_ids")
    if not editing and not something and not body.get("poll"):
        return {"message": "Cannot send an empty message", "code": 50006}
    errors.too_long(["content"], content, MAX_CONTENT)
    errors.too_long(["embeds"], embeds, MAX_EMBEDS)
    total = 0
    for i, embed in enumerate(embeds[:MAX_EMBEDS]):
        for key, limit in _EMBED_LIMITS.items():
            errors.too_long(["embeds", i, key], embed.get(key), limit)
            total += len(embed.get(key) or "")
        fields = embed.get("fields") or []
        errors.too_long(["embeds", i, "fields"], fields, 25)
        for j, field in enumerate(fields[:25]):
            errors.too_long(["embeds", i, "fields", j, "name"], field.get("name"), 256)
            errors.too_long(["embeds", i, "fields", j, "value"], field.get("value"), 1024)
            total += len(field.get("name") or "") + len(field.get("value") or "")
        footer, author = embed.get("footer") or {}, embed.get("author") or {}
        errors.too_long(["embeds", i, "footer", "text"], footer.get("text"), 2048)
        errors.too_long(["embeds", i, "author", "name"], author.get("name"), 256)
        total += len(footer.get("text") or "") + len(author.get("name") or "")
    if total > MAX_EMBED_TOTAL:
        errors.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    if not int(body.get("flags") or 0) & (1 << 15):  # components v2 have other rules
        errors.too_long(["components"], components, 5)
        for i, row in enumerate(components[:5]):
            children = row.get("components") or []
            errors.too_long(["components", i, "components"], children, 5)
            for j, child in enumerate(children[:5]):
                path: list[str | int] = ["components", i, "components", j]
                errors.too_long([*path, "custom_id"], child.get("custom_id"), 100)
                errors.too_long([*path, "label"], child.get("label"), 80)
    return errors.body()


def check_commands(commands: list[dict[str, Any]]) -> Any:
    """Discord's error body for a bulk overwrite of ``commands`` it would refuse, or ``None``."""
    errors = FormErrors()
    per_type: dict[int, int] = {}
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type") or 1)
        per_type[kind] = per_type.get(kind, 0) + 1
        name = str(command.get("name") or "")
        if (kind, name) in seen:
            errors.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((kind, name))
        if kind == 1:
            _check_named(errors, [i], command)
            _check_options(errors, [i, "options"], command.get("options") or [])
        else:
            if not 1 <= len(name) <= 32:
                errors.add(
                    [i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
                )
            if command.get("description"):
                errors.add(
                    [i, "description"], "BASE_TYPE_MAX_LENGTH", "Must be 0 or fewer in length."
                )
        if _characters(command) > 4000:
            errors.add([i], "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")
    for kind, limit in ((1, 100), (2, 15), (3, 15)):
        if per_type.get(kind, 0) > limit:
            errors.add([], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return errors.body()


def _check_named(errors: FormErrors, path: list[str | int], item: dict[str, Any]) -> None:
    name = str(item.get("name") or "")
    if not _COMMAND_NAME.match(name) or name.lower() != name:
        errors.add(
            [*path, "name"],
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name is invalid: {name!r}",
        )
    description = str(item.get("description") or "")
    if not 1 <= len(description) <= 100:
        errors.add(
            [*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )


def _check_options(
    errors: FormErrors, path: list[str | int], options: list[dict[str, Any]]
) -> None:
    errors.too_long(path, options, 25)
    names: set[str] = set()
    optional_seen = False
    for j, option in enumerate(options[:25]):
        where = [*path, j]
        _check_named(errors, where, option)
        if option.get("name") in names:
            errors.add(
                [*where, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate"
            )
        names.add(str(option.get("name")))
        if option.get("type") in (1, 2):
            _check_options(errors, [*where, "options"], option.get("options") or [])
            continue
        if option.get("required"):
            if optional_seen:
                errors.add(
                    [*where, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        errors.too_long([*where, "choices"], choices, 25)
        if choices and option.get("autocomplete"):
            errors.add(
                [*where, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                "Autocomplete cannot be enabled on options that have choices",
            )
        for k, choice in enumerate(choices[:25]):
            name = str(choice.get("name") or "")
            if not 1 <= len(name) <= 100:
                errors.add(
                    [*where, "choices", k, "name"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            errors.too_long([*where, "choices", k, "value"], choice.get("value"), 100)


def _characters(command: dict[str, Any]) -> int:
    """Characters that count towards Discord's 4,000 per command: names, descriptions, values."""
    total = len(str(command.get("name") or "")) + len(str(command.get("description") or ""))
    for option in command.get("options") or []:
        total += _characters(option)
        for choice in option.get("choices") or []:
            total += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return total
