"""Qdrant as a vector store: a server (REST or gRPC), embedded on disk, or embedded in memory."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from qdrant_client import AsyncQdrantClient, models

from aura.domain.vector_search import VectorStoreError
from aura.ports.vector_store import Document, Embedder, SearchHit

GRPC_PORT = 6334
UPSERT_BATCH_SIZE = 256
TEXT_KEY = "text"
DOCUMENT_ID_KEY = "document_id"
# Keys that collections filled by other tools commonly use for the passage text.
_CONTENT_KEYS = (TEXT_KEY, "content", "page_content", "document")
# Every document id maps to the same point id on every run, so re-ingesting overwrites instead of adding.
POINT_ID_NAMESPACE = uuid.UUID("6f0c6a8e-4f5e-5b8a-9c1d-2a7e3b9d4c10")


def point_id(document_id: str) -> str:
    return str(uuid.uuid5(POINT_ID_NAMESPACE, document_id))


class QdrantVectorStore:
    """A Qdrant collection searched by cosine similarity.

    Where it lives: `url` for a server (a URL on port 6334 speaks gRPC, anything else REST), `path`
    for qdrant-client's embedded on-disk mode (one process at a time per directory), neither for an
    embedded in-memory collection. The collection is created on the first upsert with the
    embedder's vector size. Payload per point: `text`, `document_id` and the document's metadata
    (flat, so label filters match payload keys server-side).
    """

    def __init__(
        self,
        embedder: Embedder,
        collection_name: str,
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        timeout: int = 30,
    ) -> None:
        if not collection_name:
            raise ValueError("QdrantVectorStore: 'collection_name' must not be empty")
        if url and path:
            raise ValueError("QdrantVectorStore: give either 'url' (a server) or 'path' (embedded), not both")
        self._embedder = embedder
        self.collection_name = collection_name
        self._api_key = api_key or None  # an empty templated key means none
        if url:
            parsed = urlparse(url)
            if not parsed.scheme or not parsed.hostname:
                raise ValueError(f"QdrantVectorStore: 'url' must look like http://host:6334, got {url!r}")
            self.location = _without_userinfo(url)  # every error message names it
            self._client = AsyncQdrantClient(
                url=url,
                api_key=self._api_key,
                prefer_grpc=parsed.port == GRPC_PORT,
                timeout=timeout,
                check_compatibility=False,  # it would call the server while constructing
            )
        elif path:
            self.location = path
            try:
                self._client = AsyncQdrantClient(path=path)
            except RuntimeError as error:
                if "already accessed" not in str(error):
                    raise
                # qdrant-client's embedded mode locks the folder for one process: say who and what to do.
                raise VectorStoreError(
                    f"the Qdrant folder {path} is open in another process (an `aura serve` with this config?): "
                    "embedded mode allows one process at a time; stop that process first, or use a Qdrant server "
                    "(`url`) to ingest while serving"
                ) from None
        else:
            self.location = ":memory:"
            self._client = AsyncQdrantClient(location=":memory:")
        self._collection_ready = False
        self._lock = asyncio.Lock()

    async def search(
        self, query: str, limit: int, label_filters: Mapping[str, Any] | None = None
    ) -> Sequence[SearchHit]:
        if limit < 1:
            return []
        query_filter = _filter(label_filters) if label_filters else None
        [vector] = await self._embedder.embed([query], "query")
        async with self._failures("search"):
            if not await self._collection_exists():
                raise VectorStoreError(
                    f"Qdrant collection '{self.collection_name}' does not exist at {self.location}; "
                    "fill it with `aura ingest` first"
                )
            response = await self._client.query_points(
                self.collection_name,
                query=vector,
                query_filter=query_filter,
                limit=limit,
                with_payload=True,
                with_vectors=False,
            )
        return [_hit(point) for point in response.points]

    async def upsert(self, documents: Sequence[Document]) -> int:
        if not documents:
            return 0
        vectors = await self._embedder.embed([document.text for document in documents], "document")
        if len(vectors) != len(documents):
            raise VectorStoreError(f"the embedder returned {len(vectors)} vectors for {len(documents)} documents")
        points = [
            models.PointStruct(
                id=point_id(document.id),
                vector=list(vector),
                payload={**document.metadata, TEXT_KEY: document.text, DOCUMENT_ID_KEY: document.id},
            )
            for document, vector in zip(documents, vectors, strict=True)
        ]
        async with self._failures("upsert"):
            await self._ensure_collection(len(vectors[0]))
            for start in range(0, len(points), UPSERT_BATCH_SIZE):
                await self._client.upsert(
                    self.collection_name, points=points[start : start + UPSERT_BATCH_SIZE], wait=True
                )
        return len({document.id for document in documents})

    async def delete_where(self, metadata: Mapping[str, Any], keep_ids: Collection[str] = ()) -> int:
        if not metadata:
            raise VectorStoreError("delete_where needs at least one metadata value to match")
        async with self._failures("delete"):
            if not await self._collection_exists():
                return 0
            selector = _filter(metadata)
            if keep_ids:
                selector.must_not = [models.HasIdCondition(has_id=[point_id(i) for i in keep_ids])]
            before = await self._client.count(self.collection_name, count_filter=selector, exact=True)
            if before.count:
                await self._client.delete(
                    self.collection_name, points_selector=models.FilterSelector(filter=selector), wait=True
                )
        return int(before.count)

    async def count(self) -> int:
        async with self._failures("count"):
            if not await self._collection_exists():
                return 0
            result = await self._client.count(self.collection_name, exact=True)
        return int(result.count)

    async def _collection_exists(self) -> bool:
        if not self._collection_ready:
            self._collection_ready = await self._client.collection_exists(self.collection_name)
        return self._collection_ready

    async def _ensure_collection(self, dimensions: int) -> None:
        async with self._lock:
            if await self._collection_exists():
                info = await self._client.get_collection(self.collection_name)
                configured = info.config.params.vectors
                if isinstance(configured, models.VectorParams) and configured.size != dimensions:
                    raise VectorStoreError(
                        f"Qdrant collection '{self.collection_name}' holds {configured.size}-dimensional vectors "
                        f"but the embedder makes {dimensions}-dimensional ones; use the same embedding model "
                        "or another collection"
                    )
                return
            await self._client.create_collection(
                self.collection_name,
                vectors_config=models.VectorParams(size=dimensions, distance=models.Distance.COSINE),
            )
            self._collection_ready = True

    def _failures(self, operation: str) -> _QdrantFailures:
        return _QdrantFailures(operation, self.collection_name, self._api_key, self.location)

    async def check(self) -> None:
        """Raise a `VectorStoreError` naming the location when Qdrant cannot be reached (for readiness checks)."""
        async with self._failures("check"):
            await self._client.collection_exists(self.collection_name)

    async def aclose(self) -> None:
        await self._client.close()
        await self._embedder.aclose()


class _QdrantFailures:
    """Turns any client failure into a `VectorStoreError` that names the operation and collection."""

    def __init__(self, operation: str, collection: str, api_key: str | None, location: str = "") -> None:
        self._operation = operation
        self._collection = collection
        self._api_key = api_key
        self._location = location

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, _: Any) -> bool:
        if error is None or isinstance(error, VectorStoreError | asyncio.CancelledError):
            return False
        if not isinstance(error, Exception):
            return False
        message = _describe(error)
        if self._api_key:
            message = message.replace(self._api_key, "***")
        where = f" at {self._location}" if self._location else ""
        raise VectorStoreError(
            f"Qdrant {self._operation} failed on collection '{self._collection}'{where}: {message}"
        ) from None


def _without_userinfo(url: str) -> str:
    """The URL with `user:password@` (a credential) replaced by `***@`."""
    parsed = urlparse(url)
    if "@" not in parsed.netloc:
        return url
    return parsed._replace(netloc="***@" + parsed.netloc.rpartition("@")[2]).geturl()


def _describe(error: Exception) -> str:
    """One line a person can act on, whatever the client raised (a gRPC error's str() is a multi-line dump)."""
    code, details = getattr(error, "code", None), getattr(error, "details", None)
    if callable(code) and callable(details):  # grpc.aio.AioRpcError and friends
        status = code()
        name = getattr(status, "name", str(status))
        text = str(details() or "").strip()
        if name == "UNAVAILABLE":
            return f"cannot reach the Qdrant gRPC endpoint (UNAVAILABLE: {text or 'no details'})"
        return f"gRPC {name}: {text or 'no details'}"
    if _is_connection_failure(error):
        return f"cannot reach Qdrant ({' '.join((str(error) or type(error).__name__).split())})"
    return " ".join((str(error) or type(error).__name__).split())


def _is_connection_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionError | TimeoutError) or type(seen).__name__ in {
            "ConnectError",
            "ConnectTimeout",
            "ResponseHandlingException",
        }:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _filter(label_filters: Mapping[str, Any]) -> models.Filter:
    conditions: list[models.Condition] = []
    for key, value in label_filters.items():
        if value is None:
            conditions.append(models.IsNullCondition(is_null=models.PayloadField(key=key)))
        elif isinstance(value, bool | str | int):
            conditions.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
        elif isinstance(value, float):
            if value.is_integer():
                conditions.append(models.FieldCondition(key=key, match=models.MatchValue(value=int(value))))
            else:
                conditions.append(models.FieldCondition(key=key, range=models.Range(gte=value, lte=value)))
        else:
            raise VectorStoreError(f"label filter '{key}' has a value Qdrant cannot match exactly: {value!r}")
    return models.Filter(must=conditions)


def _hit(point: models.ScoredPoint) -> SearchHit:
    payload = dict(point.payload or {})
    content_key = next((key for key in _CONTENT_KEYS if isinstance(payload.get(key), str)), None)
    if content_key is None:
        content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
        metadata: dict[str, Any] = {}
    else:
        content = payload.pop(content_key)
        metadata = payload
    document_id = metadata.pop(DOCUMENT_ID_KEY, None)
    metadata["id"] = str(document_id if document_id is not None else point.id)
    return SearchHit(content, float(point.score), metadata)
