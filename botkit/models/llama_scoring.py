"""Label likelihoods from a llama.cpp model, with the shared prompt prefix evaluated only once.

A classifier asks the same question of every text: instructions and examples (the prefix), then the
text, then "Label:". The prefix stays in the model's KV cache between calls; each call rewinds to
the end of the prefix and evaluates only the text. When every label starts with a different token,
one forward pass scores them all (the log-softmax of the next-token logits); otherwise each label's
tokens are scored one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from botkit.errors import InputError


def score_labels(
    llama: Any, lock: threading.Lock, prefix: str, text: str, labels: Sequence[str]
) -> list[float]:
    """Log-probability of each label after ``prefix + text`` (blocking: run it in a thread)."""
    head = _tokens(llama, prefix, special=True)
    body = _tokens(llama, text, special=False)
    choices = [_tokens(llama, label, special=False) for label in labels]
    longest = max(len(c) for c in choices)
    room = llama.n_ctx() - len(head) - longest
    if room <= 0:
        raise InputError(
            f"the classifier's instructions and examples take {len(head)} tokens, more than the "
            f"model's context of {llama.n_ctx()}: use fewer or shorter examples"
        )
    if len(body) > room:
        raise InputError(
            f"the text is {len(body)} tokens but this classifier has room for {room} "
            "after its instructions and examples; shorten the text (or give the model a larger "
            "context_window)"
        )
    with lock:
        _keep_prefix(llama, head)
        llama.eval(body)
        first = _log_softmax(_last_logits(llama))
        if len({c[0] for c in choices}) == len(choices):
            return [float(first[c[0]]) for c in choices]
        end = llama.n_tokens
        scores = []
        for choice in choices:
            total = float(first[choice[0]])
            llama.n_tokens = end  # the next eval overwrites whatever followed the text
            for previous, token in pairwise(choice):
                llama.eval([previous])
                total += float(_log_softmax(_last_logits(llama))[token])
            scores.append(total)
        return scores


def _tokens(llama: Any, text: str, special: bool) -> list[int]:
    return list(llama.tokenize(text.encode("utf-8"), add_bos=False, special=special))


def _keep_prefix(llama: Any, head: list[int]) -> None:
    """Leave exactly ``head`` in the KV cache, evaluating it only if it is not already there."""
    n = len(head)
    cached = llama.n_tokens >= n and llama.input_ids[:n].tolist() == head
    if not cached:
        llama.reset()
        llama.eval(head)
    llama.n_tokens = n


def _last_logits(llama: Any) -> Any:
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)


def _log_softmax(logits: Any) -> Any:
    return logits - np.logaddexp.reduce(logits)
