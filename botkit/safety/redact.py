"""Redaction: what must not leave for a remote model, nor reach a log line.

E-mail addresses, phone numbers, card numbers (Luhn-checked), IBANs (mod-97-checked) and API keys
or tokens are replaced by numbered placeholders (``[email 1]``, ``[card 2]``...). Redaction is
reversible per call: the model answers with the placeholders and :meth:`Redaction.restore` puts
the originals back, so the user still reads their own text and the model never saw it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: Kind -> pattern. Order matters: a key is looked for before the digits inside it.
PATTERNS: dict[str, re.Pattern[str]] = {
    "secret": re.compile(
        r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"
        r"|xox[abposr]-[A-Za-z0-9-]{10,}"
        r"|xapp-[A-Za-z0-9-]{10,}"
        r"|gh[pousr]_[A-Za-z0-9]{20,}"
        r"|AKIA[0-9A-Z]{16}"
        r"|AIza[0-9A-Za-z_-]{30,}"
        r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"  # a JWT
        r"|(?<=Bearer )[A-Za-z0-9._~+/-]{20,}=*"
    ),
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b"),
    "card": re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),
    "phone": re.compile(r"(?<![\w+])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\w)"),
}
_PLACEHOLDER = re.compile(r"\[(secret|email|iban|card|phone) (\d+)\]")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    raw = text.replace(" ", "")
    if not 15 <= len(raw) <= 34:
        return False
    moved = raw[4:] + raw[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _accept(kind: str, found: str) -> bool:
    if kind == "card":
        digits = re.sub(r"\D", "", found)
        return 13 <= len(digits) <= 19 and luhn(digits)
    if kind == "iban":
        return iban_valid(found)
    if kind == "phone":
        digits = re.sub(r"\D", "", found)
        return 9 <= len(digits) <= 15 and (
            found.startswith("+") or bool(re.search(r"[ .()-]", found))
        )
    return True


@dataclass
class Redaction:
    """The placeholders of one call, so the answer can be given back with the originals."""

    originals: dict[str, str] = field(default_factory=dict)

    def redact(self, text: str) -> str:
        for kind, pattern in PATTERNS.items():
            text = pattern.sub(self._hider(kind), text)
        return text

    def _hider(self, kind: str) -> Callable[[re.Match[str]], str]:
        return lambda match: self._hide(kind, match.group(0))

    def _hide(self, kind: str, found: str) -> str:
        if not _accept(kind, found) or _PLACEHOLDER.fullmatch(found):
            return found
        for placeholder, original in self.originals.items():
            if original == found:
                return placeholder
        placeholder = f"[{kind} {len(self.originals) + 1}]"
        self.originals[placeholder] = found
        return placeholder

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.originals.get(m.group(0), m.group(0)), text)

    def pending(self, text: str) -> int:
        """Where the end of streamed ``text`` might hold the start of a placeholder (its index,
        or ``len(text)`` when nothing is pending): text from there waits for the next chunk."""
        start = text.rfind("[")
        if start == -1 or "]" in text[start:] or len(text) - start > 12:
            return len(text)
        return start


def redact(text: str) -> str:
    """``text`` with every secret replaced (for log lines: nothing to give back)."""
    return Redaction().redact(text)
