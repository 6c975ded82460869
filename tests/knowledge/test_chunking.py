from __future__ import annotations

import itertools

from botkit.knowledge.chunking import chunk_sections, count_tokens
from botkit.knowledge.documents import Section


def section(text: str, title: str = "T", start: int = 0) -> Section:
    return Section(text, title, None, start, start + len(text))


def test_chunks_stay_within_size_overlap_and_point_back_into_the_text() -> None:
    text = "\n\n".join(" ".join(f"Word{p}x{i}." for i in range(30)) for p in range(10))
    chunks = chunk_sections([section(text, start=100)], chunk_size=50, chunk_overlap=10)
    assert len(chunks) > 5
    for chunk in chunks:
        assert count_tokens(chunk.text) <= 50
        assert text[chunk.start - 100 : chunk.end - 100] == chunk.text
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "consecutive chunks overlap"
        assert count_tokens(text[b.start - 100 : a.end - 100]) <= 10


def test_paragraph_boundaries_are_preferred() -> None:
    paragraphs = [" ".join(["alpha"] * 20), " ".join(["beta"] * 20), " ".join(["gamma"] * 20)]
    chunks = chunk_sections([section("\n\n".join(paragraphs))], chunk_size=45, chunk_overlap=0)
    assert [c.text for c in chunks] == [
        paragraphs[0] + "\n\n" + paragraphs[1],
        paragraphs[2],
    ]


def test_a_code_block_that_fits_is_never_split() -> None:
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(12)) + "\n```"
    text = "Intro sentence here.\n\n" + code + "\n\nOutro sentence here."
    chunks = chunk_sections([section(text)], chunk_size=60, chunk_overlap=0)
    assert any(code in c.text for c in chunks)
    assert all(c.text.count("```") in (0, 2) for c in chunks)


def test_a_long_sentence_is_cut_by_tokens_and_sections_never_mix() -> None:
    long = " ".join(["token"] * 130)
    chunks = chunk_sections(
        [section(long, "A"), section("Short one.", "B")], chunk_size=50, chunk_overlap=0
    )
    assert [c.title for c in chunks] == ["A", "A", "A", "B"]
    assert [count_tokens(c.text) for c in chunks] == [50, 50, 30, 3]
