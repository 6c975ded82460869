"""Extractive answers: the shortest span of the retrieved passages that answers the question.

No language model runs here, so an answer costs milliseconds. The question is read for what kind
of answer it wants (``who`` a name, ``when`` a date, ``what year`` a year, ``how many`` a
number...) and for its content words. The passages' sentences are ranked by the share of those
words they hold (stemmed), plus a little of their similarity in meaning; in the best
``MAX_SENTENCES`` every span of up to ``MAX_SPAN`` words that starts and ends on a content word
is a candidate, described by features: how close it sits to the question's words in its sentence
(an answer is next to what the question mentions, and is not itself one of the question's
words), its shape (capitalised, a number, a year, a month...) and length and the words around it
crossed with the kind of answer wanted, its similarity in meaning to the question and to the noun
after "what"/"which" (with a local embedder), and the rank of its sentence and passage. A linear
model over those features (``weights.json``, fitted by ``bench/qa.py --train``) scores them; the
best span is the answer, its sentence the context to quote with the source, and its score's
sigmoid a confidence: below ``MIN_CONFIDENCE`` the plugin says it does not know.

On SQuAD (bench/qa.py: 1,065 paragraphs indexed, 5,665 questions, the weights fitted on half of
the articles and scored on the other half, both ways round): token F1 0.336 and exact match
0.240, against 0.07 for the best sentence; the best candidate would score 0.805, so ranking, not
the candidates, is what holds it back. Alternatives measured: SmolLM2-135M asked to answer from
the right paragraph (F1 0.11 on 40 questions: it answers in sentences; and it reads a paragraph
at about 100 tokens/s here, seconds a question, far from 20 questions/s); a listwise (softmax)
objective instead of the logistic one (the same F1).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Longest answer considered, in words.
MAX_SPAN = 8
#: Sentences (the best by shared words, over all passages) whose spans are candidates.
MAX_SENTENCES = 4
#: Sentences rank by the share of the question's words they hold, plus this much of their
#: similarity in meaning, minus this much per passage further down (bench/qa.py: the best sentence
#: holds an answer for 0.641 of SQuAD questions, against 0.623 by shared words alone).
MEANING, LOWER_PASSAGE = 0.25, 0.05
#: Words either side of a span that count as its neighbourhood.
WINDOW = 6
#: Below this confidence the plugin answers that it does not know. On SQuAD (bench/qa.py) it
#: abstains on 0.08 of the answerable questions and 0.84 of those asked of another article (and
#: F1 goes from 0.336 to 0.331).
MIN_CONFIDENCE = 0.04

WEIGHTS_FILE = Path(__file__).with_name("weights.json")

_TOKEN = re.compile(r"[$£€]?\d+(?:[.,:]\d+)*(?:%|s\b)?|\w+(?:['\u2019\-\u2013]\w+)*|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return text.split()


STOPWORDS = frozenset(
    _words(
        """a an the and or but nor of in on at by for from to into onto with without within about
    as is are was were be been being am do does did done doing has have had having will
    would shall should can could may might must it its it's this that these those there here
    their they them he him his she her hers we us our you your i me my mine what which who
    whom whose when where why how than then so such not no yes also very too just only more
    most many much some any each every all both either neither other another one ones if
    because while during before after since until up down out over under again further once
    same own s t if else per via among between through against above below"""
    )
)
_PREPOSITIONS = frozenset(
    _words("in on at by from during since of to for with into after before until near")
)
_MONTHS = frozenset(
    _words(
        """january february march april may june july august september october november december"""
    )
)
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})s?$")
_NUMBER_WORDS = frozenset(
    _words(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred thousand million billion trillion half dozen first second third
    fourth fifth sixth seventh eighth ninth tenth"""
    )
)
_UNITS = frozenset(
    _words(
        """percent per cent km kilometres kilometers miles mi metres meters m feet ft years year
    months days hours minutes seconds dollars pounds euros tons tonnes kg square degrees
    million billion thousand hundred"""
    )
)

QUESTION_TYPES = ("number", "year", "date", "person", "place", "reason", "how", "what", "other")
_WH = frozenset(_words("what which who whom whose when where why how"))
_DATE_HEADS = frozenset(_words("year years century decade date day month time period era"))
_NUMBER_HEADS = frozenset(_words("percentage percent number amount proportion fraction"))


def question_type(question: str) -> tuple[str, str]:
    """The kind of answer the question wants (one of ``QUESTION_TYPES``), and the noun after
    ``what``/``which`` (``"team"`` in "Which NFL team..."), or ``""``."""
    words = [w.lower() for w in _WORD.findall(question)]
    for n, word in enumerate(words):
        after = words[n + 1] if n + 1 < len(words) else ""
        if word == "how" and after in (
            "many", "much", "long", "old", "far", "large", "big", "tall", "high", "fast",
            "often", "wide", "deep", "heavy", "small", "few",
        ):  # fmt: skip
            return "number", ""
        if word in ("what", "which"):
            head = next((w for w in words[n + 1 : n + 4] if w not in STOPWORDS), "")
            if head in ("year", "years", "century", "decade"):
                return "year", head
            if head in _DATE_HEADS:
                return "date", head
            if head in _NUMBER_HEADS:
                return "number", head
            return "what", head
        if word in ("who", "whom", "whose"):
            return "person", ""
        if word == "when":
            return "date", ""
        if word == "where":
            return "place", ""
        if word == "why":
            return "reason", ""
        if word == "how":
            return "how", ""
    return "other", ""


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word.lower()))


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@dataclass(frozen=True)
class Span:
    """An answer: the span, the sentence holding it, which passage, and how sure (0-1)."""

    answer: str
    sentence: str
    passage: int
    confidence: float


def sentences(text: str) -> list[str]:
    """The prose sentences of a passage (headings, list markers and code fences dropped)."""
    lines = [
        ln
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith(("#", "```", "|"))
    ]
    flat = " ".join(ln.strip().lstrip("-*0123456789. ") for ln in lines)
    return [s.strip() for s in _SENTENCE.split(flat) if len(_WORD.findall(s)) >= 4]


@dataclass
class _Sentence:
    text: str
    passage: int
    starts: list[int]
    ends: list[int]
    words: list[str]
    matched: np.ndarray  # per token: the weight of the question word it matches, else 0
    side: np.ndarray  # per token: +1/-1 the matched word's side of the wh-word in the question
    overlap: float
    meaning: float = 0.0  # cosine similarity with the question, when there is an embedder


class Question:
    """What is read once from the question: its kind, head noun and content words."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.kind, self.head = question_type(text)
        words = [w for w in _WORD.findall(text) if w.lower() not in STOPWORDS]
        self.weights: dict[str, float] = {}
        for word in words:
            weight = 1.5 if word[0].isupper() or word[0].isdigit() else 1.0
            key = stem(word)
            self.weights[key] = max(weight, self.weights.get(key, 0.0))
        self.total = sum(self.weights.values()) or 1.0
        tokens = _WORD.findall(text)
        wh = next((n for n, w in enumerate(tokens) if w.lower() in _WH), 0)
        self.side = {stem(w): (1.0 if n > wh else -1.0) for n, w in enumerate(tokens)
                     if w.lower() not in STOPWORDS}  # fmt: skip


def _read(text: str, passage: int, question: Question) -> _Sentence:
    starts, ends, words = [], [], []
    for match in _TOKEN.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
        words.append(match.group())
    matched = np.array([question.weights.get(stem(w), 0.0) if w[0].isalnum() else 0.0
                        for w in words])  # fmt: skip
    side = np.array([question.side.get(stem(w), 0.0) if m else 0.0
                     for w, m in zip(words, matched, strict=True)])  # fmt: skip
    seen = {stem(w) for w, m in zip(words, matched, strict=True) if m}
    overlap = sum(question.weights[s] for s in seen) / question.total
    return _Sentence(text, passage, starts, ends, words, matched, side, overlap)


def _shape(words: list[str]) -> dict[str, np.ndarray]:
    lower = [w.lower() for w in words]
    alnum = np.array([w[0].isalnum() or w[0] in "$£€" for w in words])
    return {
        "alnum": alnum,
        "stop": np.array([w in STOPWORDS for w in lower]),
        "cap": np.array([w[0].isupper() for w in words]),
        "digit": np.array([any(c.isdigit() for c in w) or w in _NUMBER_WORDS for w in lower]),
        "year": np.array([bool(_YEAR.match(w)) for w in words]),
        "month": np.array([w in _MONTHS for w in lower]),
        "unit": np.array([w in _UNITS or w.endswith("%") or w[0] in "$£€" for w in lower]),
        "prep": np.array([w in _PREPOSITIONS for w in lower]),
        "comma": np.array([w in (",", ";", ":", "(", ")", '"') for w in words]),
    }


#: Feature names, in the order of the weight vector (built once).
def feature_names() -> list[str]:
    base = [
        "bias", "overlap", "sentence_0", "sentence_1", "sentence_2", "passage_0", "passage_1",
        "passage_2", "in_question", "any_in_question", "near_1", "near_inv", "near_log",
        "window_left", "window_right", "prev_prep", "prev_the", "prev_punct", "next_punct",
        "in_parens", "has_comma", "head_sim", "question_sim", "sentence_sim",
    ]  # fmt: skip
    shapes = [
        "len_1", "len_2", "len_3", "len_4", "len_5_6", "len_7_plus", "all_cap", "first_cap",
        "has_digit", "all_digit", "has_year", "has_month", "has_unit", "all_lower", "bias_q",
        "prev_prep_q", "near_inv_q", "matched_before", "matched_after", "agree", "only_year",
    ]  # fmt: skip
    cues = [f"prev={c}" for c in (*CUES, "?")] + [f"next={c}" for c in (*CUES, "?")]
    return base + [f"{kind}:{s}" for kind in QUESTION_TYPES for s in (*shapes, *cues)]


N_BASE = 24
#: Words whose presence just before or after a span tells what kind of answer it is.
CUES = (
    "in", "on", "at", "by", "from", "of", "to", "for", "with", "as", "the", "a", "is", "was",
    "are", "were", "called", "named", "known", "than", "and", "or", ",", "(", ")", ".", '"',
    "after", "before", "during", "since", "about", "over", "'s", "which", "who", "that", "has",
    "had", "be", "his", "her", "its", "their",
)  # fmt: skip
_CUE_INDEX = {c: n for n, c in enumerate(CUES)}


def _features(
    question: Question, sentence: _Sentence, rank: int, passage_rank: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, features) of every candidate span of ``sentence``."""
    words = sentence.words
    n = len(words)
    shape = _shape(words)
    good_edge = shape["alnum"] & ~shape["stop"]
    starts, ends = [], []
    for first in range(n):
        if not good_edge[first]:
            continue
        for last in range(first, min(n, first + MAX_SPAN)):
            if words[last] in (".", ";", "(", ")", "!", "?"):
                break
            if good_edge[last]:
                starts.append(first)
                ends.append(last)
    if not starts:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, len(feature_names())))
    i = np.array(starts)
    j = np.array(ends)
    length = j - i + 1
    cum = {k: np.concatenate([[0], np.cumsum(v)]) for k, v in shape.items()}
    matched = sentence.matched > 0
    cum_matched = np.concatenate([[0], np.cumsum(matched)])

    def count(key: str) -> Any:
        return cum[key][j + 1] - cum[key][i]

    content = count("alnum") - count("stop")
    in_question = (cum_matched[j + 1] - cum_matched[i]) / np.maximum(content, 1)
    positions = np.flatnonzero(matched)
    if len(positions):
        left = np.where(positions[None, :] < i[:, None], i[:, None] - positions[None, :], 999)
        right = np.where(positions[None, :] > j[:, None], positions[None, :] - j[:, None], 999)
        near = np.minimum(left.min(axis=1), right.min(axis=1)).astype(float)
    else:
        near = np.full(len(i), 999.0)
    weights = sentence.matched
    cum_w = np.concatenate([[0], np.cumsum(weights)])
    lo = np.maximum(i - WINDOW, 0)
    hi = np.minimum(j + 1 + WINDOW, n)
    window_left = (cum_w[i] - cum_w[lo]) / question.total
    window_right = (cum_w[hi] - cum_w[j + 1]) / question.total
    prev = np.maximum(i - 1, 0)
    has_prev = i > 0
    prev_prep = shape["prep"][prev] & has_prev
    prev_the = np.array([words[p].lower() in ("the", "a", "an") for p in prev]) & has_prev
    prev_punct = ~has_prev | ~shape["alnum"][prev]
    nxt = np.minimum(j + 1, n - 1)
    next_punct = (j + 1 >= n) | ~shape["alnum"][nxt]
    in_parens = np.array([words[p] == "(" for p in prev]) & has_prev
    has_comma = count("comma") > 0
    near_inv = np.where(near < 999, 1.0 / near, 0.0)
    f_base = np.column_stack([
        np.ones(len(i)), np.full(len(i), sentence.overlap), np.full(len(i), rank == 0),
        np.full(len(i), rank == 1), np.full(len(i), rank == 2), np.full(len(i), passage_rank == 0),
        np.full(len(i), passage_rank == 1), np.full(len(i), passage_rank == 2), in_question,
        in_question > 0, near == 1, near_inv, np.log1p(np.minimum(near, 50)), window_left,
        window_right, prev_prep, prev_the, prev_punct, next_punct, in_parens, has_comma,
        np.zeros(len(i)), np.zeros(len(i)), np.full(len(i), sentence.meaning),
    ])  # fmt: skip
    alpha = np.maximum(content, 1)
    lo3, hi3 = np.maximum(i - 3, 0), np.minimum(j + 4, n)
    matched_before = cum_matched[i] - cum_matched[lo3] > 0
    matched_after = cum_matched[hi3] - cum_matched[j + 1] > 0
    # a matched word on the same side of the span as of the wh-word in the question agrees
    pos = np.arange(n)
    sided = sentence.side[None, :] * np.sign(pos[None, :] - (i[:, None] + j[:, None]) / 2)
    window = (pos[None, :] >= lo[:, None]) & (pos[None, :] < hi[:, None])
    inside = (pos[None, :] >= i[:, None]) & (pos[None, :] <= j[:, None])
    agree = ((sided > 0) & window & ~inside).sum(axis=1) - ((sided < 0) & window & ~inside).sum(
        axis=1
    )
    lower = [w.lower() for w in words]
    prev_cue = np.array([_CUE_INDEX.get(lower[p], len(CUES)) if p < q else len(CUES)
                         for p, q in zip(prev, i, strict=True)])  # fmt: skip
    next_cue = np.array([_CUE_INDEX.get(lower[q + 1], len(CUES)) if q + 1 < n else len(CUES)
                         for q in j])  # fmt: skip
    cue_block = np.zeros((len(i), 2 * (len(CUES) + 1)))
    cue_block[np.arange(len(i)), prev_cue] = 1
    cue_block[np.arange(len(i)), len(CUES) + 1 + next_cue] = 1
    shapes = np.column_stack([
        length == 1, length == 2, length == 3, length == 4, (length >= 5) & (length <= 6),
        length >= 7, count("cap") >= alpha, shape["cap"][i], count("digit") > 0,
        count("digit") >= alpha, count("year") > 0, count("month") > 0, count("unit") > 0,
        count("cap") == 0, np.ones(len(i)), prev_prep, near_inv, matched_before, matched_after,
        np.tanh(agree / 2), (length == 1) & (count("year") == 1),
    ]).astype(float)  # fmt: skip
    shapes = np.hstack([shapes, cue_block])
    crossed = np.zeros((len(i), len(QUESTION_TYPES) * shapes.shape[1]))
    k = QUESTION_TYPES.index(question.kind)
    crossed[:, k * shapes.shape[1] : (k + 1) * shapes.shape[1]] = shapes
    return i, j, np.hstack([f_base.astype(float), crossed])


@dataclass
class Candidates:
    """Every candidate span of a question, with its features (what training and scoring share)."""

    spans: list[tuple[int, int, int]]  # (sentence, first word, last word)
    sentences: list[_Sentence]
    features: np.ndarray

    def text(self, n: int) -> str:
        s, i, j = self.spans[n]
        sentence = self.sentences[s]
        return sentence.text[sentence.starts[i] : sentence.ends[j]]


def candidates(
    question: str | Question, passages: Sequence[str], embedder: Any = None
) -> Candidates:
    """The candidate spans of the best sentences of ``passages`` (most relevant passage first)."""
    q = question if isinstance(question, Question) else Question(question)
    read = [_read(s, p, q) for p, text in enumerate(passages) for s in sentences(text)]
    if not read and passages:
        read = [_read(" ".join(passages[0].split()), 0, q)]
    if embedder is not None and read:
        vectors = embedder.embed([q.text, *(r.text for r in read)])
        for sentence, vector in zip(read, vectors[1:], strict=True):
            sentence.meaning = float(vector @ vectors[0])

    def worth(n: int) -> float:
        sentence = read[n]
        return sentence.overlap + MEANING * sentence.meaning - LOWER_PASSAGE * sentence.passage

    order = sorted(range(len(read)), key=lambda n: (-worth(n), read[n].passage))
    best = [read[n] for n in order[:MAX_SENTENCES]]
    spans: list[tuple[int, int, int]] = []
    blocks = []
    for rank, sentence in enumerate(best):
        i, j, features = _features(q, sentence, rank, sentence.passage)
        spans += [(rank, int(a), int(b)) for a, b in zip(i, j, strict=True)]
        blocks.append(features)
    features = np.vstack(blocks) if blocks else np.zeros((0, len(feature_names())))
    found = Candidates(spans, best, features)
    if embedder is not None and spans and q.head:
        _similarities(found, q, embedder)
    return found


def _similarities(found: Candidates, question: Question, embedder: Any) -> None:
    texts = [found.text(n) for n in range(len(found.spans))]
    vectors = embedder.embed([question.head, question.text, *texts])
    found.features[:, N_BASE - 3] = vectors[2:] @ vectors[0]
    found.features[:, N_BASE - 2] = vectors[2:] @ vectors[1]


def pick(found: Candidates, weights: np.ndarray) -> Span | None:
    """The best-scoring candidate as an answer, or None when there is none."""
    if not found.spans:
        return None
    scores = found.features @ weights
    n = int(np.argmax(scores))
    sentence = found.sentences[found.spans[n][0]]
    confidence = 1.0 / (1.0 + math.exp(-float(scores[n])))
    return Span(found.text(n), sentence.text, sentence.passage, round(confidence, 4))


class Extractor:
    """Scores candidate spans with the fitted weights and answers with the best one.

    ``embedder`` (optional, a local one: it embeds every candidate) adds how close each span is
    in meaning to the question and to the noun after its "what"/"which".
    """

    def __init__(self, weights: np.ndarray | None = None, embedder: Any = None) -> None:
        self.weights = load_weights() if weights is None else weights
        self.embedder = embedder

    def best(self, question: str, passages: Sequence[str]) -> Span | None:
        """The best span of ``passages`` (most relevant first) for ``question``, or None."""
        return pick(candidates(question, passages, self.embedder), self.weights)


@functools.cache
def load_weights() -> np.ndarray:
    data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    by_name = data["weights"]
    return np.array([by_name.get(name, 0.0) for name in feature_names()])
