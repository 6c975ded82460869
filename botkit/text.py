"""Long replies in platforms' messages: split where a reader expects it, never breaking code.

A reply is split at line ends, a line too long for one message at a space near its middle or end;
a fenced code block that has to continue in the next message is closed at the end of one message
and opened again, with its language, at the start of the next.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```|~~~)")
#: What closing a code block at the end of a message takes.
_CLOSE = "\n```"


def split_message(text: str, limit: int) -> list[str]:
    """``text`` as consecutive messages of at most ``limit`` characters each (``limit`` >= 40)."""
    if len(text) <= limit:
        return [text]
    room = limit - len(_CLOSE)
    longest = room // 2  # a line piece and a re-opened fence always fit together in one part
    parts: list[str] = []
    lines: list[str] = []
    fence: str | None = None  # the opening line of the code block the part ends inside

    def flush() -> None:
        nonlocal lines
        body = "\n".join(lines) + (_CLOSE if fence else "")
        if body.strip():
            parts.append(body)
        lines = [fence[:longest]] if fence else []

    for line in text.split("\n"):
        for piece in _pieces(line, longest):
            if lines and len("\n".join([*lines, piece])) > room:
                flush()
            lines.append(piece)
        if _FENCE.match(line):
            fence = None if fence else line.strip()
    body = "\n".join(lines)
    if body.strip() and lines != [fence]:
        parts.append(body)
    return parts


def _pieces(line: str, longest: int) -> list[str]:
    """A line cut into pieces of at most ``longest`` characters, at spaces where there are."""
    pieces = []
    while len(line) > longest:
        space = line.rfind(" ", 0, longest + 1)
        cut = space if space > longest // 2 else longest
        pieces.append(line[:cut])
        line = line[cut:].lstrip(" ") if space > longest // 2 else line[cut:]
    pieces.append(line)
    return pieces
