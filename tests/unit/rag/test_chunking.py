"""`chunk_text`: paragraph-aware chunks of bounded size with a word-aligned overlap."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura.domain.vector_search import chunk_text

# Words shorter than the smallest piece (size 20, overlap at most half) are never cut.
WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=9)
PARAGRAPH = st.lists(WORD, min_size=1, max_size=60).map(" ".join)
DOCUMENT = st.lists(PARAGRAPH, min_size=0, max_size=12).map("\n\n".join)


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("Hello world.", size=100, overlap=10) == ["Hello world."]


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text(" \n\n \t\n", size=100, overlap=10) == []


def test_paragraphs_are_packed_whole_while_they_fit() -> None:
    text = "First paragraph.\n\nSecond paragraph.\n\n\nThird paragraph that is longer."
    assert chunk_text(text, size=40, overlap=0) == [
        "First paragraph.\n\nSecond paragraph.",
        "Third paragraph that is longer.",
    ]


def test_next_chunk_starts_with_the_tail_of_the_previous_one_at_a_word_boundary() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu"
    chunks = chunk_text(text, size=30, overlap=12)
    assert len(chunks) > 1
    for previous, current in itertools.pairwise(chunks):
        first_word = current.split()[0]
        assert first_word in previous.split(), (previous, current)
    assert all(len(chunk) <= 30 for chunk in chunks)


def test_a_word_longer_than_a_chunk_is_cut() -> None:
    chunks = chunk_text("x" * 25, size=10, overlap=0)
    assert chunks == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1), (5, 7)])
def test_bad_sizes_are_rejected_with_their_values(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=str(overlap) if size > 0 else "at least 1"):
        chunk_text("text", size=size, overlap=overlap)


@settings(max_examples=150, deadline=None)
@given(text=DOCUMENT, size=st.integers(min_value=20, max_value=300), overlap_ratio=st.floats(0, 0.5))
def test_chunks_are_bounded_and_lose_no_word(text: str, size: int, overlap_ratio: float) -> None:
    overlap = int(size * overlap_ratio)
    chunks = chunk_text(text, size=size, overlap=overlap)
    assert all(0 < len(chunk) <= size for chunk in chunks)
    assert all(chunk == chunk.strip() for chunk in chunks)
    chunk_words = [set(re.findall(r"\w+", chunk)) for chunk in chunks]
    every_word = set().union(*chunk_words) if chunk_words else set()
    assert set(re.findall(r"\w+", text)) <= every_word
    # Words keep their order: the first chunk starts the text, the last one ends it.
    if chunks:
        assert text.split()[0].startswith(chunks[0].split()[0])
        assert text.split()[-1].endswith(chunks[-1].split()[-1])


@settings(max_examples=50, deadline=None)
@given(text=DOCUMENT)
def test_chunking_is_deterministic(text: str) -> None:
    assert chunk_text(text, 120, 30) == chunk_text(text, 120, 30)
