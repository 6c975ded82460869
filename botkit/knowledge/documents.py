"""Read source files into sections of text that keep where they came from.

Markdown, plain text, reStructuredText, HTML, PDF (pypdf), JSON and JSONL (a chosen text field).
A file that cannot be read (binary, empty, not UTF-8, too large, encrypted or corrupt PDF) raises
:class:`UnreadableFile` with a reason; the indexer skips it with a warning and goes on.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

#: Files larger than this are skipped (override per GPT with ``max_file_mb``).
DEFAULT_MAX_FILE_MB = 20.0

TEXT_SUFFIXES = {
    ".md",
    ".markdown",
    ".txt",
    ".text",
    ".rst",
    ".html",
    ".htm",
    ".pdf",
    ".json",
    ".jsonl",
}


class UnreadableFile(Exception):
    """A source file that is skipped; the message says why."""


@dataclass(frozen=True)
class Section:
    """A run of text under one heading (or on one PDF page, or one JSON record)."""

    text: str
    title: str = ""  # heading path, "Refunds > Timing"
    page: int | None = None
    start: int = 0  # character offset of ``text`` in the file's text
    end: int = 0  # (in the page's text for PDFs, in the record for JSON)


def read_sections(
    path: Path, text_field: str = "text", max_mb: float = DEFAULT_MAX_FILE_MB
) -> list[Section]:
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile("the file is empty")
    if size > max_mb * 1024 * 1024:
        raise UnreadableFile(
            f"the file is {size / 1024 / 1024:.0f} MB, over the {max_mb:g} MB limit (max_file_mb)"
        )
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _pdf(path)
    text = _text(path)
    if suffix in (".md", ".markdown"):
        return _markdown(text)
    if suffix == ".rst":
        return _rst(text)
    if suffix in (".html", ".htm"):
        return _html(text)
    if suffix == ".json":
        return _json_records(_json(text), text_field)
    if suffix == ".jsonl":
        return _jsonl(text, text_field)
    return [Section(text, "", None, 0, len(text))] if text.strip() else []


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise UnreadableFile("it looks like a binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"it is not UTF-8 text (byte {exc.start}); convert it, e.g. with iconv"
        ) from exc
    if not text.strip():
        raise UnreadableFile("the file has no text")
    return text


_FENCE = re.compile(r"^(```|~~~)")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _markdown(text: str) -> list[Section]:
    """Split at headings (never inside fenced code), keeping the heading path of each section.

    A heading with nothing under it before the next heading stays with that next section.
    """
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    start = 0
    pos = 0
    in_fence = False
    body = False  # has the current section any text besides its heading?
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            if body:
                _add(sections, text, start, pos, path)
                start = pos
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
            body = False
        elif line.strip():
            body = True
        pos += len(line)
    _add(sections, text, start, pos, path)
    return sections


def _add(
    sections: list[Section], text: str, start: int, end: int, path: list[tuple[int, str]]
) -> None:
    if text[start:end].strip():
        title = " > ".join(title for _, title in path)
        sections.append(Section(text[start:end], title, None, start, end))


_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")


def _rst(text: str) -> list[Section]:
    """reStructuredText headings are a title line underlined (and maybe overlined) with one character."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    levels: list[str] = []
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    start = 0
    for i in range(1, len(lines)):
        under = _RST_UNDERLINE.match(lines[i])
        title = lines[i - 1].strip()
        if (
            not under
            or not title
            or _RST_UNDERLINE.match(lines[i - 1])
            or len(lines[i].strip()) < len(title)
        ):
            continue
        char = under.group(1)
        if char not in levels:
            levels.append(char)
        level = levels.index(char)
        _add(sections, text, start, offsets[i - 1], path)
        path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
        start = offsets[i - 1]
    _add(sections, text, start, len(text), path)
    return sections


class _HTMLText(HTMLParser):
    _SKIP: ClassVar[set[str]] = {"script", "style", "noscript", "template"}
    _BLOCK: ClassVar[set[str]] = {
        "p",
        "div",
        "li",
        "tr",
        "br",
        "pre",
        "section",
        "article",
        "table",
        "ul",
        "ol",
        "blockquote",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.heading: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.heading = int(tag[1])
            self.out.append("\n\n" + "#" * self.heading + " ")
        elif tag in self._BLOCK:
            self.out.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif self.heading is not None and tag == f"h{self.heading}":
            self.heading = None
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data.replace("\n", " ") if self.heading else data)


def _html(text: str) -> list[Section]:
    """HTML becomes Markdown-like text (headings kept), then splits like Markdown."""
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # html.parser's answer to a malformed <![...[ section
        raise UnreadableFile(f"the HTML cannot be parsed ({exc})") from exc
    plain = re.sub(r"\n{3,}", "\n\n", "".join(parser.out)).strip() + "\n"
    return _markdown(plain)


def _pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings would repeat our one line

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise UnreadableFile("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableFile:
        raise
    except PdfReadError as exc:
        raise UnreadableFile(f"the PDF is corrupt ({exc})") from exc
    except Exception as exc:  # pypdf raises many types on damaged or AES-encrypted files
        raise UnreadableFile(f"the PDF cannot be read ({type(exc).__name__}: {exc})") from exc
    sections = [
        Section(text, "", number, 0, len(text))
        for number, text in enumerate(pages, 1)
        if text.strip()
    ]
    if not sections:
        raise UnreadableFile("the PDF has no extractable text (a scan?)")
    return sections


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UnreadableFile(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise UnreadableFile("invalid JSON: nested too deeply") from exc


def _json_records(data: object, field: str) -> list[Section]:
    records = data if isinstance(data, list) else [data]
    return [
        s for i, record in enumerate(records) if (s := _record(record, field, f"record {i + 1}"))
    ]


def _jsonl(text: str, field: str) -> list[Section]:
    sections = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise UnreadableFile(f"line {number} is not JSON: {exc}") from exc
        except RecursionError as exc:
            raise UnreadableFile(f"line {number} is not JSON: nested too deeply") from exc
        if section := _record(record, field, f"line {number}"):
            sections.append(section)
    return sections


def _record(record: object, field: str, where: str) -> Section | None:
    if not isinstance(record, dict) or field not in record:
        raise UnreadableFile(f"{where} has no {field!r} field (set text_field for this source)")
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        return None
    title = str(record.get("title") or record.get("id") or where)
    return Section(value, title, None, 0, len(value))
