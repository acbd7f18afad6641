"""A vector store in process memory: exact cosine search with numpy, optionally persisted to one file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from aura.domain.vector_search import VectorStoreError
from aura.ports.vector_store import Document, Embedder, SearchHit

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
Matrix = npt.NDArray[np.float32]


@attrs.frozen
class _Record:
    id: str
    text: str
    metadata: Mapping[str, Any]


@attrs.frozen
class _Index:
    """An immutable snapshot: searches read one while an upsert builds the next."""

    records: tuple[_Record, ...] = ()
    vectors: Matrix = attrs.field(factory=lambda: np.zeros((0, 0), dtype=np.float32))
    positions: Mapping[str, int] = attrs.field(factory=dict)
    embedder_name: str = ""

    @property
    def dimensions(self) -> int | None:
        return int(self.vectors.shape[1]) if self.records else None


class InMemoryVectorStore:
    """Exact (brute-force) cosine similarity over normalized vectors held in a numpy matrix.

    With `path`, the index is loaded from that file on first use and rewritten atomically after
    every upsert (a `.npz` archive: the vectors plus a JSON list of ids, texts and metadata), so
    `aura ingest` can fill it and `aura serve` can read it. Upserting a document id that exists
    replaces it. Fine up to a few hundred thousand chunks (see bench/vector_search.py).
    """

    def __init__(self, embedder: Embedder, path: str | None = None) -> None:
        self._embedder = embedder
        self._path = Path(path) if path else None
        self._index = _Index()
        self._loaded = self._path is None
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path | None:
        return self._path

    async def count(self) -> int:
        await self._ensure_loaded()
        return len(self._index.records)

    async def search(
        self, query: str, limit: int, label_filters: Mapping[str, Any] | None = None
    ) -> Sequence[SearchHit]:
        await self._ensure_loaded()
        index = self._index
        if not index.records or limit < 1:
            return []
        [query_vector] = await self._embedder.embed([query], "query")
        vector = _normalized(np.asarray([query_vector], dtype=np.float32))[0]
        if vector.shape[0] != index.vectors.shape[1]:
            raise VectorStoreError(
                f"query vector has {vector.shape[0]} dimensions but the index holds {index.vectors.shape[1]}; "
                "the store was built with another embedding model, re-ingest it"
            )
        if label_filters:
            candidates = np.fromiter(
                (i for i, record in enumerate(index.records) if _matches(record.metadata, label_filters)),
                dtype=np.int64,
            )
            if candidates.size == 0:
                return []
            scores = index.vectors[candidates] @ vector
        else:
            candidates = None  # score every row in place: indexing would copy the whole matrix
            scores = index.vectors @ vector
        hits = []
        for position in _top_k(scores, limit):
            record = index.records[position if candidates is None else int(candidates[position])]
            hits.append(SearchHit(record.text, float(scores[position]), {**record.metadata, "id": record.id}))
        return hits

    async def upsert(self, documents: Sequence[Document]) -> int:
        documents = _last_of_each_id(documents)
        if not documents:
            return 0
        await self._ensure_loaded()
        embedded = await self._embedder.embed([document.text for document in documents], "document")
        if len(embedded) != len(documents):
            raise VectorStoreError(f"the embedder returned {len(embedded)} vectors for {len(documents)} documents")
        new_vectors = _normalized(np.asarray(embedded, dtype=np.float32))
        async with self._lock:
            index = self._index
            if index.dimensions is not None and new_vectors.shape[1] != index.dimensions:
                raise VectorStoreError(
                    f"the embedder makes {new_vectors.shape[1]}-dimensional vectors but the index holds "
                    f"{index.dimensions}-dimensional ones; use the same embedding model or start a new store"
                )
            records = list(index.records)
            vectors = index.vectors if index.records else np.zeros((0, new_vectors.shape[1]), dtype=np.float32)
            positions = dict(index.positions)
            replaced: dict[int, int] = {}
            appended: list[int] = []
            for row, document in enumerate(documents):
                record = _Record(document.id, document.text, dict(document.metadata))
                existing = positions.get(document.id)
                if existing is None:
                    positions[document.id] = len(records)
                    records.append(record)
                    appended.append(row)
                else:
                    records[existing] = record
                    replaced[existing] = row
            if replaced:
                vectors = vectors.copy()
                for position, row in replaced.items():
                    vectors[position] = new_vectors[row]
            if appended:
                vectors = np.concatenate([vectors, new_vectors[appended]])
            self._index = _Index(tuple(records), vectors, positions, _embedder_name(self._embedder))
            if self._path is not None:
                await asyncio.to_thread(_save, self._path, self._index)
        return len(documents)

    async def delete_where(self, metadata: Mapping[str, Any], keep_ids: Collection[str] = ()) -> int:
        await self._ensure_loaded()
        keep = set(keep_ids)
        async with self._lock:
            index = self._index
            kept = [
                position
                for position, record in enumerate(index.records)
                if record.id in keep or not _matches(record.metadata, metadata)
            ]
            removed = len(index.records) - len(kept)
            if not removed:
                return 0
            records = tuple(index.records[position] for position in kept)
            vectors = index.vectors[kept] if kept else np.zeros((0, 0), dtype=np.float32)
            positions = {record.id: position for position, record in enumerate(records)}
            self._index = _Index(records, vectors, positions, index.embedder_name)
            if self._path is not None:
                await asyncio.to_thread(_save, self._path, self._index)
        return removed

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        async with self._lock:
            if self._loaded or self._path is None:
                return
            if self._path.exists():
                index = await asyncio.to_thread(_load, self._path)
                current = _embedder_name(self._embedder)
                wanted = getattr(self._embedder, "dimensions", None)
                if index.dimensions is not None and isinstance(wanted, int) and index.dimensions != wanted:
                    # e.g. an index made by the 384-wide hashing embedder, now 2048 wide by default
                    raise VectorStoreError(
                        f"vector index {self._path} holds {index.dimensions}-dimensional vectors "
                        f"(from {index.embedder_name or 'another embedder'!r}) but the configured embedder "
                        f"{current!r} makes {wanted}: re-ingest it (delete {self._path} and run `aura ingest` again)"
                    )
                self._index = index
                if self._index.embedder_name and self._index.embedder_name != current:
                    logger.warning(
                        "vector index %s was built with embedder %r but is searched with %r",
                        self._path,
                        self._index.embedder_name,
                        current,
                    )
            self._loaded = True

    async def check(self) -> None:
        """Raise a `VectorStoreError` when the index file exists but cannot be read (for readiness checks).

        Cheap: the index is not loaded here. A store without a file, or whose file does not exist yet
        (nothing ingested), searches an empty index and passes; once loaded, the file is not needed.
        """
        if self._loaded or self._path is None:
            return
        try:
            await asyncio.to_thread(_readable, self._path)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise VectorStoreError(f"cannot read the vector index {self._path}: {reason}") from None

    async def aclose(self) -> None:
        await self._embedder.aclose()


def _readable(path: Path) -> None:
    try:
        with path.open("rb") as file:
            file.read(1)
    except FileNotFoundError:
        return  # nothing ingested yet: an empty index


def _last_of_each_id(documents: Sequence[Document]) -> list[Document]:
    """A batch that names one id twice keeps the later document, as two upserts in a row would."""
    return list({document.id: document for document in documents}.values())


def _embedder_name(embedder: Embedder) -> str:
    return str(getattr(embedder, "model", type(embedder).__name__))


def _normalized(vectors: Matrix) -> Matrix:
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise VectorStoreError(f"the embedder returned vectors of shape {vectors.shape}, expected (n, dimensions)")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalized: Matrix = (vectors / norms).astype(np.float32)
    return normalized


def _top_k(scores: npt.NDArray[np.float32], limit: int) -> list[int]:
    count = scores.shape[0]
    candidates = np.argpartition(-scores, limit - 1)[:limit] if limit < count else np.arange(count)
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")]]


def _matches(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    return all(key in metadata and metadata[key] == value for key, value in filters.items())


def _save(path: Path, index: _Index) -> None:
    header = {
        "format": FORMAT_VERSION,
        "embedder": index.embedder_name,
        "records": [{"id": r.id, "text": r.text, "metadata": dict(r.metadata)} for r in index.records],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, vectors=index.vectors, header=np.array(json.dumps(header, ensure_ascii=False)))
        # mkstemp creates 0600; keep the mode of the file being replaced, or the usual 0644 for a new one.
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load(path: Path) -> _Index:
    try:
        with np.load(path, allow_pickle=False) as archive:
            vectors = np.asarray(archive["vectors"], dtype=np.float32)
            header = json.loads(str(archive["header"]))
    except (OSError, ValueError, KeyError) as error:
        raise VectorStoreError(f"cannot read the vector index {path}: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise VectorStoreError(f"cannot read the vector index {path}: unknown format (expected {FORMAT_VERSION})")
    records = tuple(_Record(item["id"], item["text"], item.get("metadata", {})) for item in header["records"])
    if len(records) != vectors.shape[0]:
        raise VectorStoreError(
            f"cannot read the vector index {path}: {len(records)} records for {len(vectors)} vectors"
        )
    positions = {record.id: position for position, record in enumerate(records)}
    return _Index(records, vectors, positions, str(header.get("embedder", "")))
