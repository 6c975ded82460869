"""``botkit finetune export``: the base model with its adapter merged in, as one standalone GGUF.

Every tensor of the base GGUF is dequantised; each adapted weight gets its LoRA update
``(alpha / rank) * B @ A`` added (both already in llama.cpp's layout, as the adapter file stores
them); the result is written as F16 or Q8_0 (one-dimensional tensors, the norms, stay F32) with
the base's metadata, tensor by tensor, so memory holds one tensor at a time.

A merged model may lose the fine-tune when it is quantised coarsely (measured on SST-2: the gain
survives F16 and Q8_0; re-quantising to Q4_1 erases it). So the export is checked: the held-out
sequences saved with the adapter are scored (mean negative log-likelihood of their answers) by
the base model, the base with the adapter, and the exported file; an export that keeps less than
:data:`MIN_KEPT_GAIN` of the adapter's improvement is refused, with the figures, and deleted.
Other llama.cpp types (Q4_K_M, Q5_K_M, ...) are made from the F16 merge by llama.cpp's quantizer
and checked the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from botkit.finetune import FineTuneError
from botkit.finetune.lora import gguf_adapter, store

#: Types written by botkit itself.
NATIVE_TYPES = ("F16", "Q8_0")
#: Share of the adapter's held-out improvement an export must keep.
MIN_KEPT_GAIN = 0.5
#: Held-out sequences scored per model when checking an export.
CHECK_ROWS = 100
_FILE_TYPES = {"F16": 1, "Q8_0": 7}


@dataclass
class Check:
    """Mean negative log-likelihood of the held-out answers under each model (lower is better)."""

    base: float
    adapter: float
    export: float
    rows: int

    @property
    def kept(self) -> float:
        """Share of the adapter's improvement the export keeps (1: all of it)."""
        gain = self.base - self.adapter
        return (self.base - self.export) / gain if gain > 0 else 1.0


def merge(base: Path, adapter: Path, out: Path, qtype: str = "F16") -> int:
    """Write ``base`` + ``adapter`` to ``out`` as F16 or Q8_0; return the tensors changed."""
    import gguf

    if qtype not in NATIVE_TYPES:
        raise ValueError(f"merge writes {', '.join(NATIVE_TYPES)}, not {qtype}")
    arch, alpha, pairs = gguf_adapter.read_adapter(adapter)
    reader = gguf.GGUFReader(str(base))
    base_arch = reader.get_field("general.architecture")
    if base_arch is None or base_arch.contents() != arch:
        raise FineTuneError(f"the adapter is for {arch!r} models; {base.name} is not one")
    writer = gguf.GGUFWriter(str(out), arch)
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        kind = field.types[0]
        sub = field.types[1] if kind == gguf.GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(name, field.contents(), kind, sub_type=sub)
    writer.add_file_type(_FILE_TYPES[qtype])
    plan: list[tuple[Any, Any]] = []
    for tensor in reader.tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape))  # numpy order
        target = _target_type(qtype, shape)
        info_shape: tuple[int, ...] = shape
        dtype: type[Any]
        if target == gguf.GGMLQuantizationType.F32:
            nbytes, dtype = int(np.prod(shape)) * 4, np.float32
        elif target == gguf.GGMLQuantizationType.F16:
            nbytes, dtype = int(np.prod(shape)) * 2, np.float16
        else:  # quantized: the writer takes the shape in bytes
            info_shape = gguf.quant_shape_to_byte_shape(shape, target)
            nbytes, dtype = int(np.prod(info_shape)), np.uint8
        writer.add_tensor_info(tensor.name, info_shape, np.dtype(dtype), nbytes, raw_dtype=target)
        plan.append((tensor, target))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    changed = 0
    for tensor, target in plan:
        shape = tuple(int(n) for n in reversed(tensor.shape))
        weights = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        weights = weights.reshape(shape)
        if tensor.name in pairs:
            a, b = pairs[tensor.name]
            weights = weights + (alpha / a.shape[0]) * (b @ a)
            changed += 1
        if target == gguf.GGMLQuantizationType.F32:
            data = weights.astype(np.float32)
        elif target == gguf.GGMLQuantizationType.F16:
            data = weights.astype(np.float16)
        else:
            data = gguf.quants.quantize(weights, target)
        writer.write_tensor_data(data)
    writer.close()
    if changed != len(pairs):
        raise FineTuneError(f"{len(pairs) - changed} adapter tensors have no match in {base.name}")
    return changed


def _target_type(qtype: str, shape: tuple[int, ...]) -> Any:
    import gguf

    if len(shape) < 2:
        return gguf.GGMLQuantizationType.F32
    if qtype == "Q8_0" and shape[-1] % 32 == 0:
        return gguf.GGMLQuantizationType.Q8_0
    return gguf.GGMLQuantizationType.F16


def llama_quantize(source: Path, out: Path, qtype: str) -> None:
    """Quantise a GGUF with llama.cpp's own quantizer (any type it knows: Q4_K_M, Q4_1...)."""
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}", None)
    if ftype is None:
        raise FineTuneError(f"unknown quantisation type {qtype!r} (e.g. F16, Q8_0, Q4_K_M)")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    if llama_cpp.llama_model_quantize(
        str(source).encode(), str(out).encode(), ctypes.byref(params)
    ):
        raise FineTuneError(f"llama.cpp could not quantise the merged model to {qtype}")


def answer_nll(
    model: Path, sequences: list[dict[str, list[int]]], adapter: Path | None = None
) -> float:
    """Mean negative log-likelihood of each sequence's answer tokens after its context."""
    from llama_cpp import Llama

    from botkit.models.llama_scoring import _last_logits, _log_softmax
    from botkit.models.local import _without_amx

    longest = max(len(s["context"]) + len(s["answer"]) for s in sequences)
    with _without_amx():
        llama: Any = Llama(
            model_path=str(model),
            n_ctx=max(256, longest + 8),
            lora_path=str(adapter) if adapter else None,
            n_threads=os.cpu_count() or 1,
            verbose=False,
        )
    total, count = 0.0, 0
    with contextlib.closing(llama):
        for s in sequences:
            llama.reset()
            llama.eval(list(s["context"]))
            for token in s["answer"]:
                total -= float(_log_softmax(_last_logits(llama))[token])
                count += 1
                llama.eval([token])
    return total / max(1, count)


def export(
    data_dir: Path,
    gpt: str,
    out: Path,
    qtype: str = "F16",
    phase: Callable[[str], None] = lambda text: None,
) -> Check | None:
    """Write the GPT's model with its adapter merged to ``out``; refuse an export that loses the
    fine-tune (raises :class:`FineTuneError` with the measured loss). Returns the check made
    (None when the adapter has no held-out rows to check with)."""
    folder = store.adapter_dir(data_dir, gpt)
    info = store.read_info(folder)
    if info is None:
        raise FineTuneError(
            f"GPT {gpt!r} has no LoRA adapter: train one with "
            f"`botkit finetune local --gpt {gpt} --data FILE --method lora`"
        )
    base = Path(info["base_model"]["path"])
    if not base.is_file():
        raise FineTuneError(f"the adapter's base model is gone: {base}")
    adapter = folder / info["file"]
    qtype = qtype.upper()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    merged = partial if qtype in NATIVE_TYPES else out.with_name(f".{out.name}.f16-{os.getpid()}")
    try:
        phase(f"merging the adapter into {base.name} ({qtype if qtype in NATIVE_TYPES else 'F16'})")
        merge(base, adapter, merged, qtype if qtype in NATIVE_TYPES else "F16")
        if merged != partial:
            phase(f"quantising to {qtype} with llama.cpp")
            llama_quantize(merged, partial, qtype)
        check = _check(folder, base, adapter, partial, phase)
        if check is not None and check.kept < MIN_KEPT_GAIN:
            raise FineTuneError(
                f"refused: {qtype} erases the fine-tune. Held-out loss (mean negative "
                f"log-likelihood of the answers, {check.rows} rows): base {check.base:.4f}, "
                f"with the adapter {check.adapter:.4f}, {qtype} export {check.export:.4f} "
                f"(keeps {max(0.0, check.kept):.0%} of the gain). Export F16 or Q8_0 instead."
            )
        os.replace(partial, out)
        return check
    finally:
        partial.unlink(missing_ok=True)
        if merged != partial:
            merged.unlink(missing_ok=True)


def _check(
    folder: Path, base: Path, adapter: Path, exported: Path, phase: Callable[[str], None]
) -> Check | None:
    path = folder / store.HELDOUT_FILE
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows = rows[:CHECK_ROWS]
    if not rows:
        return None
    phase(f"checking the export on {len(rows)} held-out rows")
    return Check(
        base=answer_nll(base, rows),
        adapter=answer_nll(base, rows, adapter),
        export=answer_nll(exported, rows),
        rows=len(rows),
    )
