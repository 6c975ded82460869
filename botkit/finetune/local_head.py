"""Local fine-tuning for classification and sentiment GPTs: a classifier head on text features.

No GPU and no model weights change: the head is a logistic regression over two views of each text,
its WordLlama embedding (meaning) and its TF-IDF vector over words and word pairs (wording),
trained on the GPT's labeled data in seconds to a minute. It is saved under the data directory
(``DATA_DIR/heads/GPT/``) with the hash of the data it learned from, and the classification plugin
uses it from then on (``method: auto`` or ``trained``). ``bench/evaluate.py --finetune`` measures
it against the plugin untrained, on CLINC150 and SST-2.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from botkit.atomic import atomic_folder
from botkit.errors import InputError

if TYPE_CHECKING:  # scikit-learn takes seconds to import: only where a head is trained or used
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

#: Inverse regularisation: measured on CLINC150 and SST-2 (C=1: 0.938/0.904, C=10: 0.945/0.947).
C = 10.0
HEAD_FILE, INFO_FILE = "head.joblib", "head.json"


def head_dir(data_dir: Path, gpt: str) -> Path:
    return data_dir / "heads" / gpt


@dataclass
class Head:
    """A trained head: its features, its classifier, and what it was trained on."""

    vectorizer: TfidfVectorizer
    classifier: LogisticRegression
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [str(label) for label in self.classifier.classes_]

    def probabilities(self, vectors: Any, texts: list[str]) -> Any:
        """Each text's probability for each of :attr:`labels` (rows: texts)."""
        return self.classifier.predict_proba(_features(self.vectorizer, vectors, texts))


def data_hash(pairs: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for text, label in pairs:
        digest.update(json.dumps([text, label]).encode("utf-8"))
    return digest.hexdigest()[:16]


def train(
    embedder: Any, texts: list[str], labels: list[str], embedder_spec: dict[str, Any]
) -> Head:
    """Fit a head on ``texts`` and their ``labels`` (at least two labels, two texts each)."""
    counts = {label: labels.count(label) for label in set(labels)}
    if len(counts) < 2:
        raise InputError("the training data needs examples of at least two labels")
    if min(counts.values()) < 2:
        few = sorted(label for label, n in counts.items() if n < 2)
        raise InputError(f"each label needs at least two examples; not so: {', '.join(few)}")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(
        sublinear_tf=True, ngram_range=(1, 2), min_df=2 if len(texts) >= 1000 else 1
    )
    vectorizer.fit(texts)
    vectors = embedder.embed(texts)
    classifier = LogisticRegression(C=C, max_iter=1000)
    classifier.fit(_features(vectorizer, vectors, texts), labels)
    info = {
        "data_hash": data_hash(zip(texts, labels, strict=True)),
        "examples": len(texts),
        "label_counts": dict(sorted(counts.items())),
        "embedder": embedder_spec,
        "train_seconds": round(time.perf_counter() - started, 2),
        "trained": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return Head(vectorizer, classifier, info)


def _features(vectorizer: TfidfVectorizer, vectors: Any, texts: list[str]) -> Any:
    from scipy import sparse

    dense = sparse.csr_matrix(np.asarray(vectors, dtype=np.float64))
    return sparse.hstack([vectorizer.transform(texts), dense]).tocsr()


def save(head: Head, folder: Path) -> None:
    """Write the head into ``folder``, replacing any earlier one only once it is complete."""
    import joblib

    with atomic_folder(folder) as staging:
        joblib.dump((head.vectorizer, head.classifier), staging / HEAD_FILE)
        (staging / INFO_FILE).write_text(json.dumps(head.info, indent=2) + "\n", encoding="utf-8")


def load(folder: Path) -> Head | None:
    """The head saved in ``folder``, or None if there is none."""
    if not (folder / HEAD_FILE).is_file():
        return None
    import joblib

    vectorizer, classifier = joblib.load(folder / HEAD_FILE)
    info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    return Head(vectorizer, classifier, info)
