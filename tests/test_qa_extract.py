"""Extractive QA (plugins/qa/extract.py): the kind of answer a question wants, candidate spans,
and the shipped weights picking a short answer from a small passage, or a low confidence."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.qa import extract

PASSAGE = (
    "Super Bowl 50 was an American football game to determine the champion of the National "
    "Football League for the 2015 season. The Denver Broncos defeated the Carolina Panthers 24-10 "
    "to earn their third Super Bowl title. The game was played on February 7, 2016, at Levi's "
    "Stadium in Santa Clara, California."
)


@pytest.mark.parametrize(
    ("question", "kind", "head"),
    [
        ("How many Super Bowl titles have the Broncos won?", "number", ""),
        ("When was the game played?", "date", ""),
        ("In what year did the season start?", "year", "year"),
        ("Who won Super Bowl 50?", "person", ""),
        ("Where was the game played?", "place", ""),
        ("Which NFL team won?", "what", "nfl"),
        ("What percentage of voters agreed?", "number", "percentage"),
        ("Why did the game move?", "reason", ""),
        ("The Broncos beat which team?", "what", "team"),
    ],
)
def test_the_kind_of_answer_a_question_wants(question: str, kind: str, head: str) -> None:
    assert extract.question_type(question) == (kind, head)


def test_candidates_are_spans_of_the_best_sentences_without_question_words_at_the_edges() -> None:
    found = extract.candidates("Which team did the Broncos defeat?", [PASSAGE])
    texts = {found.text(n) for n in range(len(found.spans))}
    assert "Carolina Panthers" in texts
    assert found.sentences[0].text.startswith("The Denver Broncos defeated")  # most words shared
    assert not any(t.split()[0].lower() in extract.STOPWORDS for t in texts)
    assert found.features.shape == (len(found.spans), len(extract.feature_names()))


def test_the_shipped_weights_answer_with_a_short_span_and_its_sentence() -> None:
    extractor = extract.Extractor()
    span = extractor.best("Which team did the Denver Broncos defeat?", [PASSAGE])
    assert span is not None
    assert span.answer == "Carolina Panthers"
    assert span.sentence.startswith("The Denver Broncos defeated") and span.passage == 0
    when = extractor.best("In what year was the game played?", ["Nothing here.", PASSAGE])
    assert when is not None and "2016" in when.answer and when.passage == 1


def test_a_passage_that_does_not_answer_gives_a_low_confidence() -> None:
    extractor = extract.Extractor()
    right = extractor.best("Which team did the Denver Broncos defeat?", [PASSAGE])
    wrong = extractor.best("What is the boiling point of liquid nitrogen?", [PASSAGE])
    assert right is not None and wrong is not None
    assert wrong.confidence < right.confidence
    assert extract.Extractor().best("anything?", []) is None


def test_weights_follow_the_feature_names() -> None:
    weights = extract.load_weights()
    assert weights.shape == (len(extract.feature_names()),) and np.isfinite(weights).all()
