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
    #: CPU-bound in this process (a local model): large indexing runs embed in a child process,
    #: on another core, while this one writes to Chroma. The embedder is pickled to the child,
    #: so it must pickle before its first use and its class must be importable.
    in_subprocess = False

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
_pooling: dict[int, tuple[Any, Any]] = {}
#: Texts tokenized and pooled at a time by WordLlamaEmbedder.embed.
_WORDLLAMA_BATCH = 2048
_wordllama_lock = threading.Lock()


class WordLlamaEmbedder(Embedder):
    DIM = 256
    dimension = DIM
    in_subprocess = True

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
        """WordLlama's embedding (the mean of the texts' token vectors, normalised), computed as a
        sparse product: a (texts x vocabulary) matrix of token counts times the vector table.
        WordLlama's own ``embed`` pads every batch into a (texts x tokens x 256) array first;
        this gives the same vectors (to float rounding) about 3x faster, and tokenizing is then
        most of the cost."""
        if not texts:
            return np.zeros((0, self.DIM), dtype=np.float32)
        from scipy import sparse

        tokenizer, table = self._pooling()
        encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
        out = np.empty((len(texts), self.DIM), dtype=np.float32)
        for a in range(0, len(texts), _WORDLLAMA_BATCH):
            encoded = encode(texts[a : a + _WORDLLAMA_BATCH], add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) for e in encoded), np.int64, len(encoded))
            ids = np.fromiter((i for e in encoded for i in e.ids), np.int64, int(lengths.sum()))
            np.clip(ids, 0, table.shape[0] - 1, out=ids)  # as WordLlama does
            rows = np.repeat(np.arange(len(encoded)), lengths)
            counts = sparse.csr_matrix(
                (np.ones(len(ids), dtype=np.float32), (rows, ids)),
                shape=(len(encoded), table.shape[0]),
            )
            out[a : a + len(encoded)] = counts @ table  # a sum; normalising makes it the mean
        return normalise(out)

    def _pooling(self) -> tuple[Any, Any]:
        """The model's tokenizer (a copy that does not pad) and its token vectors."""
        model = self.model()
        with _wordllama_lock:
            if self.DIM not in _pooling:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_str(model.tokenizer.to_str())
                tokenizer.no_padding()
                tokenizer.no_truncation()
                table = np.ascontiguousarray(model.embedding, dtype=np.float32)
                _pooling[self.DIM] = (tokenizer, table)
            return _pooling[self.DIM]


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
