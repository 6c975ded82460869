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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botkit.tasks import TaskResult

if TYPE_CHECKING:
    from botkit.core.reply import Citation

SLACK_MAX_FIELDS, SLACK_MAX_TEXT = 10, 2000
DISCORD_MAX_FIELDS, DISCORD_MAX_NAME, DISCORD_MAX_VALUE, DISCORD_MAX_TITLE = 25, 256, 1024, 256
DISCORD_MAX_TOTAL = 6000
DISCORD_MAX_DESCRIPTION = 4096
#: Characters of a source's snippet shown under it in a Discord embed.
DISCORD_SNIPPET = 160
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


def discord_citations_embed(citations: Sequence[Citation]) -> dict[str, Any]:
    """The numbered sources of an answer as an embed: ``[1] source > section (p. 3)`` and a short
    snippet each; sources past Discord's description limit are counted, not shown."""
    lines: list[str] = []
    size = 0
    for n, citation in enumerate(citations):
        line = f"**[{citation.number}]** {_cut(discord_escape(citation.where), DISCORD_MAX_NAME)}"
        if citation.snippet:
            snippet = discord_escape(" ".join(citation.snippet.split()))
            line += "\n> " + _cut(snippet, DISCORD_SNIPPET)
        after = len(citations) - n - 1
        room = len(f"\n… and {after} more") if after else 0  # to say what is left out
        if size + len(line) + room > DISCORD_MAX_DESCRIPTION:
            lines.append(f"… and {len(citations) - n} more")
            break
        lines.append(line)
        size += len(line) + 1
    return {"title": "Sources", "color": DISCORD_COLOUR, "description": "\n".join(lines)}


def as_json(task: str, result: TaskResult) -> dict[str, Any]:
    """The result's fields with its task name, for the HTTP API."""
    return {"task": task, "text": result.text(), "result": result.model_dump(mode="json")}


_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s)]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.MULTILINE)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


def markdown_to_mrkdwn(text: str) -> str:
    """A model's Markdown as Slack's mrkdwn: ``**bold**`` -> ``*bold*``, ``*it*`` -> ``_it_``,
    headings bold, ``[text](url)`` -> ``<url|text>``; code kept as it is; everything else
    escaped (so a ``<!channel>`` in the text stays text)."""
    out = []
    for n, part in enumerate(re.split(r"(```.*?```|`[^`\n]+`)", text, flags=re.S)):
        out.append(slack_escape(part) if n % 2 else _prose_to_mrkdwn(part))  # code: escaped only
    return "".join(out)


def _prose_to_mrkdwn(part: str) -> str:
    links: list[str] = []

    def keep(match: re.Match[str]) -> str:
        label = match.group(1).replace("|", "¦")
        links.append(f"<{match.group(2)}|{slack_escape(label)}>")
        return f"\x00{len(links) - 1}\x00"

    part = slack_escape(_LINK.sub(keep, part))
    part = _ITALIC.sub(r"_\1_", part)
    part = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", part)
    part = _HEADING.sub(r"*\1*", part)
    part = _STRIKE.sub(r"~\1~", part)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], part)


def slack_citations(citations: list[Any]) -> dict[str, Any]:
    """A context block listing the numbered sources of an answer."""
    items = [
        {"type": "mrkdwn", "text": _cut(slack_escape(c.label), SLACK_MAX_TEXT)}
        for c in citations[:SLACK_MAX_FIELDS]
    ]
    return {"type": "context", "elements": items}


def discord_citations(citations: list[Any]) -> dict[str, Any]:
    """An embed listing the numbered sources of an answer (within Discord's limits)."""
    lines = [discord_escape(c.label) for c in citations]
    description = _cut("\n".join(lines), 4096)
    return {"title": "Sources", "color": DISCORD_COLOUR, "description": description}
