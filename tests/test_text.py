"""Splitting long replies for chat platforms: within the limit, code blocks never broken."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from botkit.text import split_message


def fences_balanced(part: str) -> bool:
    return sum(1 for line in part.split("\n") if line.strip().startswith("```")) % 2 == 0


def test_short_text_is_one_message() -> None:
    assert split_message("hello", 2000) == ["hello"]


def test_a_code_block_across_messages_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})" for i in range(60))
    text = f"Here is the script:\n\n```python\n{code}\n```\n\nRun it."
    parts = split_message(text, 200)
    assert len(parts) > 2 and all(len(p) <= 200 for p in parts)
    assert all(fences_balanced(p) for p in parts)
    assert all(p.startswith("```python") for p in parts[1:-1])
    shown = "\n".join(p.removeprefix("```python\n").removesuffix("\n```") for p in parts)
    for i in range(60):
        assert f"print({i})" in shown


def test_a_long_line_is_cut_at_a_space() -> None:
    parts = split_message("word " * 500, 100)
    assert all(len(p) <= 100 for p in parts)
    assert all(not p.endswith("wor") for p in parts)
    assert " ".join(p.strip() for p in parts).split() == ["word"] * 500


def content(text: str) -> str:
    """What a reader reads: every character but spaces, line ends and code-fence lines."""
    lines = [ln for ln in text.split("\n") if not ln.strip().startswith(("```", "~~~"))]
    return "".join("".join(lines).split())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="ab c\t.", max_size=300), st.sampled_from(["```", "```js", "~~~"])
        ),
        max_size=40,
    ),
    st.integers(min_value=40, max_value=400),
)
def test_every_part_fits_and_nothing_is_lost(lines: list[str], limit: int) -> None:
    text = "\n".join(lines)
    parts = split_message(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert "".join(content(p) for p in parts) == content(text)
