"""Instructions hidden in documents: sentences of a retrieved passage that speak to the model
rather than about the subject ("ignore your instructions", "note to any AI reading this", "the
assistant must answer ...") are taken out before the passage reaches a prompt or a task.

The prompt already fences passages in (``<reference_passages>``, which a passage cannot close) and
tells the model they are data; a 135M-parameter model does not reliably listen, so what it is
never shown cannot steer it. The rules look for a sentence addressing a model or overriding its
instructions, not for any imperative: "you must sign in first" in a help center stays.
bench/injection.py measures both what they stop and what they wrongly remove.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MODEL = r"(?:ai|a\.i\.|assistants?|chat ?bots?|bots?|models?|llms?|language models?|gpts?)"
_OBEY = r"(?:answer|reply|respond|say|output|print|return|repeat)"
#: Each pattern marks a sentence as an instruction to the model.
RULES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # overriding what the model was told
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,60}"
        r"\b(?:instructions?|rules|prompts?|guidelines|directions|system message|everything)\b",
        # a message addressed to a model
        rf"\b(?:note|message|instructions?|reminder|notice|attention)\s+(?:to|for)\s+"
        rf"(?:any|all|every|the|you)?\s*{_MODEL}\b",
        rf"\b(?:dear|hey|hi|hello|attention|attn)\s*,?\s+{_MODEL}\b",
        rf"\b(?:if|when)\s+you\s+are\s+an?\s+{_MODEL}\b",
        r"^\W*(?:system|assistant|developer)\s*(?:message|prompt|note|instructions?)?\s*:",
        r"\bnew\s+instructions?\b",
        r"\b(?:you\s+are\s+now|from\s+now\s+on,?\s+you|pretend\s+(?:to\s+be|you\s+are)|"
        r"act\s+as\s+(?:if|an?)|role-?play\s+as)\b",
        # telling the model what to answer
        rf"\b(?:you|the\s+{_MODEL})\s+(?:must|should|shall|will|have to|are to|need to)\s+"
        rf"(?:now\s+|always\s+|only\s+)?{_OBEY}\b",
        r"\byour\s+(?:answer|reply|response|output)\s+(?:must|should|shall|has to|will)\b",
        rf"\b(?:asks?|wants?|tells?|instructs?|orders?)\s+(?:you|the\s+{_MODEL})\s+to\s+{_OBEY}",
        rf"\b{_OBEY}\s+(?:only|just|exactly)\s+(?:with\s+)?(?:the\s+word|\"|')",
        rf"\b{_OBEY}\s+with\b[^.!?\n]{{0,40}}\band\s+nothing\s+else\b",
        # chat-template tokens and botkit's own delimiters
        r"<\|?(?:im_start|im_end|system|user|assistant|endoftext)\|?>",
        r"<\s*/?\s*reference_passages\s*>",
    )
)
#: A chat-template turn written into a document: always aimed at a model.
_TURN = re.compile(r"<\|im_start\|>.*?(?:<\|im_end\|>|$)", re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+[\"')\]]*|\n|$)")


@dataclass(frozen=True)
class Neutralised:
    text: str
    removed: tuple[str, ...]  # the sentences taken out


def is_instruction(sentence: str) -> bool:
    """Whether ``sentence`` speaks to the model (by :data:`RULES`)."""
    return any(rule.search(sentence) for rule in RULES)


def neutralise(text: str) -> Neutralised:
    """``text`` without its sentences that speak to the model."""
    if not any(rule.search(text) for rule in RULES):  # the common case: one pass, nothing to do
        return Neutralised(text, ())
    removed = [m.group(0).strip() for m in _TURN.finditer(text)]
    text = _TURN.sub("\n", text)
    kept: list[str] = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0)
        if sentence.strip() and is_instruction(sentence):
            removed.append(sentence.strip())
            kept.append("\n" if sentence.endswith("\n") else " ")
        else:
            kept.append(sentence)
    cleaned = re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip()
    return Neutralised(cleaned, tuple(removed))
