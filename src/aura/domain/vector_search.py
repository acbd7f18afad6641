"""Retrieval as a tool: the `vector_search_<store>` toolset, its output format, and text chunking.

Pure: the store and its embedder arrive through `aura.ports.vector_store`, so the same toolset
serves an in-memory index, Qdrant or a managed Bedrock knowledge base.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from aura.domain.approval_policy import ToolAnnotations
from aura.domain.errors import AuraError
from aura.domain.tools import ToolCallContext, ToolResult, ToolSpec
from aura.ports.tracer import Span, SpanKind, Tracer
from aura.ports.vector_store import SearchHit, VectorStore

logger = logging.getLogger(__name__)

TOOL_NAME_PREFIX = "vector_search_"
MAX_TOOL_NAME_LENGTH = 64
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
DEFAULT_MIN_SCORE = 0.0
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100
_PREFIX_BOILERPLATE = "Based on the following information from the "


class VectorStoreError(AuraError):
    """A vector store or its embedder failed. The message is safe to show to the model and the user."""


class EmbeddingError(VectorStoreError):
    """The embedding provider failed or answered with something that is not a vector."""


class ReadOnlyStoreError(VectorStoreError):
    """The store is managed elsewhere (e.g. a Bedrock knowledge base) and cannot be written to."""


# --- the tool -----------------------------------------------------------------------------------


def vector_search_tool_name(store_name: str) -> str:
    """`vector_search_<name>` with accents dropped and every other character outside `[A-Za-z0-9_-]`
    replaced by `_`, at most 64 chars (the rule MCP tool names follow).

    Providers reject other tool names, and a store name is free text in the config.
    """
    folded = "".join(c for c in unicodedata.normalize("NFKD", store_name) if not unicodedata.combining(c))
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in folded)
    return f"{TOOL_NAME_PREFIX}{safe}"[:MAX_TOOL_NAME_LENGTH]


def _nullable(json_type: str) -> list[str]:
    return [json_type, "null"]


# Strict-mode compatible: every property required, optional ones nullable, no `default` keywords.
PARAMETERS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "description": "Natural-language query; documents semantically similar to it are returned.",
        },
        "limit": {
            "type": _nullable("integer"),
            "description": f"Maximum number of results, 1 to {MAX_LIMIT} (null: {DEFAULT_LIMIT}).",
        },
        "min_score": {
            "type": _nullable("number"),
            "description": "Drop results whose similarity score is below this, 0.0 to 1.0 (null: 0.0).",
        },
        "label_filters": {
            "type": _nullable("array"),
            "description": (
                "Exact-match metadata filters; use only when the user explicitly asks to filter by a label. "
                "Each value is a string; numbers and booleans are written as strings such as '42' or 'true'. "
                "null: no filters."
            ),
            "items": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["query", "limit", "min_score", "label_filters"],
    "additionalProperties": False,
}


def describe_store(store_name: str, context_prefix: str | None) -> str:
    """The tool description the model reads to decide when to search this store."""
    description = (
        f"Search the '{store_name}' vector store for documents semantically similar to a query. "
        "Returns relevant documents with similarity scores. IMPORTANT: use label_filters only if the "
        "user's request explicitly mentions filtering by labels or metadata; never guess filters."
    )
    domain = _prefix_topic(context_prefix)
    if domain:
        description += (
            f" This vector store contains: {domain}. Use this tool when you need information related to that domain."
        )
    return description


def _prefix_topic(context_prefix: str | None) -> str:
    """The subject of a context prefix like `Based on the following information from the docs:`."""
    if not context_prefix:
        return ""
    topic = context_prefix.replace(_PREFIX_BOILERPLATE, "").strip()
    return topic.rstrip(":").strip()


@attrs.frozen
class SearchArguments:
    """Validated tool arguments."""

    query: str
    limit: int = DEFAULT_LIMIT
    min_score: float = DEFAULT_MIN_SCORE
    label_filters: Mapping[str, Any] = attrs.field(factory=dict)


class InvalidArguments(ValueError):
    """A tool argument has the wrong type or value; the message names it."""


def parse_search_arguments(arguments: Mapping[str, Any]) -> SearchArguments:
    """Validate the model's arguments; `null` means the default, out-of-range numbers are clamped."""
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidArguments("'query' is required and must be a non-empty string")
    limit = _integer(arguments.get("limit"), "limit", DEFAULT_LIMIT)
    min_score = _number(arguments.get("min_score"), "min_score", DEFAULT_MIN_SCORE)
    filters = _label_filters(arguments.get("label_filters"))
    return SearchArguments(
        query=query.strip(),
        limit=min(max(limit, 1), MAX_LIMIT),
        min_score=min(max(min_score, 0.0), 1.0),
        label_filters=filters,
    )


def _integer(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidArguments(f"'{name}' must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise InvalidArguments(f"'{name}' must be an integer, got {value!r}")


def _number(value: Any, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidArguments(f"'{name}' must be a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidArguments(f"'{name}' must be a number, got {value!r}")


def _label_filters(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise InvalidArguments("'label_filters' must be an array of {key, value} objects")
    filters: dict[str, Any] = {}
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or "value" not in item:
            raise InvalidArguments(f"'label_filters[{index}]' must be an object with string 'key' and 'value'")
        filters[item["key"]] = parse_label_value(item["value"])
    return filters


def parse_label_value(value: Any) -> Any:
    """`"42"` → 42, `"true"` → True, `"null"` → None, `'"x"'` → "x"; anything else stays the raw string."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, str | int | float | bool) or parsed is None else value


def _end_span(span: tuple[Span, bool] | None, *, error: str | None = None) -> None:
    if span is None:
        return
    if error is not None:
        span[0].record_error(error)
    span[0].end()


def _rounded(score: float) -> float:
    return round(float(score), 4)


def format_results(query: str, hits: Sequence[SearchHit], context_prefix: str | None = None) -> str:
    """The plain-text rendering the model reads (`formatted_results`)."""
    if not hits:
        return f"No results found for query: '{query}'"
    blocks = []
    for index, hit in enumerate(hits, start=1):
        source = hit.metadata.get("source")
        where = f", source: {source}" if source else ""
        blocks.append(f"Result {index} (score: {hit.score:.3f}{where}):\n{hit.content}\n")
    text = "\n---\n\n".join(blocks)
    return f"{context_prefix}\n\n{text}" if context_prefix else text


def search_output(query: str, hits: Sequence[SearchHit], context_prefix: str | None = None) -> dict[str, Any]:
    """The JSON object returned by the tool (docs/rag.md): the query, and each hit's content, score and metadata."""
    return {
        "results": [
            {"content": hit.content, "score": _rounded(hit.score), "metadata": dict(hit.metadata)} for hit in hits
        ],
        "query": query,
        "total_found": len(hits),
        "formatted_results": format_results(query, hits, context_prefix),
    }


class VectorSearchToolset:
    """One vector store offered to the model as the single tool `vector_search_<store name>`.

    Store and embedder failures come back as error results (`Vector store error: …`) so the model
    can carry on; only cancellation propagates. `required` (the default) says the agent cannot do
    its job without the store: the server's readiness route reports "not ready" while it is
    unreachable; an optional store that is down is only reported.
    """

    def __init__(
        self, store_name: str, store: VectorStore, context_prefix: str | None = None, *, required: bool = True
    ) -> None:
        self._store_name = store_name
        self._store = store
        self._required = required
        self._context_prefix = context_prefix or None
        self._tool_name = vector_search_tool_name(store_name)
        if self._tool_name != TOOL_NAME_PREFIX + store_name:
            logger.warning(
                "vector store name %r is not a valid tool name suffix; its tool is offered as %r",
                store_name,
                self._tool_name,
            )
        self._spec = ToolSpec(
            self._tool_name,
            describe_store(store_name, self._context_prefix),
            PARAMETERS_SCHEMA,
            annotations=ToolAnnotations(read_only=True),
            builtin_read_only=True,
        )

    @property
    def name(self) -> str:
        return self._store_name

    @property
    def tool_name(self) -> str:
        return self._tool_name

    @property
    def store(self) -> VectorStore:
        return self._store

    @property
    def required(self) -> bool:
        return self._required

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [self._spec]

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        if name != self._tool_name:
            return ToolResult.error(f"Tool not found: {name}")
        try:
            parsed = parse_search_arguments(arguments)
        except InvalidArguments as error:
            return ToolResult.error(f"Invalid arguments for {self._tool_name}: {error}")
        span = self._start_span(context, parsed)
        try:
            hits = await self._store.search(parsed.query, parsed.limit, parsed.label_filters or None)
        except asyncio.CancelledError:
            _end_span(span, error="cancelled")
            raise
        except VectorStoreError as error:
            _end_span(span, error=str(error))
            return ToolResult.error(f"Vector store error: {error}")
        except Exception as error:  # an adapter bug still becomes a tool error the model can see
            logger.exception("vector store %r failed", self._store_name)
            _end_span(span, error=f"{type(error).__name__}: {error}")
            return ToolResult.error(f"Vector store error: {type(error).__name__}: {error}")
        kept = [hit for hit in hits if hit.score >= parsed.min_score][: parsed.limit]
        if span is not None:
            self._record_hits(span[0], span[1], kept)
        _end_span(span)
        output = search_output(parsed.query, kept, self._context_prefix)
        return ToolResult(json.dumps(output, ensure_ascii=False), structured=output)

    def _start_span(self, context: ToolCallContext, arguments: SearchArguments) -> tuple[Span, bool] | None:
        """A RETRIEVER span under the tool's span, when the call context carries a tracer.

        `ToolCallContext.tracer` / `.span` are read with getattr: they are a proposed addition to the
        domain, and until they exist this records nothing.
        """
        tracer: Tracer | None = getattr(context, "tracer", None)
        if tracer is None:
            return None
        parent: Span | None = getattr(context, "span", None)
        span = tracer.start_span(
            "vector.search",
            SpanKind.RETRIEVER,
            {
                "vector_store.name": self._store_name,
                "tool.name": self._tool_name,
                "retrieval.limit": arguments.limit,
                "retrieval.min_score": arguments.min_score,
                "retrieval.label_filter_count": len(arguments.label_filters),
            },
            parent=parent,
        )
        if tracer.records_content:
            span.set_attribute("input.value", arguments.query)
        return span, tracer.records_content

    @staticmethod
    def _record_hits(span: Span, records_content: bool, hits: Sequence[SearchHit]) -> None:
        span.set_attribute("retrieval.document_count", len(hits))
        for index, hit in enumerate(hits):
            prefix = f"retrieval.documents.{index}.document"
            span.set_attribute(f"{prefix}.score", float(hit.score))
            document_id = hit.metadata.get("id")
            if document_id is not None:
                span.set_attribute(f"{prefix}.id", str(document_id))
            if records_content:
                span.set_attribute(f"{prefix}.content", hit.content)
                span.set_attribute(f"{prefix}.metadata", json.dumps(dict(hit.metadata), default=str))

    async def aclose(self) -> None:
        await self._store.aclose()


# --- chunking -----------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


@attrs.frozen
class _Piece:
    text: str
    starts_paragraph: bool


def chunk_text(text: str, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[str]:
    """Split text into chunks of at most `size` characters for embedding.

    Paragraphs (blank-line separated) are packed whole while they fit; a longer paragraph is cut
    at whitespace (mid-word only when a single word is longer than a chunk). Each chunk after the
    first starts with up to `overlap` characters from the end of the previous one, cut at a word
    boundary, so a sentence split across chunks can still be found from either side.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    if overlap < 0 or overlap >= size:
        raise ValueError(f"chunk overlap must be between 0 and size - 1 ({size - 1}), got {overlap}")
    pieces = _pieces(text, max(1, size - overlap))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        separator = "\n\n" if piece.starts_paragraph else " "
        if current and len(current) + len(separator) + len(piece.text) <= size:
            current += separator + piece.text
            continue
        if current:
            chunks.append(current)
            budget = min(overlap, size - len(separator) - len(piece.text))
            tail = _tail(current, budget)
            current = tail + separator + piece.text if tail else piece.text
        else:
            current = piece.text
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, max_length: int) -> list[_Piece]:
    pieces: list[_Piece] = []
    for paragraph in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for index, part in enumerate(_split_long(paragraph, max_length)):
            pieces.append(_Piece(part, starts_paragraph=index == 0))
    return pieces


def _split_long(paragraph: str, max_length: int) -> list[str]:
    parts: list[str] = []
    rest = paragraph
    while len(rest) > max_length:
        window = rest[: max_length + 1]
        cut = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
        if cut <= 0:
            cut = max_length
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _tail(chunk: str, budget: int) -> str:
    """The last `budget` characters of a chunk, starting at a word boundary when there is one."""
    if budget <= 0:
        return ""
    tail = chunk[-budget:]
    if len(tail) < len(chunk) and not chunk[-budget - 1].isspace():
        boundary = re.search(r"\s", tail)
        tail = tail[boundary.end() :] if boundary else ""
    return tail.strip()
