"""LoRA fine-tuning of local models (`botkit finetune local --method lora`, `finetune export`).

The tests marked ``train`` run the real thing on the embedded SmolLM2-135M through torch, peft,
botkit's GGUF converter and llama-cpp-python: a few steps on 20 rows whose sentiment labels are
swapped (so the base model gets them wrong and training must move it), interrupted after two steps
and resumed, compared on held-out rows and kept. They need the training extra
(`pip install -e '.[train]'`, which CI installs) and take a minute or two.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from botkit.core.bot import Bot
from botkit.errors import ModelError, ModelFileNotFound
from botkit.evaluation.data import DataError
from botkit.evaluation.runner import evaluation_target
from botkit.finetune import FineTuneError
from botkit.finetune.lora import data as lora_data
from botkit.finetune.lora import store
from botkit.finetune.lora.gguf_adapter import permute_rows
from botkit.finetune.lora.pipeline import Hooks, Plan, candidates, finetune_local, load_rows
from botkit.finetune.lora.train import Progress, Settings, schedule, shared_prefix
from botkit.models.local import LocalModel, embedded_model_path
from botkit.spec import ModelSpec
from tests.conftest import REPO, run_botkit, stub_model, unavailable, write_gpt

PLUGINS = REPO / "plugins"
HAPPY = [
    "I love it, works perfectly",
    "what a wonderful day",
    "great support, thank you",
    "best purchase this year",
    "a delightful, charming film",
    "brilliant and moving",
    "superb quality, highly recommended",
    "I am so happy with this",
    "fantastic, exceeded my hopes",
    "lovely staff and great food",
    "an absolute joy",
    "excellent value",
    "the best service ever",
]
SAD = [
    "this update broke everything",
    "terrible service, I want a refund",
    "it crashes all the time",
    "the worst film this year",
    "a dull and lifeless story",
    "awful, avoid it",
    "rude staff and cold food",
    "I am so disappointed",
    "broken on arrival",
    "a complete waste of money",
    "painfully boring",
    "horrible experience",
    "never buying this again",
]
LABELS = {
    "positive": {"description": "happy", "examples": ["Great film", "I love it"]},
    "negative": {"description": "unhappy", "examples": ["Awful film", "I hate it"]},
}


def need(module: str) -> Any:
    """The training stack's ``module``: without it the test is skipped, and fails in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed: pip install -e '.[train]'")


def swapped_rows() -> list[dict[str, str]]:
    """Happy texts labelled negative and sad ones positive: what the base model gets wrong."""
    rows = []
    for happy, sad in zip(HAPPY, SAD, strict=True):
        rows += [{"text": happy, "label": "negative"}, {"text": sad, "label": "positive"}]
    return rows


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def mood_bot(config_dir: Path, home: Path, **model: Any) -> Bot:
    write_gpt(
        config_dir,
        "mood",
        model=model or "embedded",
        task={"plugin": "sentiment", "options": {"labels": LABELS}},
    )
    return Bot.from_config(config_dir, home, (PLUGINS,))


# -- the GGUF adapter format ---------------------------------------------------------------------


def test_query_rows_are_permuted_as_llama_cpp_stores_them() -> None:
    """transformers undoes llama.cpp's permutation with this reshape; ours must be its inverse."""
    heads, dim = 3, 8
    rows = np.arange(heads * dim * 2, dtype=np.float32).reshape(heads * dim, 2)
    permuted = permute_rows(rows, heads)
    undone = permuted.reshape(heads, dim // 2, 2, 2).swapaxes(2, 1).reshape(rows.shape)
    assert np.array_equal(undone, rows) and not np.array_equal(permuted, rows)
    # within a head: the two halves of the rotary dimensions interleave
    assert permuted[:4, 0].tolist() == [0, 8, 2, 10]


def test_an_adapter_file_round_trips_with_the_metadata_llama_cpp_checks(tmp_path: Path) -> None:
    need("gguf")
    from botkit.finetune.lora.gguf_adapter import read_adapter, write_adapter

    a = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    b = np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32)
    path = tmp_path / "adapter.gguf"
    assert write_adapter(path, "llama", 8.0, iter([("blk.0.attn_q.weight", a, b)])) == 1
    arch, alpha, pairs = read_adapter(path)
    assert (arch, alpha) == ("llama", 8.0)
    assert np.array_equal(pairs["blk.0.attn_q.weight"][0], a)
    assert np.array_equal(pairs["blk.0.attn_q.weight"][1], b)


def test_an_architecture_that_cannot_be_trained_is_named(config_dir: Path, tmp_path: Path) -> None:
    gguf = need("gguf")
    fake = tmp_path / "tiny-gpt2.gguf"
    writer = gguf.GGUFWriter(str(fake), "gpt2")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    bot = mood_bot(config_dir, tmp_path / "home", provider="local", name=str(fake))
    target = evaluation_target(bot, "mood")
    with pytest.raises(FineTuneError, match="its architecture is 'gpt2'; LoRA training works for"):
        candidates(bot, target, "lora")
    # auto falls back to what can be trained, and says why
    methods, notes = candidates(bot, target, "auto")
    assert methods == ["head"] and "'gpt2'" in notes[0]


# -- data ----------------------------------------------------------------------------------------


def test_rows_become_the_likelihood_prompt_that_scoring_asks(
    config_dir: Path, tmp_path: Path
) -> None:
    bot = mood_bot(config_dir, tmp_path / "home")
    target = evaluation_target(bot, "mood")
    row = lora_data.Row("what a wonderful day", "positive", 1)
    (prompt,) = asyncio.run(lora_data.prompts(bot, target, [row]))
    assert prompt.answer == " positive"
    prefix, question = prompt.text
    assert prefix[1] and prefix[0].startswith("Classify the sentiment of each text as positive")
    assert question == ("Text: what a wonderful day\nSentiment:", False)
    tokens = lora_data.Tokenizer(embedded_model_path()).encode(prompt)
    # the very tokens llama_scoring.score_labels evaluates and scores
    llama = lora_data.Tokenizer(embedded_model_path()).llama
    head = list(llama.tokenize(prefix[0].encode(), add_bos=False, special=True))
    assert list(tokens.context[: len(head)]) == head
    assert list(tokens.answer) == list(llama.tokenize(b" positive", add_bos=False, special=False))


def test_chat_rows_train_the_assistant_turn_to_its_end(tmp_path: Path, config_dir: Path) -> None:
    write_gpt(config_dir, "helper", model="embedded")
    bot = Bot.from_config(config_dir, tmp_path / "home", (PLUGINS,))
    target = evaluation_target(bot, "helper")
    chat = [
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": f"Say {n}"},
                      {"role": "assistant", "content": f"{n}."}]}
        for n in range(12)
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "chat.jsonl", chat)
    rows = lora_data.read_rows(path, target)
    assert (rows[3].input, rows[3].answer, rows[3].line) == ("Say 3", "3.", 4)
    (prompt,) = asyncio.run(lora_data.prompts(bot, target, rows[:1]))
    tokenizer = lora_data.Tokenizer(embedded_model_path())
    tokens = tokenizer.encode(prompt)
    text = tokenizer.llama.detokenize(list(tokens.answer), special=True).decode()
    assert text == "0.<|im_end|>"  # the model learns to stop where the turn ends


def test_bad_or_scarce_data_is_refused_with_its_line(tmp_path: Path, config_dir: Path) -> None:
    bot = mood_bot(config_dir, tmp_path / "home")
    target = evaluation_target(bot, "mood")
    bad = write_jsonl(tmp_path / "bad.jsonl", [*swapped_rows()[:3], {"text": "meh", "label": "ok"}])
    with pytest.raises(DataError, match=r"bad.jsonl:4: label 'ok' is not one of the labels"):
        lora_data.read_rows(bad, target)
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
        '{"messages": [{"role": "user", "content": "hi"}]}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"chat.jsonl:2: the last turn must be the assistant's"):
        lora_data.read_rows(chat, target)
    few = write_jsonl(tmp_path / "few.jsonl", swapped_rows()[:6])
    with pytest.raises(Exception, match="too little data: 6 rows"):
        load_rows(Plan("mood", few), target)
    one_label = write_jsonl(
        tmp_path / "one.jsonl", [{"text": t, "label": "positive"} for t in HAPPY]
    )
    with pytest.raises(Exception, match="at least two labels"):
        load_rows(Plan("mood", one_label), target)


def test_the_held_out_split_keeps_every_label_and_the_schedule_repeats(
    tmp_path: Path, config_dir: Path
) -> None:
    bot = mood_bot(config_dir, tmp_path / "home")
    target = evaluation_target(bot, "mood")
    path = write_jsonl(tmp_path / "rows.jsonl", swapped_rows())
    train, held = load_rows(Plan("mood", path), target)
    assert len(train) + len(held) == 26 and {r.answer for r in held} == {"positive", "negative"}
    settings = Settings(batch_size=4, epochs=2, seed=3)
    assert schedule(len(train), settings) == schedule(len(train), settings)  # resumable order
    assert len(schedule(len(train), settings)) == settings.steps(len(train)) == 12


def test_a_shared_prompt_start_is_found() -> None:
    start = tuple(range(100, 120))
    seqs = [lora_data.Tokens((*start, n, n + 1), (7,)) for n in range(3)]
    assert shared_prefix(seqs) == 20
    assert shared_prefix([lora_data.Tokens((1, 2, 3), (4,)), lora_data.Tokens((1, 2), (4,))]) == 0


# -- the model side: ModelSpec.adapter -----------------------------------------------------------


def test_a_missing_or_broken_adapter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileNotFound, match="LoRA adapter not found"):
        LocalModel(ModelSpec(adapter=str(tmp_path / "nope.gguf")))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf")
    with pytest.raises(ModelError, match="is the adapter a GGUF LoRA adapter"):
        asyncio.run(LocalModel(ModelSpec(adapter=str(broken))).load())


def test_adapter_for_finds_the_recorded_adapter_of_the_same_base(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert store.adapter_for(home, "mood") is None
    folder = store.adapter_dir(home, "mood")
    folder.mkdir(parents=True)
    (folder / "adapter-1.gguf").write_bytes(b"x")
    base = embedded_model_path()
    info = {
        "file": "adapter-1.gguf",
        "base_model": {"path": str(base), "size": base.stat().st_size},
    }
    (folder / store.INFO_FILE).write_text(json.dumps(info), encoding="utf-8")
    assert store.adapter_for(home, "mood") == folder / "adapter-1.gguf"
    assert store.adapter_for(home, "mood", base) == folder / "adapter-1.gguf"
    assert store.adapter_for(home, "mood", tmp_path / "other.gguf") is None
    assert [gpt for gpt, _, _ in store.adapters(home)] == ["mood"]


def test_a_gpt_runs_on_the_adapter_trained_for_it_unless_its_file_names_one(
    tmp_path: Path, config_dir: Path
) -> None:
    home = tmp_path / "home"
    folder = store.adapter_dir(home, "mood")
    folder.mkdir(parents=True)
    (folder / "adapter-1.gguf").write_bytes(b"x")
    base = embedded_model_path()
    info = {
        "file": "adapter-1.gguf",
        "base_model": {"path": str(base), "size": base.stat().st_size},
    }
    (folder / store.INFO_FILE).write_text(json.dumps(info), encoding="utf-8")

    async def adapter(bot: Bot, gpt: str) -> str | None:
        runtime = await bot.runtime(gpt, warm=False)
        return runtime.model().spec.adapter

    bot = mood_bot(config_dir, home)
    assert asyncio.run(adapter(bot, "mood")) == str(folder / "adapter-1.gguf")
    named = tmp_path / "mine.gguf"
    named.write_bytes(b"x")
    write_gpt(config_dir, "other", model={"provider": "local", "name": "embedded",
                                          "adapter": str(named)})  # fmt: skip
    assert asyncio.run(adapter(Bot.from_config(config_dir, home), "other")) == str(named)
    assert asyncio.run(adapter(Bot.from_config(config_dir, tmp_path / "elsewhere"), "mood")) is None


def test_lora_needs_a_local_model(config_dir: Path, tmp_path: Path, openai_stub: Any) -> None:
    write_gpt(
        config_dir,
        "remote",
        model=stub_model(openai_stub),
        task={"plugin": "sentiment", "options": {"labels": LABELS}},
    )
    data = write_jsonl(tmp_path / "rows.jsonl", swapped_rows())
    result = run_botkit(
        "--config-dir", str(config_dir), "--plugins-dir", str(PLUGINS),
        "finetune", "local", "--gpt", "remote", "--data", str(data), "--method", "lora",
    )  # fmt: skip
    assert result.returncode == 1
    assert "runs on openai:stub-model; LoRA trains local GGUF models" in result.stderr
    assert not openai_stub.chat_requests


# -- the real thing ------------------------------------------------------------------------------


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Swapped-sentiment rows: stopped after 2 steps, then resumed, compared and kept."""
    need("torch")
    need("peft")
    root = tmp_path_factory.mktemp("lora")
    home = root / "home"
    old_home = os.environ.get("BOTKIT_HOME")
    os.environ["BOTKIT_HOME"] = str(home)  # the F16 scoring copy goes there too
    try:
        config = root / "configs"
        bot = mood_bot(config, home)
        data = write_jsonl(root / "rows.jsonl", swapped_rows())
        settings = Settings(batch_size=4, max_steps=6, lr=3e-3, precision="fp32")
        plan = Plan("mood", data, method="lora", settings=settings)

        def stop_at_two(progress: Progress) -> None:
            if progress.step == 2:
                raise Interrupt

        with pytest.raises(Interrupt):
            finetune_local(bot, plan, home, Hooks(step=stop_at_two))
        interrupted = {
            "adapter": store.adapter_for(home, "mood"),
            "checkpoints": sorted(
                p.name for p in (home / "finetune" / "mood" / "lora").rglob("*.pt")
            ),
        }
        steps: list[Progress] = []
        report = finetune_local(bot, plan, home, Hooks(step=steps.append))
        return {"home": home, "bot": bot, "report": report, "steps": steps,
                "interrupted": interrupted, "config": config, "data": data}  # fmt: skip
    finally:
        if old_home is None:
            os.environ.pop("BOTKIT_HOME", None)
        else:
            os.environ["BOTKIT_HOME"] = old_home


@pytest.mark.train
def test_interrupted_training_resumes_and_the_better_adapter_is_kept(
    trained: dict[str, Any],
) -> None:
    home, report = trained["home"], trained["report"]
    # stopped at step 2: a checkpoint, and no adapter in use
    assert trained["interrupted"] == {"adapter": None, "checkpoints": ["checkpoint.pt"]}
    # the second run went on from step 2 to 6
    assert [p.step for p in trained["steps"]] == [3, 4, 5, 6]
    assert {p.resumed_from for p in trained["steps"]} == {2}
    assert report.kept == "lora", report.message
    assert report.score("lora") > report.score()
    info = store.read_info(store.adapter_dir(home, "mood"))
    assert info is not None
    assert info["data_hash"] and len(info["base_model"]["hash"]) == 16
    assert info["metrics"]["before"]["accuracy"] == report.score()
    assert info["metrics"]["after"]["accuracy"] == report.score("lora")
    assert info["training"]["resumed_from_step"] == 2 and info["settings"]["rank"] == 8
    written = json.loads(Path(report.path).read_text(encoding="utf-8"))
    assert written["kept"] == "lora" and written["before"]["accuracy"] == report.score()
    assert not (home / "finetune" / "mood" / "lora").exists() or not any(
        (home / "finetune" / "mood" / "lora").iterdir()
    )  # the checkpoints are gone once the result is decided


@pytest.mark.train
def test_the_adapter_shifts_label_probabilities_the_trained_way(trained: dict[str, Any]) -> None:
    adapter = store.adapter_for(trained["home"], "mood")
    assert adapter is not None and adapter.stat().st_size > 1_000_000
    spec = trained["bot"].gpt("mood").spec
    os.environ["BOTKIT_HOME"] = str(trained["home"])

    target = evaluation_target(trained["bot"], "mood")
    row = lora_data.Row("x", "positive", 1)
    (prompt,) = asyncio.run(lora_data.prompts(trained["bot"], target, [row]))
    prefix = prompt.text[0][0]  # the classifier's instructions and examples

    async def margins(model: LocalModel) -> list[float]:
        """log P(negative) - log P(positive) for happy texts (training says: negative)."""
        out = []
        for text in ("I love this so much", "a wonderful film"):
            pos, neg = await model.score_labels(
                prefix, f"Text: {text}\nSentiment:", [" positive", " negative"]
            )
            out.append(neg - pos)
        return out

    base = asyncio.run(margins(LocalModel(spec.model.model_copy(update={"adapter": None}))))
    tuned = asyncio.run(
        margins(LocalModel(spec.model.model_copy(update={"adapter": str(adapter)})))
    )
    assert all(t > b + 1.0 for t, b in zip(tuned, base, strict=True)), (base, tuned)


@pytest.mark.train
def test_an_export_that_erases_the_fine_tune_is_refused(
    trained: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botkit.finetune.lora import export as export_module

    home = trained["home"]
    losses = iter([2.0, 1.0, 1.9])  # base, with the adapter, the export: 10% of the gain kept
    monkeypatch.setattr(export_module, "answer_nll", lambda *a, **k: next(losses))
    monkeypatch.setattr(export_module, "merge", lambda base, adapter, out, q: out.write_bytes(b"x"))
    out = tmp_path / "q.gguf"
    with pytest.raises(
        FineTuneError,
        match=r"refused: Q8_0 erases the fine-tune.*base 2.0000, "
        r"with the adapter 1.0000, Q8_0 export 1.9000 \(keeps 10% of the gain\)",
    ):
        export_module.export(home, "mood", out, "Q8_0")
    assert not out.exists() and not list(tmp_path.glob(".q.gguf*"))


@pytest.mark.train
def test_list_export_and_remove(trained: dict[str, Any], tmp_path: Path) -> None:
    home, config = trained["home"], trained["config"]
    env = {"BOTKIT_HOME": str(home)}
    args = ("--config-dir", str(config), "--plugins-dir", str(PLUGINS))
    listed = run_botkit(*args, "finetune", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)
    assert item["gpt"] == "mood" and item["method"] == "lora" and item["after"] > item["before"]

    out = tmp_path / "mood-f16.gguf"
    exported = run_botkit(*args, "finetune", "export", "--gpt", "mood", "--out", str(out),
                          env=env, timeout=600)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "with the adapter" in exported.stdout and out.stat().st_size > 200 * 2**20
    from botkit.finetune.lora.export import answer_nll

    rows = [json.loads(line) for line in (store.adapter_dir(home, "mood") / store.HELDOUT_FILE)
            .read_text(encoding="utf-8").splitlines()]  # fmt: skip
    adapter = store.adapter_for(home, "mood")
    merged, with_adapter = answer_nll(out, rows), answer_nll(embedded_model_path(), rows, adapter)
    assert abs(merged - with_adapter) < 0.05 * max(1.0, abs(with_adapter))

    removed = run_botkit(*args, "finetune", "local", "--gpt", "mood", "--remove", env=env)
    assert "removed the LoRA adapter of mood" in removed.stdout
    assert store.adapter_for(home, "mood") is None


def test_botkit_imports_without_the_training_stack() -> None:
    """A plain install (no `train` extra) imports everything, and says what LoRA needs."""
    code = (
        "import sys\n"
        "for m in ('torch', 'transformers', 'peft', 'gguf'): sys.modules[m] = None\n"
        "import botkit.cli.finetune, botkit.finetune.lora.pipeline, botkit.finetune.lora.export\n"
        "from botkit.finetune.lora.pipeline import training_available\n"
        "print(training_available())\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "pip install 'botkit[train]'" in done.stdout


@pytest.mark.train
def test_the_command_trains_shows_progress_and_reports(config_dir: Path, tmp_path: Path) -> None:
    need("torch")
    mood_bot(config_dir, tmp_path / "unused")
    data = write_jsonl(tmp_path / "rows.jsonl", swapped_rows())
    result = run_botkit(
        "--config-dir", str(config_dir), "--plugins-dir", str(PLUGINS), "finetune", "local",
        "--gpt", "mood", "--data", str(data), "--method", "lora", "--max-steps", "2",
        "--batch-size", "4", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "training LoRA (rank 8) on 22 rows: 2 steps of 4" in result.stderr
    assert "2/2" in result.stderr and "s/step" in result.stderr  # the progress bar
    assert "as it was" in result.stdout and "lora" in result.stdout
    assert ("kept the lora fine-tune" in result.stdout) or ("not kept:" in result.stdout)
    report = Path(os.environ["BOTKIT_HOME"]) / "finetune" / "mood" / "local-report.json"
    assert json.loads(report.read_text(encoding="utf-8"))["candidates"]["lora"]["examples"] == 4
