"""The base model to train: a GGUF file read by transformers into float32 PyTorch weights.

transformers dequantises every tensor of a GGUF it can read (``from_pretrained(dir,
gguf_file=...)``), so training sees exactly the weights llama.cpp runs (a Q4_1 file's values, not
the original checkpoint's). Which architectures it can read is transformers' list; which ones
botkit can turn back into a llama.cpp adapter is :data:`~.gguf_adapter.TRAINABLE_ARCHITECTURES`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botkit.finetune import FineTuneError
from botkit.finetune.lora.gguf_adapter import TRAINABLE_ARCHITECTURES

_hashes: dict[tuple[str, int, int], str] = {}
_hashing = threading.Lock()


@dataclass(frozen=True)
class BaseInfo:
    """What a GGUF file says about itself, read without loading its weights."""

    path: Path
    architecture: str
    n_layers: int
    n_head: int
    n_head_kv: int
    n_embd: int
    file_type: int | None
    size: int


def read_info(path: Path) -> BaseInfo:
    """The architecture and shape of a GGUF model (raises :class:`FineTuneError` if unreadable)."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise FineTuneError(f"cannot read {path} as a GGUF model: {exc}") from exc

    def value(key: str, default: Any = None) -> Any:
        field = reader.get_field(key)
        return default if field is None else field.contents()

    if value("general.type", "model") != "model":
        raise FineTuneError(f"{path} is a GGUF {value('general.type')}, not a model")
    arch = str(value("general.architecture", ""))
    heads = value(f"{arch}.attention.head_count", 0)
    return BaseInfo(
        path=path,
        architecture=arch,
        n_layers=int(value(f"{arch}.block_count", 0)),
        n_head=int(heads),
        n_head_kv=int(value(f"{arch}.attention.head_count_kv", heads)),
        n_embd=int(value(f"{arch}.embedding_length", 0)),
        file_type=value("general.file_type"),
        size=path.stat().st_size,
    )


def check_trainable(info: BaseInfo) -> None:
    """Refuse, naming the architecture, a model botkit cannot train and convert back."""
    if info.architecture not in TRAINABLE_ARCHITECTURES:
        raise FineTuneError(
            f"cannot fine-tune {info.path.name}: its architecture is {info.architecture!r}; "
            f"LoRA training works for {', '.join(TRAINABLE_ARCHITECTURES)} GGUF models "
            "(use `--method head` for a classifier head, which works with any model)"
        )


def file_hash(path: Path) -> str:
    """SHA-256 of a model file (first 16 hex digits), computed once per file version."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hashing:
        if key not in _hashes:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
            _hashes[key] = digest.hexdigest()[:16]
        return _hashes[key]


def set_threads() -> int:
    """Use every core for PyTorch's kernels (and no more: oversubscription only slows down)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, cores or 1))
    return torch.get_num_threads()


@contextlib.contextmanager
def _no_tensor_bar() -> Iterator[None]:
    """Without the progress bar transformers draws while it converts GGUF tensors (the CLI
    shows its own steps)."""
    try:
        gguf_utils: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    except ImportError:
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is None:
        yield
        return
    gguf_utils.tqdm = lambda items, *args, **kwargs: items
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def load_model(info: BaseInfo) -> Any:
    """The base model as a float32 ``transformers`` causal LM (dequantised from the GGUF)."""
    check_trainable(info)
    import torch
    import transformers

    hf_logging: Any = transformers.logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers import AutoModelForCausalLM

    try:
        with warnings.catch_warnings(), _no_tensor_bar():
            warnings.simplefilter("ignore")
            model: Any = AutoModelForCausalLM.from_pretrained(
                str(info.path.parent), gguf_file=info.path.name, dtype=torch.float32
            )
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise FineTuneError(
            f"transformers cannot load {info.path.name} (architecture {info.architecture!r}): {exc}"
        ) from exc
    # The weights are plain float32 now; forget the GGUF "quantization" transformers recorded.
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.config.use_cache = False
    return model
