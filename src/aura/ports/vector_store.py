"""Ports for retrieval: vector stores and the embedders that feed them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs


@attrs.frozen
class Document:
    """A chunk of text to index, with a stable id so re-ingesting the same chunk is idempotent."""

    id: str
    text: str
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SearchHit:
    content: str
    score: float
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


EmbeddingPurpose = Literal["document", "query"]


@runtime_checkable
class Embedder(Protocol):
    @property
    def dimensions(self) -> int | None:
        """Vector size when known before the first call."""
        ...

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]: ...

    async def aclose(self) -> None:
        """Release HTTP clients or model memory; the store that owns the embedder calls it."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    async def search(
        self, query: str, limit: int, label_filters: Mapping[str, Any] | None = None
    ) -> Sequence[SearchHit]: ...

    async def upsert(self, documents: Sequence[Document]) -> int:
        """Index documents (replacing ones with the same id); returns how many were written."""
        ...

    async def delete_where(self, metadata: Mapping[str, Any], keep_ids: Collection[str] = ()) -> int:
        """Delete documents whose metadata has all these values, except `keep_ids`; returns how many went.

        Re-ingesting a changed file uses it to drop the chunks the new version no longer has.
        """
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class SupportsCheck(Protocol):
    """A dependency that can say whether it can serve requests now (the server's readiness route asks).

    Optional for vector stores: a store without `check` is reported as not checked.
    """

    async def check(self) -> None:
        """Return when reachable; raise an error whose message names what failed and where, on one line.

        Cheap: it runs on readiness probes (bounded by a short timeout and cached by the caller).
        """
        ...
