"""LoRA training on the CPU: gradient descent on low-rank updates of the model's projections.

Each step takes a batch of sequences (prompt, then answer) and minimises the cross-entropy of the
answer tokens only. What makes it affordable on two cores:

- The logits are computed only where an answer token is predicted, not over the whole vocabulary
  at every position (the output layer is a fifth of a small model's work).
- Prompts that all start alike (a classifier's instructions and examples, a translator's system
  message and example turns) share that start: it is run once per batch and its keys and values
  are repeated for every sequence, instead of once per sequence (about 3x fewer tokens for
  SST-2's likelihood prompt). Gradients flow through it as through the rest.
- A batch is split into micro-batches whose activations fit :data:`ACTIVATION_BUDGET`, with the
  gradients accumulated, so memory is bounded by the model's size, not the data's.

A checkpoint (the LoRA weights, the optimizer's state, the step) is written atomically every
:data:`CHECKPOINT_EVERY` seconds and when training is interrupted; the same command started again
(same data, base model and settings) resumes from it. The order of the data is a function of the
seed and the epoch, so a resumed run trains exactly as an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botkit.finetune.lora.data import Tokens
from botkit.finetune.lora.gguf_adapter import PROJECTIONS

#: Bytes of activations one micro-batch may keep for the backward pass (about 1.5 MB a token for
#: SmolLM2-135M; proportionally fewer tokens for bigger models).
ACTIVATION_BUDGET = 2 * 2**30
#: Seconds between checkpoints (one is also written when training stops early).
CHECKPOINT_EVERY = 60.0
#: A prompt start shared by every sequence is run once per batch when it is at least this long.
MIN_SHARED_PREFIX = 8
CHECKPOINT = "checkpoint.pt"
#: Sequence widths are padded to a multiple of this.
PAD_TO = 16


@dataclass(frozen=True)
class Settings:
    """What training does; a checkpoint only resumes a run with the same settings."""

    rank: int = 8
    alpha: int = 16
    lr: float = 5e-4
    epochs: float = 2.0
    max_steps: int | None = None
    batch_size: int = 8
    seed: int = 0
    max_tokens: int = 512
    #: "bf16": matrix products in bfloat16 (weights stay float32), about twice as fast on CPUs
    #: with AMX or AVX512-BF16; "fp32"; "auto": bf16 where the CPU has those, else fp32.
    precision: str = "auto"
    targets: tuple[str, ...] = tuple(name.split(".")[-1] for name in PROJECTIONS)

    def resolved(self) -> Settings:
        """These settings with ``precision`` decided for this machine."""
        if self.precision != "auto":
            return self
        return dataclasses.replace(self, precision="bf16" if cpu_has_bf16() else "fp32")

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def steps(self, n_train: int) -> int:
        per_epoch = math.ceil(n_train / self.batch_size)
        total = max(1, math.ceil(per_epoch * self.epochs))
        return min(total, self.max_steps) if self.max_steps else total


@dataclass
class Progress:
    """What one step reports: ``step`` of ``total`` done, the batch's loss, seconds it took."""

    step: int
    total: int
    loss: float
    seconds: float
    resumed_from: int = 0


@dataclass
class Result:
    model: Any  # the PEFT model, LoRA weights trained
    steps: int
    losses: list[float]
    seconds: float  # training time of this run (excluding what a resumed checkpoint had done)
    resumed_from: int
    peak_rss_mb: float


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AMX tiles or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def shared_prefix(sequences: Sequence[Tokens]) -> int:
    """Tokens every sequence's prompt starts with (leaving each at least one of its own)."""
    if not sequences:
        return 0
    first = sequences[0].context
    n = min(len(s.context) for s in sequences) - 1
    for s in sequences[1:]:
        i = 0
        while i < n and s.context[i] == first[i]:
            i += 1
        n = i
        if n < MIN_SHARED_PREFIX:
            return 0
    return max(0, n) if n >= MIN_SHARED_PREFIX else 0


def schedule(n: int, settings: Settings) -> list[list[int]]:
    """The indices of each step's batch: shuffled by seed and epoch, then cut into batches."""
    batches: list[list[int]] = []
    total = settings.steps(n)
    epoch = 0
    while len(batches) < total:
        order = list(range(n))
        random.Random(settings.seed * 1000 + epoch).shuffle(order)
        for start in range(0, n, settings.batch_size):
            batches.append(order[start : start + settings.batch_size])
        epoch += 1
    return batches[:total]


def learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 5% of steps (at least one), then linear decay to 10%."""
    warm = max(1, round(total * 0.05))
    if step < warm:
        return peak * (step + 1) / warm
    done = (step - warm) / max(1, total - warm)
    return peak * (1.0 - 0.9 * done)


def micro_batch_tokens(config: Any) -> int:
    """Tokens one micro-batch may hold within :data:`ACTIVATION_BUDGET` (estimated per layer:
    a dozen hidden-size vectors and four feed-forward ones a token, in float32)."""
    hidden = int(getattr(config, "hidden_size", 1024))
    ff = int(getattr(config, "intermediate_size", 4 * hidden))
    layers = int(getattr(config, "num_hidden_layers", 24))
    per_token = layers * (12 * hidden + 4 * ff) * 4
    return max(64, ACTIVATION_BUDGET // per_token)


def wrap(model: Any, settings: Settings) -> Any:
    """The model with LoRA layers (rank, alpha) on its projections; only those train."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(settings.seed)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=0.0,
        target_modules=list(settings.targets),
        bias="none",
    )
    return get_peft_model(model, config)


def lora_state(model: Any) -> dict[str, Any]:
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def train(
    model: Any,
    sequences: Sequence[Tokens],
    settings: Settings,
    workdir: Path,
    on_step: Callable[[Progress], None] | None = None,
) -> Result:
    """Train ``model`` (a PEFT model from :func:`wrap`) on ``sequences``; checkpoints go to
    ``workdir`` and a checkpoint found there is resumed."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    batches = schedule(len(sequences), settings)
    total = len(batches)
    start, losses = _resume(model, optimizer, workdir, settings)
    inner = model.get_base_model()
    prefix_len = shared_prefix(sequences)
    prefix = torch.tensor([sequences[0].context[:prefix_len]]) if prefix_len else None
    budget = micro_batch_tokens(inner.config)
    bf16 = settings.resolved().precision == "bf16"
    model.train()
    started = last_save = time.perf_counter()
    step = start
    try:
        for step in range(start, total):
            clock = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total, settings.lr)
            batch = [sequences[i] for i in batches[step]]
            n_answer = sum(len(s.answer) for s in batch)
            loss_sum = 0.0
            for micro in _micro_batches(batch, prefix_len, budget):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = _loss(inner, micro, prefix, prefix_len) / n_answer
                loss.backward()
                loss_sum += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(loss_sum, 5))
            if on_step is not None:
                seconds = time.perf_counter() - clock
                on_step(Progress(step + 1, total, loss_sum, seconds, start))
            if time.perf_counter() - last_save > CHECKPOINT_EVERY and step + 1 < total:
                _save(model, optimizer, workdir, settings, step + 1, losses)
                last_save = time.perf_counter()
        step = total
        if total > start:  # a finished run: started again, it trains nothing
            _save(model, optimizer, workdir, settings, total, losses)
    except BaseException:
        if step > start:  # keep what was learnt: the next run resumes here
            with contextlib.suppress(Exception):
                _save(model, optimizer, workdir, settings, len(losses), losses)
        raise
    model.eval()
    return Result(
        model=model,
        steps=total,
        losses=losses,
        seconds=round(time.perf_counter() - started, 2),
        resumed_from=start,
        peak_rss_mb=peak_rss_mb(),
    )


def _micro_batches(batch: list[Tokens], prefix_len: int, budget: int) -> list[list[Tokens]]:
    longest = max(len(s) - prefix_len for s in batch)
    size = max(1, budget // max(1, longest))
    ordered = sorted(batch, key=len)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _cache_kwarg(module: Any) -> str:
    names = inspect.signature(module.forward).parameters
    return "cache" if "cache" in names else "past_key_values"


def _loss(inner: Any, micro: list[Tokens], prefix: Any, prefix_len: int) -> Any:
    """Summed cross-entropy of the answer tokens of ``micro`` (right-padded; causal attention
    never lets a real token see the padding after it)."""
    import torch

    rows = [list(s.context[prefix_len:]) + list(s.answer) for s in micro]
    # widths rounded up: fewer distinct shapes, each of which the CPU kernels prepare anew
    width = -(-max(len(r) for r in rows) // PAD_TO) * PAD_TO
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    positions_b, positions_t, targets = [], [], []
    for b, (row, s) in enumerate(zip(rows, micro, strict=True)):
        ids[b, : len(row)] = torch.tensor(row)
        own = len(s.context) - prefix_len
        for k, token in enumerate(s.answer):
            positions_b.append(b)
            positions_t.append(own + k - 1)  # the position whose output predicts this token
            targets.append(token)
    body = inner.model
    kwargs: dict[str, Any] = {}
    if prefix is not None:
        name = _cache_kwarg(body)
        out = body(input_ids=prefix, use_cache=True)
        cache = getattr(out, name)
        cache.batch_repeat_interleave(len(rows))
        kwargs = {name: cache, "use_cache": True}
    hidden = body(input_ids=ids, **kwargs).last_hidden_state
    picked = hidden[torch.tensor(positions_b), torch.tensor(positions_t)]
    logits = inner.lm_head(picked).float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(targets), reduction="sum")


def _save(
    model: Any, optimizer: Any, workdir: Path, settings: Settings, step: int, losses: list[float]
) -> None:
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    state = {
        "settings": settings.key(),
        "step": step,
        "losses": losses,
        "lora": lora_state(model),
        "optimizer": optimizer.state_dict(),
    }
    partial = workdir / f".{CHECKPOINT}.{os.getpid()}.partial"
    torch.save(state, partial)
    os.replace(partial, workdir / CHECKPOINT)


def _resume(
    model: Any, optimizer: Any, workdir: Path, settings: Settings
) -> tuple[int, list[float]]:
    """The step and losses of the checkpoint in ``workdir`` (loaded into model and optimizer)."""
    import torch

    path = workdir / CHECKPOINT
    if not path.is_file():
        return 0, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("settings") != settings.key():
            return 0, []
        named = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state["lora"].items():
                named[name].copy_(value)
        optimizer.load_state_dict(state["optimizer"])
        return int(state["step"]), list(state["losses"])
    except Exception:  # a damaged checkpoint: start over rather than fail
        path.unlink(missing_ok=True)
        return 0, []


def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
