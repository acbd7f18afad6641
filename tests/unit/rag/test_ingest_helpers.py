"""Pure pieces of `aura ingest`: chunk ids, per-chunk metadata, the summary's store description, progress."""

from __future__ import annotations

import io
from pathlib import Path

from aura.entrypoints.config import InMemoryStoreConfig, QdrantStoreConfig
from aura.entrypoints.ingest_command import (
    ProgressBar,
    SourceFile,
    describe_store_config,
    document_id,
    documents_for,
)


def test_chunk_ids_depend_on_source_position_and_content() -> None:
    first = document_id("docs/a.md", 0, "hello")
    assert first == document_id("docs/a.md", 0, "hello")
    assert first.startswith("docs/a.md#0:")
    assert len({first, document_id("docs/b.md", 0, "hello"), document_id("docs/a.md", 1, "hello")}) == 3
    assert document_id("docs/a.md", 0, "hello!") != first


def test_chunks_carry_source_index_and_markdown_title() -> None:
    file = SourceFile(Path("unused"), "docs/guide.md")
    documents = documents_for(file, "\n# Install guide\n\nStep one.\n\nStep two.", chunk_size=20, overlap=0)
    assert [d.metadata["chunk"] for d in documents] == list(range(len(documents)))
    assert all(d.metadata["source"] == "docs/guide.md" and d.metadata["title"] == "Install guide" for d in documents)
    plain = documents_for(file, "No heading here.", chunk_size=100, overlap=0)
    assert "title" not in plain[0].metadata


def test_store_description_never_shows_url_credentials() -> None:
    qdrant = QdrantStoreConfig(name="kb", collection_name="kb", url="https://user:s3cret@qdrant.example:6334")
    assert describe_store_config(qdrant) == "qdrant collection 'kb' at https://qdrant.example:6334"
    assert describe_store_config(InMemoryStoreConfig(name="kb", path="data/kb.npz")) == "in_memory, file data/kb.npz"


def test_progress_without_a_terminal_prints_a_first_line_then_one_per_tenth() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, total=40)
    for done in range(1, 41):
        bar.update(done)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0] == "ingest: [..............................] 1/40 chunks (2%)"
    assert lines[1] == "ingest: [###...........................] 4/40 chunks (10%)"
    assert lines[-1] == "ingest: [##############################] 40/40 chunks (100%)"
    assert "\r" not in stream.getvalue()
