"""LoRA fine-tuning of local GGUF models: ``botkit finetune local --method lora``.

Gradient descent on low-rank updates of the model's own projections, trained on the GPT's data in
the GPT's own prompts, saved as a GGUF LoRA adapter that llama.cpp applies to the model:

- :mod:`.data`: rows (labeled or chat format) -> the prompts the GPT gives its model -> llama.cpp
  token ids;
- :mod:`.base`: the base GGUF read by transformers (architecture check, file hash, threads);
- :mod:`.train`: the training loop (shared prompt prefix, answer-only logits, bounded
  micro-batches, checkpoints that resume);
- :mod:`.gguf_adapter`: PEFT LoRA weights -> a GGUF LoRA adapter (and back);
- :mod:`.store`: the adapters under the data directory, :func:`adapter_for`;
- :mod:`.heldout`: scoring the GPT as it is and each candidate on held-out rows;
- :mod:`.pipeline`: train, compare, keep only what is better;
- :mod:`.export`: the base with its adapter merged, as one GGUF (F16, Q8_0, checked).

The training stack (torch, transformers, peft, gguf: ``pip install 'botkit[train]'``) is imported
only inside the functions that train or convert; this package imports without it.
"""

from __future__ import annotations

from botkit.finetune.lora.store import adapter_dir, adapter_for

__all__ = ["adapter_dir", "adapter_for"]
