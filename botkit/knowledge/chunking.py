"""Split sections into chunks of about ``chunk_size`` tokens, overlapping by ``chunk_overlap``.

A chunk never crosses a heading (each section is chunked on its own) and prefers to end at a
paragraph, then a sentence; a fenced code block that fits in a chunk is never split. A chunk is a
contiguous span of its section, so its offsets point back into the source.

Tokens are counted as words and punctuation marks (``\\w+|[^\\w\\s]``): close to what subword
tokenizers count for prose, and the same for every embedder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from botkit.knowledge.documents import Section

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_BLANK = re.compile(r"\n[ \t]*\n")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Chunk:
    text: str
    title: str
    page: int | None
    start: int
    end: int


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


def chunk_sections(
    sections: list[Section], chunk_size: int = 200, chunk_overlap: int = 40
) -> list[Chunk]:
    chunks = []
    for section in sections:
        units = list(_units(section.text, chunk_size))
        for first, last in _pack(units, chunk_size, chunk_overlap):
            a, b = units[first].start, units[last].end
            text = section.text[a:b].strip()
            if text:
                lead = len(section.text[a:b]) - len(section.text[a:b].lstrip())
                start = section.start + a + lead
                chunks.append(Chunk(text, section.title, section.page, start, start + len(text)))
    return chunks


def _units(text: str, size: int) -> Iterator[_Unit]:
    """The pieces a chunk may end between: paragraphs and whole code blocks, else sentences."""
    for start, end, is_code in _blocks(text):
        tokens = count_tokens(text[start:end])
        if tokens <= size:
            yield _Unit(start, end, tokens)
        elif is_code:
            yield from _split_lines(text, start, end, size)
        else:
            yield from _split_sentences(text, start, end, size)


def _blocks(text: str) -> Iterator[tuple[int, int, bool]]:
    """Paragraphs (split at blank lines) and fenced code blocks, as (start, end, is_code)."""
    pos = 0
    for fence in re.finditer(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", text, flags=re.M | re.S):
        yield from _paragraphs(text, pos, fence.start())
        yield fence.start(), fence.end(), True
        pos = fence.end()
    yield from _paragraphs(text, pos, len(text))


def _paragraphs(text: str, start: int, end: int) -> Iterator[tuple[int, int, bool]]:
    pos = start
    for gap in _BLANK.finditer(text, start, end):
        if text[pos : gap.start()].strip():
            yield pos, gap.start(), False
        pos = gap.end()
    if text[pos:end].strip():
        yield pos, end, False


def _split_sentences(text: str, start: int, end: int, size: int) -> Iterator[_Unit]:
    pos = start
    for gap in _SENTENCE_END.finditer(text, start, end):
        yield from _fit(text, pos, gap.start(), size)
        pos = gap.end()
    yield from _fit(text, pos, end, size)


def _split_lines(text: str, start: int, end: int, size: int) -> Iterator[_Unit]:
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl == -1 else nl + 1
        yield from _fit(text, pos, stop, size)
        pos = stop


def _fit(text: str, start: int, end: int, size: int) -> Iterator[_Unit]:
    """A span as one unit, or cut every ``size`` tokens when even it is too long."""
    matches = list(_TOKEN.finditer(text, start, end))
    if len(matches) <= size:
        if matches:
            yield _Unit(start, end, len(matches))
        return
    for i in range(0, len(matches), size):
        window = matches[i : i + size]
        stop = matches[i + size].start() if i + size < len(matches) else end
        yield _Unit(window[0].start(), stop, len(window))


def _pack(units: list[_Unit], size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy packing of units into (first, last) index ranges, each next one re-using the tail."""
    first = 0
    while first < len(units):
        last, tokens = first, units[first].tokens
        while last + 1 < len(units) and tokens + units[last + 1].tokens <= size:
            last += 1
            tokens += units[last].tokens
        yield first, last
        if last + 1 >= len(units):
            return
        nxt, carried = last + 1, 0
        while nxt - 1 > first and carried + units[nxt - 1].tokens <= overlap:
            if carried + units[nxt - 1].tokens + units[last + 1].tokens > size:
                break
            nxt -= 1
            carried += units[nxt].tokens
        first = nxt
