"""Embedding models, registered through the same plugin hooks as model providers.

- ``wordllama`` (default): WordLlama's 256-dimension model, whose weights and tokenizer ship inside
  the ``wordllama`` wheel; loaded from the installed package with downloads disabled.
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint, in batches.
- ``sentence-transformers``: a sentence-transformers model already on disk (optional extra:
  ``pip install sentence-transformers``), loaded with ``local_files_only``.

Every embedder returns L2-normalised float32 rows, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from botkit.errors import ModelError, ModelUnreachable, PluginError
from botkit.hookspecs import hookimpl
from botkit.spec import EmbedderSpec

Vectors = npt.NDArray[np.float32]


class Embedder(ABC):
    def __init__(self, spec: EmbedderSpec) -> None:
        self.spec = spec

    @property
    def label(self) -> str:
        """Recorded with an index: a different label means the index must be rebuilt."""
        return self.spec.label

    @abstractmethod
    def embed(self, texts: list[str]) -> Vectors:
        """One L2-normalised row per text. Blocking: callers run it off the event loop."""

    async def aembed(self, texts: list[str]) -> Vectors:
        """:meth:`embed` from async code: in a worker thread, so the event loop never waits."""
        return await asyncio.to_thread(self.embed, texts)

    @cached_property
    def dimension(self) -> int:
        """Length of the vectors (asked of the model once, unless the embedder knows it)."""
        return int(self.embed(["dimension probe"]).shape[1])


EmbedderFactory = Callable[[EmbedderSpec], Embedder]


def normalise(vectors: npt.ArrayLike) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return (array / np.where(norms == 0, 1, norms)).astype(np.float32)


_wordllama: dict[int, Any] = {}
_wordllama_lock = threading.Lock()


class WordLlamaEmbedder(Embedder):
    DIM = 256
    dimension = DIM

    def __init__(self, spec: EmbedderSpec) -> None:
        super().__init__(spec)
        if spec.name not in ("default", "l2_supercat", "l2_supercat-256"):
            raise PluginError(
                f"WordLlama ships one model here, l2_supercat (256 dims); got {spec.name!r}"
            )

    @property
    def label(self) -> str:
        return f"wordllama:l2_supercat-{self.DIM}"

    def model(self) -> Any:
        with _wordllama_lock:
            if self.DIM not in _wordllama:
                wordllama = _import_quietly("wordllama")

                # The wheel ships weights/ and tokenizers/; WordLlama's default lookup expects
                # "tokenizer/" beside the package and then downloads. Pointing its cache at the
                # package itself finds both files, and downloads are disabled outright.
                package = Path(wordllama.__file__).parent
                _wordllama[self.DIM] = wordllama.WordLlama.load(
                    cache_dir=package, dim=self.DIM, disable_download=True
                )
            return _wordllama[self.DIM]

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.DIM), dtype=np.float32)
        # WordLlama pads each batch to its longest text: batching texts of similar length wastes
        # less work (about 1.5x faster on mixed chunk lengths).
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = self.model().embed([texts[i] for i in order], norm=True, batch_size=256)
        out = np.empty_like(vectors)
        out[order] = vectors
        return normalise(out)


def _import_quietly(name: str) -> Any:
    """Import a module that calls ``logging.basicConfig`` on import (wordllama does), undoing that:
    the application, not a library, decides where log records go."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    module = importlib.import_module(name)
    root.handlers[:] = handlers
    root.setLevel(level)
    return module


class OpenAIEmbedder(Embedder):
    def __init__(self, spec: EmbedderSpec) -> None:
        super().__init__(spec)
        from botkit.models.openai_compat import endpoint

        self.base_url, self._key = endpoint(spec.base_url, spec.api_key_env)
        self._client: Any = None

    def embed(self, texts: list[str]) -> Vectors:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(api_key=self._key, base_url=self.base_url, max_retries=3)
        rows: list[list[float]] = []
        try:
            for i in range(0, len(texts), self.spec.batch_size):
                batch = texts[i : i + self.spec.batch_size]
                result = self._client.embeddings.create(model=self.spec.name, input=batch)
                rows.extend(d.embedding for d in sorted(result.data, key=lambda d: d.index))
        except openai.APIConnectionError as exc:
            raise ModelUnreachable(self.base_url, str(exc)) from exc
        except openai.APIStatusError as exc:
            raise ModelError(
                f"embedding with {self.spec.label} failed: {exc.status_code} {exc.message}"
            ) from exc
        return normalise(rows) if rows else np.zeros((0, 0), dtype=np.float32)


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, spec: EmbedderSpec) -> None:
        super().__init__(spec)
        self._model: Any = None

    def embed(self, texts: list[str]) -> Vectors:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise PluginError("install sentence-transformers to use this embedder") from exc
            if not Path(self.spec.name).expanduser().exists():
                raise ModelError(
                    f"no sentence-transformers model at {self.spec.name} (a local folder)"
                )
            self._model = SentenceTransformer(
                str(Path(self.spec.name).expanduser()), local_files_only=True
            )
        return normalise(self._model.encode(texts, batch_size=self.spec.batch_size))


@hookimpl
def register_embedders(register: Callable[[str, EmbedderFactory], None]) -> None:
    register("wordllama", WordLlamaEmbedder)
    register("openai", OpenAIEmbedder)
    register("sentence-transformers", SentenceTransformerEmbedder)
