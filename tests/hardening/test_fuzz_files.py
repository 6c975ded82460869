"""Fuzz the files a user writes and the lines a user types: botkit answers or says, in its own
words and naming the file, what is wrong; never a bare exception, a traceback or a hang.

- GPT files and deployment files: the shipped ones with bytes and characters mutated (control
  characters, truncation, swaps, deleted and duplicated lines, tabs, a BOM, deep nesting, huge
  numbers, invalid UTF-8) and with fields replaced by random YAML values;
- eval and fine-tuning data: random and mutated JSONL and CSV rows;
- knowledge documents of every suffix the loader reads, PDFs with their bytes mutated too;
- console input: random lines and slash commands, on a GPT served by the stub OpenAI server.

``BOTKIT_FUZZ_EXAMPLES`` scales every test (see fuzzing.py and bench/fuzz.py).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from botkit.adapters.console import run_console
from botkit.core.bot import Bot
from botkit.deploy.loader import load_bot_file
from botkit.deploy.spec import BotSpec
from botkit.errors import ConfigError, InputError
from botkit.evaluation.data import DataError, LabeledExample, read_examples
from botkit.finetune.lora.data import Row, read_rows
from botkit.finetune.validate import Report, validate_file
from botkit.knowledge.chunking import chunk_sections
from botkit.knowledge.documents import TEXT_SUFFIXES, UnreadableFile, read_sections
from botkit.loader import load_gpt_file
from botkit.plugins import load_registry
from botkit.spec import GPTSpec
from botkit.testing import StubOpenAI

from ..conftest import REPO, stub_model, write_gpt
from ..knowledge.pdf import make_pdf
from .fuzzing import fuzz_settings

T = TypeVar("T")

#: Seconds one example may take before the test calls it a hang.
TIME_LIMIT = 20.0

SHIPPED_GPTS = {
    p.name: p.read_text(encoding="utf-8") for p in (REPO / "configs/gpts").glob("*.yaml")
}
SHIPPED_BOTS = {
    p.name: p.read_text(encoding="utf-8") for p in (REPO / "configs/bots").glob("*.yaml")
}
REGISTRY = load_registry((REPO / "plugins",))


def within(seconds: float, what: str, fn: Callable[[], T]) -> T:
    """``fn()``, run in a thread: its result or its exception, or a failure if it hangs."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name=f"fuzz: {what}")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} still running after {seconds:g} s: a hang")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


# -- mutations -------------------------------------------------------------------------------------

CONTROL = [chr(c) for c in [*range(0, 32), 0x7F, 0x85, 0xA0, 0x2028, 0xFEFF, 0xFFFE, 0xFFFF]]
YAML_SNIPPETS = [
    "\t", "\ufeff", ": ", "- ", "? ", "&a ", "*a", "!!binary ", "!!python/object ", "!foo ",
    "<<: *a\n", "{", "}", "[", "]", "'", '"', "|", ">", "#", "---\n", "...\n", "~", "%YAML 1.1\n",
    "9" * 5000, "1e999", "-.inf", ".nan", "0x" + "f" * 100, "2024-13-45", "1_000", "0o777",
    "[" * 3000, "{a: " * 400, "- " * 300, "&a [*a]", "&b {x: *b}", "\\u0000", "\\ud800",
]  # fmt: skip


@st.composite
def text_mutation(draw: st.DrawFn, text: str) -> str:
    """One change to ``text``: what a slip of the keyboard, a bad copy or an attacker makes."""
    n = len(text)
    i = draw(st.integers(0, n))
    j = draw(st.integers(i, n))
    lines = text.splitlines(keepends=True) or [""]
    k = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(
        ["control", "truncate", "swap", "delete", "duplicate", "unicode", "tab", "bom", "snippet",
         "indent", "number", "drop-line"]
    ))  # fmt: skip
    if kind == "control":
        return text[:i] + draw(st.sampled_from(CONTROL)) + text[i:]
    if kind == "truncate":
        return text[:i]
    if kind == "swap":
        m = draw(st.integers(j, n))
        return text[:i] + text[j:m] + text[i:j] + text[m:]
    if kind == "delete":
        return text[:i] + text[j:]
    if kind == "duplicate":
        return "".join([*lines[: k + 1], lines[k], *lines[k + 1 :]])
    if kind == "drop-line":
        return "".join(lines[:k] + lines[k + 1 :])
    if kind == "unicode":
        return text[:i] + draw(st.text(min_size=1, max_size=20)) + text[j:]
    if kind == "tab":
        return "".join([*lines[:k], "\t" + lines[k].lstrip(" "), *lines[k + 1 :]])
    if kind == "indent":
        return "".join([*lines[:k], " " * draw(st.integers(1, 9)) + lines[k], *lines[k + 1 :]])
    if kind == "bom":
        return "\ufeff" + text
    if kind == "number":
        number = draw(st.sampled_from(["9" * 5000, "1e999", "-0", "1" + "0" * 400, "0.0000001"]))
        return text[:i] + number + text[j:]
    return text[:i] + draw(st.sampled_from(YAML_SNIPPETS)) + text[i:]


@st.composite
def mutated_bytes(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with one to four character changes, then perhaps a byte change (invalid UTF-8)."""
    for _ in range(draw(st.integers(1, 4))):
        text = draw(text_mutation(text))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        return data
    i = draw(st.integers(0, len(data)))
    return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]


#: Any value a YAML (or JSON) file can hold, nested a little.
yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "x", "openai:gpt-4o", "embedded", "{user}", "{nope}", "a:b:c", "*"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths_in(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of nested mappings and lists."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths_in(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield (*prefix, i)
            yield from paths_in(value, (*prefix, i))


@st.composite
def structured_mutation(draw: st.DrawFn, text: str) -> bytes:
    """The shipped file as data with fields replaced by random values, removed or added."""
    data = copy.deepcopy(yaml.safe_load(text))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(paths_in(data))
        path = draw(st.sampled_from(paths))
        *parents, last = path
        holder = data
        for part in parents:
            holder = holder[part]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "replace":
            holder[last] = draw(yaml_values)
        elif action == "delete":
            del holder[last]
        elif isinstance(holder, dict):
            holder[draw(st.text(min_size=1, max_size=12))] = draw(yaml_values)
        else:
            holder.append(draw(yaml_values))
    return yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False).encode()


#: Values that have crashed or hung YAML loaders: nesting past the stack, an alias inside itself,
#: aliases of aliases (a "billion laughs"), numbers and dates no Python value holds.
HOSTILE = [
    "[" * 3000 + "]" * 3000, "{a: " * 600 + "1" + "}" * 600, "&r [*r]", "&m {k: *m}", "9" * 5000,
    "-" + "1" * 4400, "2024-13-45", "2024-02-30 10:00:00", "0b" + "1" * 20000, "1e99999",
    "&a [x, x, x, x, x, x, x, x, x]\nlaughs: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "more: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nmost: [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "!!binary not-base64", "!!timestamp 2024-99-99", "!!int 12x", "!!float x",
]  # fmt: skip


@st.composite
def hostile_mutation(draw: st.DrawFn, text: str) -> bytes:
    """A field's value (at any depth) replaced by one of :data:`HOSTILE`."""
    lines = text.splitlines(keepends=True)
    fields = [
        i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")
    ]
    k = draw(st.sampled_from(fields))
    key = lines[k].split(":", 1)[0]
    lines[k] = f"{key}: {draw(st.sampled_from(HOSTILE))}\n"
    return "".join(lines).encode()


def config_file(shipped: dict[str, str]) -> st.SearchStrategy[tuple[str, bytes]]:
    """A shipped file's name, and its mutated bytes (character-level, structured or hostile)."""
    return st.sampled_from(sorted(shipped)).flatmap(
        lambda name: st.tuples(
            st.just(name),
            mutated_bytes(shipped[name])
            | structured_mutation(shipped[name])
            | hostile_mutation(shipped[name]),
        )
    )


def assert_located(exc: ConfigError, path: Path) -> None:
    """botkit's own error: every problem names the file, a line and a column in it."""
    assert exc.problems, "a ConfigError without problems"
    assert path.name in str(exc), f"the error does not name the file: {exc}"
    lines = path.read_bytes().count(b"\n") + 2
    for problem in exc.problems:
        assert problem.file == str(path), problem
        assert 1 <= problem.line <= lines and problem.column >= 1, problem
        assert problem.message, problem


# -- GPT files and deployment files -----------------------------------------------------------------


@fuzz_settings()
@given(case=config_file(SHIPPED_GPTS))
def test_mutated_gpt_files_load_or_are_located_errors(
    case: tuple[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    name, data = case
    path = tmp_path_factory.mktemp("gpts") / name
    path.write_bytes(data)
    load = lambda: load_gpt_file(path, REGISTRY.providers.keys(), REGISTRY.tasks)  # noqa: E731
    try:
        spec = within(TIME_LIMIT, f"loading {name}", load)
    except ConfigError as exc:
        assert_located(exc, path)
    else:
        assert isinstance(spec, GPTSpec)


@fuzz_settings()
@given(case=config_file(SHIPPED_BOTS))
def test_mutated_deployment_files_load_or_are_located_errors(
    case: tuple[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    name, data = case
    path = tmp_path_factory.mktemp("bots") / name
    path.write_bytes(data)
    gpts = [Path(n).stem for n in SHIPPED_GPTS]
    try:
        spec = within(TIME_LIMIT, f"loading {name}", lambda: load_bot_file(path, gpts))
    except ConfigError as exc:
        assert_located(exc, path)
    else:
        assert isinstance(spec, BotSpec)


def test_the_shipped_files_load() -> None:
    """The mutations start from files that load: a failure above is the mutation's doing."""
    for name in SHIPPED_GPTS:
        load_gpt_file(REPO / "configs/gpts" / name, REGISTRY.providers.keys(), REGISTRY.tasks)
    for name in SHIPPED_BOTS:
        load_bot_file(REPO / "configs/bots" / name, [Path(n).stem for n in SHIPPED_GPTS])


# -- eval and fine-tuning data --------------------------------------------------------------------

ROW_TEXT = st.text(max_size=40) | st.sampled_from(["", " ", "positive", "négatif", "a,b", '"q"'])
good_rows = st.fixed_dictionaries(
    {"text": ROW_TEXT, "label": ROW_TEXT | st.lists(ROW_TEXT, max_size=3) | st.integers()}
)
chat_rows = st.fixed_dictionaries(
    {
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["system", "user", "assistant", "tool", ""])},
                optional={"content": yaml_values, "tool_calls": yaml_values},
            ),
            max_size=4,
        )
    }
)
#: JSON that parsers choke on: nesting past the stack, numbers past Python's digit limit.
HOSTILE_JSON = [
    "[" * 5000 + "]" * 5000,
    '{"text": "a", "label": ' + "9" * 5000 + "}",
    '{"messages": [' + "[" * 3000 + "]" * 3000 + "]}",
    "[" + "-" + "1" * 4400 + "]",
]
raw_lines = st.sampled_from(
    ["{", "[]", "null", "1", '"x"', '{"text": "a", "label": NaN}', '{"text": "a", "label": 1e999}',
     "\x00", "\ufeff{}", '{"a": 1, "a": 2}']
) | st.text(max_size=40)  # fmt: skip


def json_line(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False)


jsonl_lines = st.one_of(
    good_rows.map(json_line),
    good_rows.flatmap(lambda row: text_mutation(json_line(row))),
    chat_rows.map(json_line),
    st.dictionaries(st.sampled_from(["text", "input", "label", "expected", "messages", "x"]), yaml_values)
    .map(json_line),
    raw_lines,
    st.sampled_from(HOSTILE_JSON),
)  # fmt: skip
csv_cells = st.text(max_size=20) | st.sampled_from(
    ['"', '""', ",", "\n", "\r\n", "\x00", "x" * 200_000]
)


@st.composite
def data_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """A JSONL or CSV data file: good rows, broken rows and noise."""
    if draw(st.booleans()):
        lines = draw(st.lists(good_rows.map(json_line), max_size=3))
        lines += draw(st.lists(jsonl_lines, min_size=0, max_size=12))
        if draw(st.integers(0, 3)) == 0:  # reading stops at the first bad line: this one first
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(HOSTILE_JSON)))
        text, suffix = "\n".join(lines), ".jsonl"
    else:
        header = draw(st.sampled_from(["text,label", "input,expected", "text", "a,b,c", ""]))
        rows = draw(st.lists(st.lists(csv_cells, max_size=4), max_size=10))
        quote = draw(st.booleans())
        body = [",".join(f'"{c}"' if quote else c for c in row) for row in rows]
        text, suffix = "\n".join([header, *body]), ".csv"
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        data = draw(mutated_bytes(text))
    return suffix, data


class _Target:
    """The little of an eval target :func:`read_rows` asks: any row goes, answers are text."""

    kind = "generation"

    def check(self, example: LabeledExample) -> str | None:
        return None


def assert_names(exc: Exception, path: Path) -> None:
    assert str(path) in str(exc), f"the error does not name the file: {exc}"


@fuzz_settings()
@given(case=data_file())
def test_eval_data_reads_rows_or_names_the_line(
    case: tuple[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    suffix, data = case
    path = tmp_path_factory.mktemp("data") / f"rows{suffix}"
    path.write_bytes(data)
    try:
        rows = within(TIME_LIMIT, "read_examples", lambda: list(read_examples(path)))
    except DataError as exc:
        assert_names(exc, path)
        assert exc.line is None or 1 <= exc.line <= data.count(b"\n") + data.count(b"\r") + 2
    else:
        assert rows and all(isinstance(r, LabeledExample) and r.input.strip() for r in rows)


@fuzz_settings()
@given(case=data_file())
def test_finetune_data_validates_or_names_the_line(
    case: tuple[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    suffix, data = case
    path = tmp_path_factory.mktemp("data") / f"train{suffix}"
    path.write_bytes(data)
    report = within(TIME_LIMIT, "validate_file", lambda: validate_file(path, 4096))
    assert isinstance(report, Report)
    assert all(str(path) in line for line in report.errors), report.errors
    try:
        rows = within(TIME_LIMIT, "read_rows", lambda: read_rows(path, _Target()))  # type: ignore[arg-type]
    except DataError as exc:
        assert_names(exc, path)
    else:
        assert all(isinstance(r, Row) and r.answer for r in rows)


# -- knowledge documents --------------------------------------------------------------------------

SAMPLES = {
    ".md": "# Refunds\n\nRefunds take 5 days.\n\n## Timing\n\n```\n# not a heading\n```\nText.\n",
    ".markdown": "Intro\n\n### Deep\n\nBody text here. Another sentence!\n",
    ".txt": "Plain text.\n\nA second paragraph, with words.\n",
    ".text": "one line",
    ".rst": "Title\n=====\n\nBody.\n\nSub\n---\n\nMore body.\n",
    ".html": "<html><body><h1>Hi</h1><p>Para <b>bold</b></p><script>x()</script><h2>Two</h2>"
    "<ul><li>a</li></ul></body></html>",
    ".htm": "<p>one<br>two</p><!-- c --><![CDATA[x]]>&amp;&#65;",
    ".json": json.dumps([{"text": "Alpha beta.", "title": "A"}, {"text": "Gamma.", "id": 2}]),
    ".jsonl": '{"text": "Line one."}\n{"text": "Line two.", "title": "T"}\n',
}
assert set(SAMPLES) | {".pdf"} == TEXT_SUFFIXES, "a new document format: add a sample above"


#: What has crashed readers of these formats (html.parser asserts on a bad <![ section).
HOSTILE_DOCUMENT = {
    ".html": ["<![foo[", "<!['", "<![if !IE]>", "<!", "</>", "&#xFFFFFFFF;", "<" * 3000],
    ".htm": ["<![x[ ", "<![", "<?", "<!--"],
    ".json": HOSTILE_JSON[:2],
    ".jsonl": [h + "\n" for h in HOSTILE_JSON],
    ".md": ["#" * 7 + " x\n", "```\n" * 3, "# " + "x" * 100_000 + "\n"],
    ".rst": ["=" * 5000 + "\n" + "x\n" + "=" * 3 + "\n"],
}


@st.composite
def pdf_bytes(draw: st.DrawFn) -> bytes:
    pages = draw(st.lists(st.text(max_size=40), min_size=1, max_size=3))
    data = make_pdf(pages)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(data)))
        j = draw(st.integers(i, min(len(data), i + 64)))
        kind = draw(st.sampled_from(["flip", "truncate", "delete", "insert", "duplicate"]))
        if kind == "flip" and i < len(data):
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
        elif kind == "truncate":
            data = data[:i]
        elif kind == "delete":
            data = data[:i] + data[j:]
        elif kind == "insert":
            noise = st.binary(min_size=1, max_size=16) | st.sampled_from(
                [b"<<", b">>", b"[", b"obj", b"endobj", b"999999999 0 R", b"/Length -1", b"stream"]
            )
            data = data[:i] + draw(noise) + data[i:]
        else:
            data = data[:i] + data[i:j] + data[i:]
    return data


@st.composite
def document(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(TEXT_SUFFIXES)))
    if suffix == ".pdf":
        return suffix, draw(pdf_bytes())
    sample = SAMPLES[suffix]
    hostile = st.sampled_from(HOSTILE_DOCUMENT.get(suffix, [""])).map(lambda h: h + sample)
    return suffix, draw(mutated_bytes(sample) | st.just(sample.encode()) | hostile.map(str.encode))


@fuzz_settings()
@given(case=document(), size=st.integers(16, 300), overlap=st.integers(0, 15))
def test_knowledge_documents_give_chunks_or_are_skipped(
    case: tuple[str, bytes], size: int, overlap: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    suffix, data = case
    path = tmp_path_factory.mktemp("docs") / f"doc{suffix}"
    path.write_bytes(data)

    def index() -> list[Any]:
        return chunk_sections(read_sections(path), size, overlap)

    try:
        chunks = within(TIME_LIMIT, f"reading a {suffix} file", index)
    except UnreadableFile as exc:
        assert str(exc), "a skipped file needs a reason"
    else:
        assert all(c.text.strip() and c.start <= c.end for c in chunks)


# -- console input --------------------------------------------------------------------------------

COMMANDS = [
    "/help",
    "/reset",
    "/gpts",
    "/switch",
    "/translate",
    "/classify",
    "/sentiment",
    "/ask",
    "/HELP",
    "/",
]
ARGS = st.sampled_from(["", "echo", "other", "broken", "nope", "ECHO", "../echo", "fr", "x" * 500])
console_line = st.one_of(
    st.text(max_size=60).map(lambda t: t.replace("\n", " ")),
    st.tuples(st.sampled_from(COMMANDS), st.sampled_from(["", " ", "  ", "\t"]), ARGS | st.text(max_size=30))
    .map(lambda c: "".join(c).replace("\n", " ")),
    st.tuples(st.text(max_size=10), st.sampled_from(CONTROL)).map(lambda t: t[0] + t[1]),
).filter(lambda line: line.strip().partition(" ")[0] not in ("/exit", "/quit"))  # fmt: skip


@pytest.fixture(scope="module")
def console_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two GPTs on a stub OpenAI server, and a GPT file with a problem."""
    with StubOpenAI() as stub:
        config_dir = tmp_path_factory.mktemp("console") / "configs"
        write_gpt(config_dir, "echo", model=stub_model(stub), description="echoes")
        write_gpt(config_dir, "other", model=stub_model(stub), starters=["hi"])
        (config_dir / "gpts" / "broken.yaml").write_text("name: broken\ninstructions: [\n")
        yield config_dir


@fuzz_settings(0.5)
@given(lines=st.lists(console_line, max_size=8))
def test_console_survives_any_input(lines: list[str], console_project: Path) -> None:
    bot = Bot.from_config(console_project, plugin_dirs=(REPO / "plugins",))
    script = "\n".join([*lines, "final check"]) + "\n"
    out, err = io.StringIO(), io.StringIO()

    def chat() -> int:
        with contextlib.redirect_stderr(err):
            return run_console(bot, "echo", stdin=io.StringIO(script), stdout=out)

    code = within(TIME_LIMIT, "the console", chat)
    errors = err.getvalue()
    assert "Traceback" not in errors, errors
    assert code in (0, 1), errors
    assert all(len(line) < 2000 for line in errors.splitlines() if line.startswith("error: "))
    # By design piped input stops at a model error (the stub echoes where a task wants JSON),
    # with that error as one line; any other line is answered or refused and the next one read.
    if code == 1 and errors.splitlines()[-1].startswith("error: the model server"):
        return
    last = out.getvalue().splitlines()[-1] if out.getvalue() else ""
    assert last.endswith(": final check"), (
        f"the console stopped answering: stdout {out.getvalue()!r}, stderr {errors!r}"
    )


def test_input_error_is_what_the_console_reports_per_line() -> None:
    """The console keeps going after these (LINE_ERRORS); the fuzz test relies on it."""
    from botkit.adapters.console import LINE_ERRORS

    assert InputError in LINE_ERRORS and ConfigError in LINE_ERRORS
