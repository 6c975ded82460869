"""A task's typed result rendered for each surface: Slack blocks, a Discord embed, JSON over HTTP.

Adapters send these as they are; they are plain dicts (no Slack or Discord library needed here) and
respect each platform's limits (Slack: 10 fields of 2,000 characters per section; Discord: 25
fields, names of 256 and values of 1,024 characters, a title of 256, 6,000 in all).

Everything a user or a model wrote is escaped for the platform first: in Slack, ``&``, ``<`` and
``>`` (a translated ``<!channel>`` would otherwise ping a whole channel); in Discord, Markdown
characters and mentions (``@everyone``, ``<@id>``), which are also never allowed to ping.
"""

from __future__ import annotations

import re
from typing import Any

from botkit.tasks import TaskResult

SLACK_MAX_FIELDS, SLACK_MAX_TEXT = 10, 2000
DISCORD_MAX_FIELDS, DISCORD_MAX_NAME, DISCORD_MAX_VALUE, DISCORD_MAX_TITLE = 25, 256, 1024, 256
DISCORD_MAX_TOTAL = 6000
#: Discord embed colour: botkit blue.
DISCORD_COLOUR = 0x3B82F6


_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|\[\]])|^([>#-])", re.MULTILINE)
_DISCORD_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>")


def slack_escape(text: str) -> str:
    """Text shown as is in Slack: the three characters Slack gives meaning to are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord_escape(text: str) -> str:
    """Text shown as is in Discord: Markdown characters escaped, mentions made inert."""
    text = _DISCORD_MENTION.sub(lambda m: m.group(0).replace("@", "@\u200b"), text)
    return _DISCORD_MARKDOWN.sub(lambda m: "\\" + m.group(0), text)


def discord_mentions_inert(text: str) -> str:
    """Model-written Markdown for Discord: formatting kept, mentions made inert."""
    return _DISCORD_MENTION.sub(lambda m: m.group(0).replace("@", "@\u200b"), text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_blocks(task: str, result: TaskResult) -> list[dict[str, Any]]:
    """Block Kit blocks: the one-line answer, then the fields two by two."""
    fields = [
        {
            "type": "mrkdwn",
            "text": _cut(f"*{slack_escape(name)}*\n{slack_escape(value)}", SLACK_MAX_TEXT),
        }
        for name, value in result.fields()
    ]
    answer = _cut(slack_escape(result.text()), SLACK_MAX_TEXT)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": answer}}]
    for start in range(0, len(fields), SLACK_MAX_FIELDS):
        blocks.append({"type": "section", "fields": fields[start : start + SLACK_MAX_FIELDS]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"botkit · {task}"}]})
    return blocks


def discord_embed(task: str, result: TaskResult) -> dict[str, Any]:
    """An embed (the dict ``discord.Embed.from_dict`` takes); fields that would pass Discord's
    total size are left out."""
    title, footer = _cut(discord_escape(result.text()), DISCORD_MAX_TITLE), f"botkit · {task}"
    used = len(title) + len(footer)
    fields = []
    for name, value in result.fields()[:DISCORD_MAX_FIELDS]:
        name = _cut(discord_escape(name), DISCORD_MAX_NAME)
        value = _cut(discord_escape(value) or "-", DISCORD_MAX_VALUE)
        used += len(name) + len(value)
        if used > DISCORD_MAX_TOTAL:
            break
        fields.append({"name": name, "value": value, "inline": len(value) <= 40})
    return {"title": title, "color": DISCORD_COLOUR, "fields": fields, "footer": {"text": footer}}


def as_json(task: str, result: TaskResult) -> dict[str, Any]:
    """The result's fields with its task name, for the HTTP API."""
    return {"task": task, "text": result.text(), "result": result.model_dump(mode="json")}
