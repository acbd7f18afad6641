"""The legacy HTTP+SSE transport (MCP 2024-11-05): a GET event stream plus POSTs to the endpoint it names.

The client is ours rather than the SDK's `sse_client`: that one reads the event stream with a fixed
1 MiB limit per event, and an event over it ends the whole stream — every request of the session
fails with "connection lost". Here one message may be as large as the toolset allows
(`max_message_bytes`); a larger one is skipped as it arrives (only its first and last bytes are
kept, to find its request id) and that one request fails with `RESULT_TOO_LARGE`, while the
session goes on. The rest follows the SDK's client: the `endpoint` event, the same-origin rule for
it and for redirects, POSTs in the sender's context.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from urllib.parse import urljoin, urlsplit

import anyio
import attrs
import httpx2
from anyio.abc import TaskStatus
from mcp import types
from mcp.shared._context_streams import ContextReceiveStream, ContextSendStream, create_context_streams
from mcp.shared._httpx_utils import request_within_origin, stream_within_origin
from mcp.shared.message import SessionMessage

from aura.adapters.mcp._convert import string_map
from aura.adapters.mcp._http import (
    HTTP_TIMEOUT_SECONDS,
    RESULT_TOO_LARGE,
    STREAM_READ_TIMEOUT_SECONDS,
    loggable_url,
    mcp_http_client,
    too_large_message,
    validate_http_config,
)
from aura.adapters.mcp.connection import TransportStreams

_EDGE_BYTES = 512  # kept from each end of a skipped event: enough to find its "id"
_ID_AT_START = re.compile(rb'^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')
_ID_AT_END = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*[,}][^"]*$')


@attrs.frozen
class SseTransport:
    """An MCP server speaking the legacy SSE transport at `url` (usually ending in `/sse`).

    Header options work as for `StreamableHttpTransport`.
    """

    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)
    headers_from_request: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)

    def __attrs_post_init__(self) -> None:
        validate_http_config("SseTransport", self.url, self.headers, self.headers_from_request)

    @property
    def static_headers(self) -> Mapping[str, str]:
        return self.headers

    def describe(self) -> str:
        return f"url {loggable_url(self.url)}"

    async def open(
        self,
        stack: AsyncExitStack,
        headers: Mapping[str, str],
        logger: logging.Logger,
        *,
        max_message_bytes: int | None = None,
    ) -> TransportStreams:
        # The headers are the HTTP client's defaults: the event stream and every POST carry them.
        read_stream, write_stream = await stack.enter_async_context(
            sse_client(self.url, dict(headers), max_message_bytes=max_message_bytes, logger=logger)
        )
        return read_stream, write_stream


@attrs.frozen
class SseEvent:
    event: str
    data: bytes


@attrs.frozen
class SkippedEvent:
    """An event larger than the limit: its size, and the first and last bytes of its data."""

    size: int
    head: bytes
    tail: bytes

    def request_id(self) -> types.RequestId | None:
        """The JSON-RPC id of the skipped message, when either end shows it."""
        match = _ID_AT_START.match(self.head) or _ID_AT_END.search(self.tail)
        if match is None:
            return None
        raw = match.group(1)
        if raw.startswith(b'"'):
            return raw[1:-1].decode("utf-8", errors="replace")
        return int(raw)


class BoundedSseReader:
    """Server-sent events from bytes, holding at most `max_event_bytes` of one event in memory.

    An event whose data grows past the limit is not buffered further: the rest is counted and
    dropped until the event ends, then reported as a `SkippedEvent`.
    """

    def __init__(self, max_event_bytes: int | None) -> None:
        self._limit = max_event_bytes
        self._line = bytearray()
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0
        self._skipping = False
        self._head = b""
        self._tail = b""
        self._line_started = False
        self._skip_lf = False

    def feed(self, piece: bytes) -> list[SseEvent | SkippedEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if piece[:1] == b"\n":
                piece = piece[1:]
        if b"\r" in piece:
            self._skip_lf = piece[-1:] == b"\r"
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SseEvent | SkippedEvent] = []
        start = 0
        while True:
            end = piece.find(b"\n", start)
            if end < 0:
                self._take(piece[start:])
                return events
            self._take(piece[start:end])
            event = self._end_line()
            if event is not None:
                events.append(event)
            start = end + 1

    def _take(self, part: bytes) -> None:
        if not part:
            return
        self._line_started = True
        if self._skipping:
            self._size += len(part)
            self._tail = (self._tail + part)[-_EDGE_BYTES:]
            return
        self._line += part
        if self._limit is not None and self._size + len(self._line) > self._limit:
            buffered = b"\n".join([*self._data, bytes(self._line)])
            self._skipping = True
            self._head = buffered[: _EDGE_BYTES * 2]
            self._tail = buffered[-_EDGE_BYTES:]
            self._size += len(self._line)
            self._data = []
            self._line = bytearray()

    def _end_line(self) -> SseEvent | SkippedEvent | None:
        started, self._line_started = self._line_started, False
        if self._skipping:
            if started:
                return None
            head = self._head.partition(b":")[2].lstrip() if self._head.startswith(b"data") else self._head
            skipped = SkippedEvent(self._size, head, self._tail)
            self._reset()
            return skipped
        line = bytes(self._line)
        self._line.clear()
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", b"\n".join(self._data))
            self._reset()
            return event
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._size += len(value)
        elif name == b"event":
            self._event = value.decode("utf-8", errors="replace")
        return None

    def _reset(self) -> None:
        self._event = ""
        self._data = []
        self._size = 0
        self._skipping = False
        self._head = self._tail = b""


@asynccontextmanager
async def sse_client(
    url: str,
    headers: dict[str, str],
    *,
    max_message_bytes: int | None,
    logger: logging.Logger,
) -> AsyncIterator[tuple[ContextReceiveStream[SessionMessage | Exception], ContextSendStream[SessionMessage]]]:
    """The SDK's `sse_client`, with a per-message limit that fails one request instead of the stream."""
    timeout = httpx2.Timeout(HTTP_TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
    async with (
        mcp_http_client(headers, timeout) as client,
        stream_within_origin(
            client, "GET", url, headers={"Accept": "text/event-stream", "Cache-Control": "no-store"}
        ) as response,
    ):
        response.raise_for_status()
        content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != "text/event-stream":
            raise httpx2.SSEError(f"expected an event stream, got content type {content_type!r}")
        read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
        write_stream, write_reader = create_context_streams[SessionMessage](0)

        async def read_events(task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
            reader = BoundedSseReader(max_message_bytes)
            try:
                async for piece in response.aiter_bytes():
                    for event in reader.feed(piece):
                        if isinstance(event, SkippedEvent):
                            await _report_skipped(event, read_writer, max_message_bytes, logger)
                        elif event.event == "endpoint":
                            endpoint = urljoin(url, event.data.decode("utf-8", errors="replace").strip())
                            if urlsplit(endpoint)[:2] != urlsplit(url)[:2]:
                                raise ValueError("the server named a message endpoint on another origin")
                            task_status.started(endpoint)
                        elif event.event == "message" and event.data:
                            try:
                                message = types.jsonrpc_message_adapter.validate_json(event.data, by_name=False)
                            except ValueError as error:
                                logger.warning("the MCP server sent a message that is not JSON-RPC: %s", error)
                                await read_writer.send(error)
                                continue
                            await read_writer.send(SessionMessage(message))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass  # our side is closing
            finally:
                await read_writer.aclose()

        async def post_messages(endpoint: str) -> None:
            async def post(message: SessionMessage) -> None:
                body = message.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
                posted = await request_within_origin(client, "POST", endpoint, json=body)
                posted.raise_for_status()

            try:
                async with write_reader, write_stream:
                    async for message in write_reader:
                        context = write_reader.last_context
                        if context is None:
                            await post(message)
                            continue
                        async with anyio.create_task_group() as group:
                            context.run(group.start_soon, post, message)
            except Exception as error:
                logger.warning("sending to the MCP server failed: %s", type(error).__name__)
                await read_writer.aclose()

        async with read_writer, read_stream, write_stream, write_reader, anyio.create_task_group() as group:
            endpoint = await group.start(read_events)
            group.start_soon(post_messages, endpoint)
            try:
                yield read_stream, write_stream
            finally:
                group.cancel_scope.cancel()


async def _report_skipped(
    event: SkippedEvent,
    read_writer: ContextSendStream[SessionMessage | Exception],
    limit: int | None,
    logger: logging.Logger,
) -> None:
    request_id = event.request_id()
    message = too_large_message(event.size, limit or 0)
    if request_id is None:
        logger.warning("skipped a %d-byte message from the MCP server: %s", event.size, message)
        return
    error = types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=RESULT_TOO_LARGE, message=message)
    )
    await read_writer.send(SessionMessage(error))
