"""MiniLM run with numpy + tokenizers gives sentence-transformers' vectors (reference made once with torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aura.adapters.embeddings.local import (
    HASHING_DIMENSIONS,
    LocalEmbedder,
    MiniLMEncoder,
    minilm_available,
)

REFERENCE = json.loads((Path(__file__).parents[2] / "fixtures" / "minilm_reference.json").read_text(encoding="utf-8"))
needs_minilm = pytest.mark.skipif(not minilm_available(), reason="the 'embeddings' extra is not installed")


@needs_minilm
async def test_vectors_match_the_reference_implementation() -> None:
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    ours = np.asarray(await embedder.embed(REFERENCE["sentences"], "document"), dtype=np.float64)
    reference = np.asarray(REFERENCE["vectors"], dtype=np.float64)
    assert ours.shape == reference.shape == (len(REFERENCE["sentences"]), 384)
    cosines = (ours * reference).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosines.min() >= 0.9999, cosines


@needs_minilm
def test_batching_and_padding_do_not_change_a_vector() -> None:
    encoder = MiniLMEncoder.load()
    sentences = REFERENCE["sentences"]
    together = encoder.encode(sentences, batch_size=3)
    alone = np.stack([encoder.encode([sentence])[0] for sentence in sentences])
    assert np.abs(together - alone).max() < 1e-5


@needs_minilm
async def test_meaning_not_words_decides_the_nearest_sentence() -> None:
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    query, close, far = await embedder.embed(
        ["my automobile will not start", "the car engine fails to turn over", "automobile will stock prices"], "query"
    )
    assert np.dot(query, close) > np.dot(query, far)


def test_auto_picks_minilm_when_installed_else_wide_hashing() -> None:
    embedder = LocalEmbedder("auto")
    if minilm_available():
        assert embedder.model == "all-MiniLM-L6-v2"
        assert embedder.dimensions == 384
    else:
        assert embedder.model == f"hashing-{HASHING_DIMENSIONS}"
    assert LocalEmbedder("hashing").dimensions == HASHING_DIMENSIONS == 2048
    assert LocalEmbedder("hashing-384").dimensions == 384


async def test_an_index_of_the_old_hashing_width_asks_for_reindexing(tmp_path: Path) -> None:
    from aura.adapters.embeddings.local import HashingEmbedder
    from aura.adapters.vectors.in_memory import InMemoryVectorStore
    from aura.domain.vector_search import VectorStoreError
    from aura.ports.vector_store import Document

    path = tmp_path / "docs.npz"
    await InMemoryVectorStore(HashingEmbedder(384), str(path)).upsert([Document("a", "disk full", {})])
    with pytest.raises(VectorStoreError, match=r"384-dimensional .*'hashing-384'.* makes 2048: re-ingest it"):
        await InMemoryVectorStore(LocalEmbedder("hashing"), str(path)).search("disk", 3)
