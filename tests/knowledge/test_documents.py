from __future__ import annotations

import json
from pathlib import Path

import pytest

from botkit.knowledge.documents import UnreadableFile, read_sections

from .pdf import make_pdf

MARKDOWN = """# Refunds

## Timing

Refunds take 5 business days.

```sh
# not a heading: inside a code block
acme refund --order 42
```

### Cards

Expired cards are handled by your bank.

## Eligibility
Within 14 days.
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_markdown_sections_keep_their_heading_path_and_offsets(tmp_path: Path) -> None:
    path = write(tmp_path, "r.md", MARKDOWN)
    sections = read_sections(path)
    assert [s.title for s in sections] == [
        "Refunds > Timing",
        "Refunds > Timing > Cards",
        "Refunds > Eligibility",
    ]
    assert "acme refund --order 42" in sections[0].text  # the code block did not split the section
    assert sections[0].text.startswith("# Refunds")  # an empty parent heading joins its first child
    for s in sections:
        assert MARKDOWN[s.start : s.end] == s.text


def test_rst_html_and_text(tmp_path: Path) -> None:
    rst = "Shipping\n========\n\nIntro.\n\nEurope\n------\n\nFour to seven days.\n"
    assert [s.title for s in read_sections(write(tmp_path, "s.rst", rst))] == [
        "Shipping",
        "Shipping > Europe",
    ]
    html = (
        "<html><head><style>p{}</style><script>var x;</script></head><body>"
        "<h1>Vault</h1><p>Holds 2 TB.</p><h2>Power</h2><p>Uses 6&nbsp;W.</p></body></html>"
    )
    sections = read_sections(write(tmp_path, "v.html", html))
    assert [s.title for s in sections] == ["Vault", "Vault > Power"]
    assert "Uses 6\xa0W." in sections[1].text and "var x" not in sections[0].text
    assert read_sections(write(tmp_path, "n.txt", "Plain notes.\n"))[0].text == "Plain notes.\n"


def test_pdf_pages_are_sections_with_page_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path, "h.pdf", make_pdf(["Warranty lasts two years.", "Returns within 30 days."])
    )
    sections = read_sections(path)
    assert [(s.page, s.text.strip()) for s in sections] == [
        (1, "Warranty lasts two years."),
        (2, "Returns within 30 days."),
    ]


def test_json_and_jsonl_use_the_chosen_text_field(tmp_path: Path) -> None:
    records = [{"id": "q1", "answer": "Five days."}, {"id": "q2", "answer": ""}]
    jsonl = write(tmp_path, "f.jsonl", "\n".join(json.dumps(r) for r in records) + "\n\n")
    assert [(s.title, s.text) for s in read_sections(jsonl, text_field="answer")] == [
        ("q1", "Five days.")
    ]
    js = write(tmp_path, "f.json", json.dumps(records))
    assert len(read_sections(js, text_field="answer")) == 1
    with pytest.raises(UnreadableFile, match="record 1 has no 'text' field"):
        read_sections(js)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "the file is empty"),
        ("blank.md", b"  \n\n", "the file has no text"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8"),
        ("locked.pdf", b"", "encrypted"),
        ("broken.pdf", b"%PDF-1.4\ngarbage", "the PDF is corrupt"),
        ("bad.jsonl", b'{"text": "ok"}\nnot json\n', "line 2 is not JSON"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    if name == "locked.pdf":
        from pypdf import PdfWriter

        writer = PdfWriter(clone_from=write(tmp_path, "plain.pdf", make_pdf(["secret"])))
        writer.encrypt("password")
        with (tmp_path / name).open("wb") as f:
            writer.write(f)
    else:
        write(tmp_path, name, content)
    with pytest.raises(UnreadableFile, match=reason):
        read_sections(tmp_path / name)


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    with pytest.raises(UnreadableFile, match="50 MB, over the 20 MB limit"):
        read_sections(big)
