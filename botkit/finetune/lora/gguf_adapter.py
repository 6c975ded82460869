"""A trained PEFT LoRA as a GGUF LoRA adapter that llama.cpp loads next to its base model.

The file holds, for every adapted weight ``W`` of the base GGUF (``blk.N.attn_q.weight``...), two
tensors ``blk.N.attn_q.weight.lora_a`` (``rank x in``) and ``...lora_b`` (``out x rank``), and
the metadata llama.cpp checks: ``general.type = adapter``, ``adapter.type = lora``,
``general.architecture`` equal to the base's, and ``adapter.lora.alpha``. llama.cpp computes
``W x + (alpha / rank) * B (A x)``, which is PEFT's own scaling.

One subtlety: llama.cpp stores the query and key projections of ``llama`` models with their rows
permuted (the two halves of each head's rotary dimensions interleaved), and transformers undoes
that when it loads such a GGUF. LoRA's ``A`` acts on the input and is unchanged; ``B`` produces
output rows, so its rows get the same permutation as the base weight (:func:`permute_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: Architectures whose linear layers map one to one onto GGUF tensors (no fused projections), which
#: transformers can load from GGUF: the llama family.
TRAINABLE_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3")
#: Of those, the ones whose query/key rows llama.cpp permutes (and transformers un-permutes).
PERMUTED_ARCHITECTURES = ("llama",)

#: Projection names (transformers) -> GGUF tensor names, inside block N.
PROJECTIONS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_MODULE = re.compile(r"(?:^|\.)layers\.(\d+)\.(\w+\.\w+)$")


def gguf_tensor_name(module: str) -> str | None:
    """The base GGUF tensor a transformers module name stands for, or None."""
    match = _MODULE.search(module)
    if match is None or match.group(2) not in PROJECTIONS:
        return None
    return f"blk.{match.group(1)}.{PROJECTIONS[match.group(2)]}.weight"


def permute_rows(rows: np.ndarray, n_head: int) -> np.ndarray:
    """transformers' row order of a query/key projection -> llama.cpp's (per head, the two halves
    of the rotary dimensions interleaved)."""
    out = rows.shape[0]
    half = out // n_head // 2
    permuted: np.ndarray = (
        rows.reshape(n_head, 2, half, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)
    )
    return permuted


def lora_pairs(
    model: Any, architecture: str, n_head: int, n_head_kv: int
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(gguf tensor name, A, B)`` of every LoRA layer of a PEFT model, in llama.cpp's layout."""
    from peft.tuners.lora import LoraLayer

    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        layer: Any = module
        if "default" not in layer.lora_A:
            continue
        target = gguf_tensor_name(name)
        if target is None:
            raise ValueError(f"no GGUF tensor for the adapted layer {name}")
        a = layer.lora_A["default"].weight.detach().float().cpu().numpy()
        b = layer.lora_B["default"].weight.detach().float().cpu().numpy()
        if architecture in PERMUTED_ARCHITECTURES:
            if ".attn_q." in target:
                b = permute_rows(b, n_head)
            elif ".attn_k." in target:
                b = permute_rows(b, n_head_kv)
        yield target, np.ascontiguousarray(a), np.ascontiguousarray(b)


def write_adapter(
    path: Path,
    architecture: str,
    alpha: float,
    pairs: Iterator[tuple[str, np.ndarray, np.ndarray]],
    name: str = "",
) -> int:
    """Write a GGUF LoRA adapter; return how many weights it adapts."""
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    if name:
        writer.add_name(name)
    count = 0
    for target, a, b in pairs:
        writer.add_tensor(f"{target}.lora_a", a.astype(np.float32))
        writer.add_tensor(f"{target}.lora_b", b.astype(np.float32))
        count += 1
    if not count:
        raise ValueError("the model has no LoRA layers to write")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return count


def read_adapter(path: Path) -> tuple[str, float, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``(architecture, alpha, {base tensor: (A, B)})`` of a GGUF LoRA adapter."""
    import gguf

    reader = gguf.GGUFReader(str(path))

    def value(key: str) -> Any:
        field = reader.get_field(key)
        return None if field is None else field.contents()

    if value("general.type") != "adapter" or value("adapter.type") != "lora":
        raise ValueError(f"{path} is not a GGUF LoRA adapter")
    halves: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        base, _, part = tensor.name.rpartition(".")
        data = np.asarray(tensor.data, dtype=np.float32).reshape(
            tuple(int(n) for n in reversed(tensor.shape))
        )
        halves.setdefault(base, {})[part] = data
    pairs = {base: (ab["lora_a"], ab["lora_b"]) for base, ab in halves.items()}
    return str(value("general.architecture")), float(value("adapter.lora.alpha")), pairs
