"""Translation: ``translate <language> <text>``, or a GPT whose task is translation.

What must survive translation untouched (fenced and inline code, URLs, @mentions, {placeholders},
glossary terms) is swapped for numbered markers before the text reaches the model and put back
after, so even a small model cannot mangle it. Long text is translated paragraph by paragraph, and
a paragraph too long for the model's window sentence group by sentence group.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import botkit
from botkit.errors import InputError
from botkit.models.base import ChatMessage, complete_text
from botkit.spec import GenerationParams
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult, TrainingPrompt

LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sk": "Slovak", "sl": "Slovenian", "sv": "Swedish", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip

#: lingua's confidence below which the source language counts as unknown.
MIN_DETECTION_CONFIDENCE = 0.8
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: Tokens the chat template takes around the text to translate (a margin).
PROMPT_OVERHEAD = 32

_PROTECTED = re.compile(
    r"```.*?```"  # fenced code
    r"|`[^`\n]+`"  # inline code
    r"|https?://\S*[^\s.,;:!?)\]'\"]"  # URLs, without the punctuation that ends a sentence
    r"|(?<!\w)@[\w.-]+"  # @mentions
    r"|\{[^{}\s]+\}",  # {placeholders}
    re.S,
)


def language_name(given: str) -> str:
    """'fr', 'french' or 'French' -> 'French'; an unknown name suggests close ones."""
    key = given.strip().lower()
    if key in LANGUAGES:
        return LANGUAGES[key]
    by_name = {name.lower(): name for name in LANGUAGES.values()}
    if key in by_name:
        return by_name[key]
    close = difflib.get_close_matches(key, list(by_name), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_name[c] for c in close)}?" if close else ""
    raise InputError(f"unknown language {given!r}{hint} (a name like French or a code like fr)")


@functools.cache
def _detector() -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder  # its models load on first use

    codes = [
        getattr(IsoCode639_1, code.upper())
        for code in LANGUAGES
        if hasattr(IsoCode639_1, code.upper())
    ]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()


def detect_language(text: str) -> str | None:
    """The language ``text`` is written in (a name of LANGUAGES), or None when unsure.

    lingua's low-accuracy mode (a few MB of n-grams per language, shipped in its wheel; the
    high-accuracy mode takes 10 s and 600 MB to load and still misreads three-word phrases).

    Code, URLs and the like are left out first: they would vote for English.
    """
    prose = _PROTECTED.sub(" ", text)
    if not prose.strip():
        return None
    best = _detector().compute_language_confidence_values(prose)[0]
    if best.value < MIN_DETECTION_CONFIDENCE:  # short texts ("Hello.") are often ambiguous
        return None
    return LANGUAGES.get(best.language.iso_code_639_1.name.lower())


def protect(text: str, glossary: dict[str, str]) -> tuple[str, list[str]]:
    """Replace what must not be translated with markers ⟦0⟧, ⟦1⟧...; return the pieces to restore."""
    pieces: list[str] = []

    def keep(match: re.Match[str]) -> str:
        pieces.append(match.group(0))
        return f"⟦{len(pieces) - 1}⟧"

    masked = _PROTECTED.sub(keep, text)
    for term, translation in sorted(glossary.items(), key=lambda kv: -len(kv[0])):
        pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        masked = pattern.sub(_keeper(pieces, translation), masked)
    return masked, pieces


def _keeper(pieces: list[str], replacement: str) -> Callable[[re.Match[str]], str]:
    def keep(_match: re.Match[str]) -> str:
        pieces.append(replacement)
        return f"⟦{len(pieces) - 1}⟧"

    return keep


def restore(text: str, pieces: list[str]) -> str:
    """Put the protected pieces back; any whose marker the model dropped is appended, not lost."""
    used: set[int] = set()

    def put(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n >= len(pieces):
            return ""
        used.add(n)
        return pieces[n]

    text = re.sub(r"⟦(\d+)⟧", put, text)
    missing = [p for n, p in enumerate(pieces) if n not in used]
    return " ".join([text, *missing]) if missing else text


class TranslationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str | None = Field(None, description="Default target language (name or code).")
    source: str | None = Field(None, description="Source language; omitted: detected.")
    glossary: dict[str, str] = Field(
        default_factory=dict, description="Term -> its fixed translation."
    )


class Translation(TaskResult):
    prose = True
    translation: str
    target: str
    source: str

    def text(self) -> str:
        return self.translation

    def prediction(self) -> str:
        return self.translation


class TranslationTask(TaskPlugin):
    name = "translation"
    description = "Translate, keeping Markdown, code, URLs, @mentions and {placeholders} intact."
    Options = TranslationOptions
    commands = (
        Command(
            "translate",
            "<language> <text>",
            "Translate the text into the language",
            choices={"language": tuple(LANGUAGES.values())},
        ),
    )
    eval_kind = "translation"

    async def prepare(self, request: TaskRequest) -> None:
        await request.model().load()

    async def run(self, request: TaskRequest) -> TaskResult:
        options = request.options
        assert isinstance(options, TranslationOptions)
        text = request.text
        if request.command:
            target_word, _, text = text.partition(" ")
            target = language_name(target_word)
        elif options.target:
            target = language_name(options.target)
        else:
            raise InputError("which language? translate <language> <text>, or set options.target")
        if not text.strip():
            raise InputError("nothing to translate: translate <language> <text>")
        if options.source:
            source: str | None = language_name(options.source)
        else:  # lingua loads its n-grams on first use: off the event loop
            source = await asyncio.to_thread(detect_language, text)
        if source == target:  # already in the target language: nothing for the model to do
            return Translation(translation=text, target=target, source=source)
        model = request.model()
        system = _system(source, target)
        own = request.gpt.task is not None and request.gpt.task.plugin == self.name
        shots = _shots(request, options, target)
        limit = (request.gpt.parameters.max_tokens if own else None) or 1024
        # the source, then a translation up to twice as long (+16), must fit beside the prompt
        fixed = sum(await model.count_message_tokens([system, *shots])) + PROMPT_OVERHEAD
        room = (model.context_window - fixed - 16) // 3
        out = []
        for paragraph in re.split(r"(\n\s*\n)", text):
            if not paragraph.strip() or re.fullmatch(r"\n\s*\n", paragraph):
                out.append(paragraph)
                continue
            masked, pieces = protect(paragraph, options.glossary)
            parts = []
            for part in await _fitting(masked, room, model.count_tokens):
                # a translation is about as long as its source: a bound stops a small model rambling
                budget = min(limit, 2 * await model.count_tokens(part) + 16)
                params = GenerationParams(temperature=0.1, max_tokens=budget)
                prompt = [system, *shots, ChatMessage(role="user", content=part)]
                parts.append((await complete_text(model, prompt, params)).strip())
            out.append(restore(" ".join(parts), pieces))
        return Translation(translation="".join(out), target=target, source=source or "unknown")

    async def training_prompt(self, request: TaskRequest, answer: str) -> TrainingPrompt | None:
        """The prompt of a GPT's own translation task (no command word), answered by ``answer``."""
        options = request.options
        assert isinstance(options, TranslationOptions)
        if not options.target:
            return None
        target = language_name(options.target)
        if options.source:
            source: str | None = language_name(options.source)
        else:
            source = await asyncio.to_thread(detect_language, request.text)
        shots = _shots(request, options, target)
        user = ChatMessage(role="user", content=request.text)
        return TrainingPrompt(answer=answer, messages=(_system(source, target), *shots, user))


def _system(source: str | None, target: str) -> ChatMessage:
    return ChatMessage(
        role="system",
        content=f"Translate the user's text from {source or 'its language'} into {target}. "
        "Reply with the translation only. Copy markers like ⟦0⟧ exactly where they belong.",
    )


def _shots(request: TaskRequest, options: TranslationOptions, target: str) -> list[ChatMessage]:
    """A translator GPT's own examples (for its own target), as earlier turns: a small model
    follows them best. Another GPT's examples and limits are for its own job."""
    own = request.gpt.task is not None and request.gpt.task.plugin == TranslationTask.name
    shots: list[ChatMessage] = []
    if own and options.target and language_name(options.target) == target:
        for example in request.gpt.examples:
            shots += [
                ChatMessage(role="user", content=example.user),
                ChatMessage(role="assistant", content=example.assistant),
            ]
    return shots


async def _fitting(text: str, room: int, count: Callable[[str], Awaitable[int]]) -> list[str]:
    """``text`` as consecutive sentence groups of at most ``room`` tokens each.

    A single sentence longer than that is refused rather than cut mid-sentence.
    """
    if await count(text) <= room:
        return [text]
    groups: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        size = await count(sentence)
        if size > room:
            raise InputError(
                f"a sentence of {size} tokens is too long for this model's window (at most {room} "
                "per piece): split it, or use a model with a larger context_window"
            )
        if groups and await count(f"{groups[-1]} {sentence}") <= room:
            groups[-1] = f"{groups[-1]} {sentence}"
        else:
            groups.append(sentence)
    return groups


@botkit.hookimpl
def register_tasks(register: Callable[[str, Any], None]) -> None:
    register("translation", TranslationTask)
