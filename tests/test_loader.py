from __future__ import annotations

import json
from pathlib import Path

import pytest

from botkit.errors import ConfigError, GPTNotFound
from botkit.loader import load_catalog, parse_gpt
from botkit.spec import json_schema
from botkit.testing import StubOpenAI

from .conftest import REPO, run_botkit, stub_model, write_gpt

PROVIDERS = ["local", "openai"]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_gpt(text, "g.yaml", PROVIDERS)
    return [str(p) for p in info.value.problems]


def test_a_full_gpt_file_loads_with_shorthand_model() -> None:
    spec = parse_gpt(
        """
name: helper
description: helps
model: openai:gpt-4o-mini
variables: {company: Acme}
instructions: You work for {company}. Today is {date}.
examples:
  - {user: hi, assistant: hello}
parameters: {temperature: 0.2, max_tokens: 50, top_p: 0.9, stop: END}
starters: [Hello]
""",
        "g.yaml",
        PROVIDERS,
    )
    assert spec.model.provider == "openai" and spec.model.name == "gpt-4o-mini"
    assert spec.parameters.stop == ["END"]
    assert spec.examples[0].assistant == "hello"


def test_model_defaults_to_the_embedded_model() -> None:
    spec = parse_gpt("name: a\ninstructions: x\n", "g.yaml", PROVIDERS)
    assert (spec.model.provider, spec.model.name) == ("local", "embedded")


def test_every_problem_of_a_file_is_reported_with_line_column_and_field() -> None:
    found = problems(
        """name: t
instructions: hi {foo}
modle: x
parameters:
  temprature: 0.5
  max_tokens: -1
examples:
  - user: a
    asistant: b
"""
    )
    assert found == [
        "g.yaml:2:15: instructions: unknown variable {foo}: declare it under 'variables:' "
        "or use one of date, time, gpt_name, user",
        "g.yaml:3:1: modle: unknown field 'modle' (did you mean 'model'?); allowed here: name, "
        "description, model, variables, instructions, examples, parameters, starters, knowledge, task, evals",
        "g.yaml:5:3: parameters.temprature: unknown field 'temprature' (did you mean 'temperature'?); "
        "allowed here: temperature, max_tokens, top_p, stop",
        "g.yaml:6:15: parameters.max_tokens: Input should be greater than 0 (got -1)",
        "g.yaml:8:5: examples[0].assistant: missing required field 'assistant'",
        "g.yaml:9:5: examples[0].asistant: unknown field 'asistant' (did you mean 'assistant'?); "
        "allowed here: user, assistant",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [a\n", "g.yaml:2:1: invalid YAML: expected ',' or ']'"),
        ("", "g.yaml:1:1: the file is empty"),
        ("- a\n- b\n", "g.yaml:1:1: expected a mapping"),
        ("instructions: x\n", "g.yaml:1:1: name: missing required field 'name'"),
        ("name: a\ninstructions: x\nname: b\n", "g.yaml:3:1: name: duplicate key"),
        (
            "name: a\ninstructions: x\nmodel: gpt4\n",
            "g.yaml:3:8: model: expected 'embedded', 'PROVIDER:NAME'",
        ),
        (
            "name: a\ninstructions: x\nmodel: {provider: opnai, name: m}\n",
            "g.yaml:3:19: model.provider: unknown provider 'opnai' (did you mean 'openai'?)",
        ),
        ("name: Bad Name\ninstructions: x\n", "g.yaml:1:7: name: String should match pattern"),
        ("name: a\ninstructions: 'a { b'\n", "g.yaml:2:15: instructions: "),
    ],
)
def test_bad_files_get_one_located_problem(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(expected), found[0]


def test_the_shipped_gpts_are_valid() -> None:
    catalog = load_catalog(REPO / "configs", PROVIDERS)
    assert catalog.problems == {}
    assert {"translator", "sentiment", "classifier", "support-qa", "assistant"} <= set(catalog.gpts)


def test_catalog_names_what_exists_and_what_is_broken(config_dir: Path) -> None:
    write_gpt(config_dir, "good")
    (config_dir / "gpts" / "broken.yaml").write_text("name: broken\n")
    catalog = load_catalog(config_dir, PROVIDERS)
    with pytest.raises(GPTNotFound, match=r"no GPT named 'nope'; available: good"):
        catalog.get("nope")
    with pytest.raises(ConfigError, match="missing required field 'instructions'"):
        catalog.get("broken")


def test_validate_command_exits_1_on_problems_and_lists_them(config_dir: Path) -> None:
    good = write_gpt(config_dir, "good")
    bad = config_dir / "gpts" / "bad.yaml"
    bad.write_text("name: bad\ninstructions: x\nparameters: {temperature: hot}\n")
    result = run_botkit("validate", str(good), str(bad))
    assert result.returncode == 1
    assert f"{good}: ok (good)" in result.stdout
    assert f"{bad}:3:27: parameters.temperature: Input should be a valid number" in result.stdout
    assert "Traceback" not in result.stderr
    ok = run_botkit("--config-dir", str(config_dir), "validate", str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_validate_defaults_to_the_config_dir() -> None:
    result = run_botkit("validate")
    assert result.returncode == 0, result.stdout
    assert "configs/gpts/translator.yaml: ok (translator)" in result.stdout


def test_schema_command_prints_the_json_schema_and_the_committed_copy_is_current() -> None:
    result = run_botkit("schema")
    assert result.returncode == 0
    printed = json.loads(result.stdout)
    assert printed == json_schema()
    assert set(printed["properties"]) >= {"name", "model", "instructions", "examples", "parameters"}
    assert printed["properties"]["model"]["anyOf"][0] == {"type": "string"}
    committed = json.loads((REPO / "schema" / "gpt.schema.json").read_text())
    assert committed == printed, "run `botkit schema > schema/gpt.schema.json`"


def test_a_file_with_a_control_character_is_located_and_the_others_keep_working(
    config_dir: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "good", model=stub_model(openai_stub))
    broken = config_dir / "gpts" / "broken.yaml"
    broken.write_text("name: broken\ninstructions: Be\x00 helpful.\n", encoding="utf-8")
    catalog = load_catalog(config_dir)
    assert list(catalog.gpts) == ["good"]
    (problem,) = catalog.problems[broken]
    assert (problem.line, problem.column) == (2, 17)
    assert "character U+0000 is not allowed in YAML" in problem.message
    result = run_botkit("--config-dir", str(config_dir), "validate")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{broken}:2:17: invalid YAML: character U+0000" in result.stdout
    chat = run_botkit("--config-dir", str(config_dir), "console", "--gpt", "good", input="hi\n")
    assert chat.returncode == 0 and chat.stdout == "echo: hi\n", chat.stderr
