"""OpenAI Chat Completions — and any OpenAI-compatible server (vLLM, llama.cpp, OpenRouter…) — as a `ChatModel`.

Streaming always uses `stream_options.include_usage`, so the last chunk carries usage; servers that ignore it
still finish cleanly, just without a `UsageReported`.

Parameter mapping:
- `max_tokens` is sent as `max_completion_tokens` to OpenAI reasoning models (o1, o3, o4, gpt-5 — they reject
  `max_tokens`) and as `max_tokens` to everything else, because most compatible servers only know `max_tokens`.
- `reasoning_effort` is sent only to those reasoning models; for any other model it is dropped with a warning
  (once per adapter). A provider prefix such as OpenRouter's `openai/` is ignored when recognising them.

Reasoning text is read from `delta.reasoning_content` (DeepSeek, llama.cpp, older vLLM) or `delta.reasoning`
(OpenRouter, newer vLLM); a delta carrying both is counted once.

The request goes out with aiohttp, not the `openai` SDK, and the SSE stream is read here, one orjson decode
per event: under load the SDK's per-request work (its typed options, httpx2's request building and connection
pool) and its pydantic model per chunk were most of the server's CPU time (docs/performance.md, ADR 0011), and
the standard library's `json.loads` was the largest cost left per token (ADR 0022).
What the SDK did for us is kept: the `Authorization` header, the request timeout on connecting and on every
read, proxies and certificates from the environment (`_http.py`), status errors classified from the
provider's error body with Retry-After honoured, and `{"error": …}` objects sent inside the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import aiohttp
import attrs
import orjson
from yarl import URL

from aura import __version__
from aura.adapters.llm._errors import (
    describe_json_error,
    malformed,
    redact,
    retry_after_seconds,
    status_error,
    stream_error,
)
from aura.adapters.llm._http import ProxyRoute, default_ssl_context, proxy_route_from_environment
from aura.adapters.llm.retry import RetryPolicy, stream_with_retries
from aura.adapters.per_event_loop import PerEventLoop
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    ModelEvent,
    ModelFinished,
    ReasoningDelta,
    TextDelta,
    ToolCallReady,
    UsageReported,
)
from aura.domain.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolResultMessage,
    UserMessage,
    new_tool_call_id,
)
from aura.domain.schema_profiles import OPENAI, OfferedTool, OfferedTools, SchemaProfile, ToolSchemas
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest, GenerationSettings

logger = logging.getLogger(__name__)

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHAT_COMPLETIONS_PATH = "/chat/completions"
USER_AGENT = f"aura/{__version__}"
# At most this many requests of one adapter (one agent) in flight, each on its own connection; more wait for a
# slot, at most POOL_TIMEOUT_SECONDS, and then fail as OVERLOADED without calling the provider.
MAX_CONNECTIONS = 10_000
POOL_TIMEOUT_SECONDS = 10.0
# An error response's body is read up to this size for its message.
MAX_ERROR_BODY_BYTES = 64 * 1024
REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")
DEFAULT_RETRY = RetryPolicy()

# After `[DONE]` the rest of an HTTP/1.1 body (the last chunk marker) is read so the connection goes back to the
# pool instead of being closed; a server that keeps the stream open longer than this is cut off (as the SDK does).
DONE_DRAIN_SECONDS = 0.1

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
}


def is_reasoning_model(model: str) -> bool:
    """Does this model take `reasoning_effort` and `max_completion_tokens` (o1/o3/o4/gpt-5 families)?"""
    name = model.rsplit("/", 1)[-1].lower()
    return name.startswith(REASONING_MODEL_PREFIXES)


# --- request mapping ----------------------------------------------------------------------------


def build_request_body(model: str, request: ChatRequest, tools: OfferedTools | None = None) -> dict[str, Any]:
    """The Chat Completions JSON body for one streamed call, exactly as it goes on the wire.

    `tools` are the request's tools in the adapter's schema profile (by default, OpenAI strict).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_to_openai(message) for message in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        offered = tools if tools is not None else ToolSchemas(OPENAI).offer(request.tools)
        body["tools"] = [tool_to_openai(tool) for tool in offered.tools]
    body.update(settings_to_openai(model, request.settings))
    return body


def settings_to_openai(model: str, settings: GenerationSettings) -> dict[str, Any]:
    params: dict[str, Any] = {}
    reasoning = is_reasoning_model(model)
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        params["max_completion_tokens" if reasoning else "max_tokens"] = settings.max_tokens
    if settings.reasoning_effort is not None and reasoning:
        params["reasoning_effort"] = settings.reasoning_effort
    return params


def message_to_openai(message: Message) -> dict[str, Any]:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return {"role": "user", "content": message.content}
        return {"role": "user", "content": [_part_to_openai(part) for part in message.content]}
    if isinstance(message, AssistantMessage):
        entry: dict[str, Any] = {"role": "assistant"}
        if message.tool_calls:
            # `null` content next to tool calls is what OpenAI itself returns; some servers reject "".
            entry["content"] = message.content or None
            entry["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments or "{}"},
                }
                for call in message.tool_calls
            ]
        else:
            entry["content"] = message.content
        return entry
    if isinstance(message, ToolResultMessage):
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    raise TypeError(f"cannot send a {type(message).__name__} to OpenAI")


def _part_to_openai(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image_url", "image_url": {"url": part.url}}


def tool_to_openai(tool: OfferedTool) -> dict[str, Any]:
    """A function tool; `strict` only when the profile made the schema strict-valid (other servers may not know it)."""
    function: dict[str, Any] = {
        "name": tool.spec.name,
        "description": tool.spec.description,
        "parameters": tool.provider.schema,
    }
    if tool.provider.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


# --- stream mapping -----------------------------------------------------------------------------


@attrs.define
class _PartialToolCall:
    id: str = ""
    name: str = ""
    argument_pieces: list[str] = attrs.field(factory=list)
    emitted: bool = False

    def absorb(self, fragment: Mapping[str, Any], provider: str) -> None:
        call_id = fragment.get("id")
        if isinstance(call_id, str) and call_id and not self.id:
            self.id = call_id
        function = fragment.get("function") or {}
        if not isinstance(function, Mapping):
            raise malformed(provider, "a tool-call fragment's `function` is not an object")
        name = function.get("name")
        if isinstance(name, str) and name and name != self.name:
            # Most servers send the name once; a few repeat it on every fragment (ignored above), and
            # a rare one splits it into pieces before any arguments.
            if not self.name:
                self.name = name
            elif not self.argument_pieces:
                self.name += name
        arguments = function.get("arguments")
        if arguments is not None:
            if not isinstance(arguments, str):
                raise malformed(provider, "tool-call `arguments` must be a JSON string")
            self.argument_pieces.append(arguments)


@attrs.define
class ChatCompletionStreamReader:
    """Turns decoded `chat.completion.chunk` objects into `ModelEvent`s.

    Tool calls are assembled from fragments by their `index` and emitted as `ToolCallReady`, in index
    order, once the choice finishes (or the stream ends). Usage is reported once, at the end.
    """

    provider: str = PROVIDER
    _calls: dict[int, _PartialToolCall] = attrs.field(factory=dict)
    _usage: Usage | None = None
    _finish_reason: str | None = None

    def feed(self, chunk: object) -> list[ModelEvent]:
        if not isinstance(chunk, Mapping):
            raise malformed(self.provider, f"a stream chunk is a JSON {type(chunk).__name__}, not an object")
        usage = chunk.get("usage")
        if usage is not None:
            self._usage = self._parse_usage(usage)
        choices = chunk.get("choices")
        if choices is None:
            return []
        if not isinstance(choices, list):
            raise malformed(self.provider, "a stream chunk's `choices` is not a list")
        events: list[ModelEvent] = []
        for choice in choices:
            if not isinstance(choice, Mapping):
                raise malformed(self.provider, "a stream chunk's choice is not an object")
            if choice.get("index", 0) != 0:
                continue  # only one choice is ever requested
            events.extend(self._read_delta(choice.get("delta")))
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None:
                if not isinstance(finish_reason, str):
                    raise malformed(self.provider, "`finish_reason` is not a string")
                self._finish_reason = finish_reason
                events.extend(self._ready_calls())
        return events

    def finish(self) -> list[ModelEvent]:
        """The events after the last chunk: remaining tool calls, usage, and the finish reason."""
        events = self._ready_calls()
        if self._usage is not None:
            events.append(UsageReported(self._usage))
        reason = _FINISH_REASONS.get(self._finish_reason or "", FinishReason.STOP)
        if self._calls and reason is FinishReason.STOP:
            reason = FinishReason.TOOL_CALLS  # some local servers say "stop" after tool calls
        events.append(ModelFinished(reason))
        return events

    def _read_delta(self, delta: object) -> list[ModelEvent]:
        if delta is None:
            return []
        if not isinstance(delta, Mapping):
            raise malformed(self.provider, "a choice's `delta` is not an object")
        events: list[ModelEvent] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content is not None:
            if not isinstance(content, str):
                raise malformed(self.provider, "a delta's `content` is not a string")
            if content:
                events.append(TextDelta(content))
        fragments = delta.get("tool_calls")
        if fragments:
            if not isinstance(fragments, list):
                raise malformed(self.provider, "a delta's `tool_calls` is not a list")
            for fragment in fragments:
                self._absorb_fragment(fragment)
        return events

    def _absorb_fragment(self, fragment: object) -> None:
        if not isinstance(fragment, Mapping):
            raise malformed(self.provider, "a tool-call fragment is not an object")
        index = fragment.get("index")
        if index is None:
            # Without an index, a fragment with a new id starts a call; anything else continues the last one.
            call_id = fragment.get("id")
            known = {call.id for call in self._calls.values()}
            if not self._calls or (isinstance(call_id, str) and call_id and call_id not in known):
                index = max(self._calls, default=-1) + 1
            else:
                index = max(self._calls)
        if not isinstance(index, int) or isinstance(index, bool):
            raise malformed(self.provider, "a tool-call fragment's `index` is not an integer")
        partial = self._calls.setdefault(index, _PartialToolCall())
        if partial.emitted:
            raise malformed(self.provider, f"tool call #{index} received more data after it was complete")
        partial.absorb(fragment, self.provider)

    def _ready_calls(self) -> list[ModelEvent]:
        events: list[ModelEvent] = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            if partial.emitted:
                continue
            if not partial.name:
                raise malformed(self.provider, f"tool call #{index} has no function name")
            partial.emitted = True
            arguments = "".join(partial.argument_pieces).strip() or "{}"
            call_id = partial.id or new_tool_call_id()
            events.append(ToolCallReady(ToolCall(call_id, partial.name, arguments)))
        return events

    def _parse_usage(self, usage: object) -> Usage:
        if not isinstance(usage, Mapping):
            raise malformed(self.provider, "`usage` is not an object")
        counts: dict[str, int] = {}
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise malformed(self.provider, f"usage `{key}` is not a non-negative integer")
            counts[key] = value
        prompt = counts.get("prompt_tokens", 0)
        completion = counts.get("completion_tokens", 0)
        return Usage(prompt, completion, counts.get("total_tokens", prompt + completion))


# --- the SSE stream -----------------------------------------------------------------------------


class SseDataDecoder:
    """Splits a `text/event-stream` body, fed in arbitrary pieces, into the `data` of each event.

    Lines end in LF, CRLF or CR; an event's `data:` lines are joined with LF and the event is complete at
    the blank line after it. Comments and the `event`, `id` and `retry` fields are skipped: Chat Completions
    streams carry everything in `data`. An event left unfinished when the body ends is dropped, as the SSE
    specification says.
    """

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the start of a line that has not ended yet
        self._data: list[bytes] = []  # the data lines of the event being read
        self._skip_lf = False  # the last piece ended in CR, so a LF starting the next one ends no line

    def feed(self, piece: bytes) -> list[bytes]:
        """The data of every event completed by `piece`."""
        if not piece:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if piece[:1] == b"\n":
                piece = piece[1:]
        if b"\r" in piece:
            self._skip_lf = piece[-1:] == b"\r"
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in piece:
            if piece:
                self._pending.append(piece)
            return []
        if self._pending:
            self._pending.append(piece)
            piece = b"".join(self._pending)
            self._pending.clear()
        lines = piece.split(b"\n")
        rest = lines.pop()
        if rest:
            self._pending.append(rest)
        events: list[bytes] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._data[0] if len(self._data) == 1 else b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data"):
                field, _, value = line.partition(b":")
                if field == b"data":
                    self._data.append(value[1:] if value[:1] == b" " else value)
        return events


def decode_chunk(data: bytes, secrets: Sequence[str] = ()) -> object:
    """One event's data as JSON; an `{"error": …}` object the server sends instead of a chunk is raised."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        chunk = _decode_strictly(data)
    if isinstance(chunk, dict):
        error_body = chunk.get("error")
        if error_body:
            raise stream_error(PROVIDER, error_body, secrets=secrets)
    return chunk


def _decode_strictly(data: bytes) -> object:
    """What orjson refused, through the standard library: it accepts what orjson does not (integers beyond 64
    bits, NaN), and its errors say where the data went wrong."""
    try:
        return json.loads(data)
    except UnicodeDecodeError as error:
        raise malformed(PROVIDER, f"stream data is not valid UTF-8 ({error.reason})") from error
    except json.JSONDecodeError as error:
        raise malformed(PROVIDER, describe_json_error(error, error.doc)) from error


# --- errors -------------------------------------------------------------------------------------


def classify_transport_error(error: Exception, *, where: str, secrets: Sequence[str] = ()) -> ProviderError | None:
    """Map an aiohttp (or socket) failure to a `ProviderError`; None for anything else.

    Timeouts are told apart from failures: a connect or read that waited past the request timeout is a
    `TIMEOUT`; a refused, unresolvable or dropped connection is a `CONNECTION` error naming the cause.
    """
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"could not connect to {where} within the request timeout", provider=PROVIDER
        )
    if isinstance(error, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"no response from {where} within the request timeout", provider=PROVIDER
        )
    if isinstance(error, aiohttp.ClientHttpProxyError):
        kind = ProviderErrorKind.AUTHENTICATION if error.status == 407 else ProviderErrorKind.CONNECTION
        return ProviderError(
            kind,
            redact(f"the proxy to {where} refused the connection: HTTP {error.status} {error.message}", secrets),
            provider=PROVIDER,
            status_code=error.status,
        )
    if isinstance(error, aiohttp.ClientError | OSError):
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return ProviderError(
            ProviderErrorKind.CONNECTION, redact(f"connection to {where} failed: {cause}", secrets), provider=PROVIDER
        )
    return None


async def read_body(response: aiohttp.ClientResponse, limit: int = MAX_ERROR_BODY_BYTES) -> bytes:
    """The response body, whole or up to `limit` bytes (a single read returns only what has arrived)."""
    pieces: list[bytes] = []
    size = 0
    while size < limit:
        piece = await response.content.read(limit - size)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


async def error_from_response(response: aiohttp.ClientResponse, secrets: Sequence[str]) -> ProviderError:
    """The `ProviderError` for an HTTP error status, from the provider's JSON (or text) error body."""
    raw = await read_body(response)
    text = raw.decode(errors="replace")
    body: object = text
    with contextlib.suppress(ValueError):
        body = json.loads(text)
    return status_error(PROVIDER, response.status, body, secrets=secrets, fallback=f"HTTP {response.status}")


# --- the adapter --------------------------------------------------------------------------------


class OpenAIChatModel:
    """A `ChatModel` over the Chat Completions API of OpenAI or any OpenAI-compatible `base_url`.

    One aiohttp session per adapter and event loop, created on first use. `RetryPolicy` retries
    429/5xx/connection failures and timeouts, honouring Retry-After, but only until the first event has been
    passed on.
    """

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        *,
        request_timeout: float = 600.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_connections: int = MAX_CONNECTIONS,
        schema_profile: SchemaProfile = OPENAI,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
    ) -> None:
        if not model.strip():
            raise ValueError("OpenAIChatModel: `model` must name a model, e.g. 'gpt-4o'")
        if not api_key:
            raise ValueError(
                "OpenAIChatModel: `api_key` is empty (a compatible server that needs no key accepts any placeholder)"
            )
        if request_timeout <= 0:
            raise ValueError(f"OpenAIChatModel: `request_timeout` must be positive, got {request_timeout}")
        if max_connections < 1:
            raise ValueError(f"OpenAIChatModel: `max_connections` must be at least 1, got {max_connections}")
        if not pool_timeout > 0:
            raise ValueError(f"OpenAIChatModel: `pool_timeout` must be positive, got {pool_timeout}")
        root = (base_url or DEFAULT_BASE_URL).rstrip("/")
        url = URL(root + CHAT_COMPLETIONS_PATH)
        if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
            raise ValueError(
                f"OpenAIChatModel: `base_url` must be an http(s) URL without query or fragment, got {base_url!r}"
            )
        self._model = model
        self._retry = retry
        self._secrets = (api_key,)
        self._where = redact(root, self._secrets) if base_url else "the OpenAI API"
        self._url = url
        self._base_headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": USER_AGENT,
        }
        # The same limit to every wait, as the SDK's timeout did: connecting, the response's headers, and each
        # silence in its body (`_stream_once`; aiohttp's own read timeout would re-arm a timer for every piece).
        self._request_timeout = request_timeout
        self._timeout = aiohttp.ClientTimeout(total=None, connect=request_timeout, sock_connect=request_timeout)
        self._max_connections = max_connections
        self._pool_timeout = pool_timeout
        self._proxy = ProxyRoute()
        self._headers = self._base_headers
        # one session per event loop: its pooled connections belong to the loop that opened them
        self._sessions = PerEventLoop(self._new_session, _LoopClient.close)
        self._warned_about_reasoning_effort = False
        self._tool_schemas = ToolSchemas(schema_profile)

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model_name(self) -> str:
        return self._model

    def stream(self, request: ChatRequest) -> AsyncGenerator[ModelEvent, None]:
        self._warn_if_reasoning_effort_dropped(request.settings)
        tools = self._tool_schemas.offer(request.tools)
        body = json.dumps(build_request_body(self._model, request, tools)).encode()
        events = stream_with_retries(
            lambda: self._stream_once(body), self._classify, self._retry, retry_after=_retry_after
        )
        return tools.restoring(events)

    async def aclose(self) -> None:
        await self._sessions.aclose()

    def _new_session(self) -> _LoopClient:
        self._proxy = proxy = proxy_route_from_environment(self._url.scheme, self._url.host or "")
        # a plain-http request goes to the proxy as it is, so the proxy's credentials travel in its headers
        self._headers = self._base_headers
        if proxy.headers is not None and self._url.scheme == "http":
            self._headers = {**self._base_headers, **proxy.headers}
        # No limit in the connector: the slots below bound the requests in flight (so the connections) and
        # turn a long wait into an honest OVERLOADED error instead of a timeout blamed on the model.
        connector = aiohttp.TCPConnector(limit=0, ssl=default_ssl_context() if self._url.scheme == "https" else True)
        # trust_env stays off: it re-reads the environment and ~/.netrc in a thread on every request
        # (more CPU under load than the request itself); the proxy is looked up once, above.
        session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return _LoopClient(session, asyncio.Semaphore(self._max_connections))

    async def _stream_once(self, body: bytes) -> AsyncGenerator[ModelEvent, None]:
        client = await self._sessions.get()
        if not await client.take_slot(self._pool_timeout):
            raise ProviderError(
                ProviderErrorKind.OVERLOADED,
                f"all {self._max_connections:,} connections of this agent's model client (max_connections) stayed "
                f"in use for {self._pool_timeout:g} s (pool_timeout_secs); {self._where} was not called",
                provider=PROVIDER,
                retryable=False,
            )
        try:
            session = client.session
            proxy = self._proxy
            async with (
                asyncio.timeout(self._request_timeout) as waiting_for_headers,  # and for an error body
                session.post(
                    self._url,
                    data=body,
                    headers=self._headers,
                    proxy=proxy.url,
                    proxy_headers=proxy.headers if self._url.scheme == "https" else None,
                ) as response,
            ):
                if response.status >= 400:
                    raise _StatusError(await error_from_response(response, self._secrets), response.headers)
                if response.content_type == "application/json":
                    raise await self._json_instead_of_stream(response)
                waiting_for_headers.reschedule(None)  # from here on each silence is limited, not the whole stream
                reader = ChatCompletionStreamReader()
                decoder = SseDataDecoder()
                secrets = self._secrets
                silence = _SilenceLimit(response, self._request_timeout)
                clock = silence.clock
                try:
                    async for piece in response.content.iter_any():
                        silence.last_read = clock()
                        for data in decoder.feed(piece):
                            if data.startswith(b"[DONE]"):
                                await _drain(response)
                                for event in reader.finish():
                                    yield event
                                return
                            for event in reader.feed(decode_chunk(data, secrets)):
                                yield event
                except (aiohttp.ClientError, OSError) as error:
                    if silence.expired:
                        raise TimeoutError(f"the response body was silent for {self._request_timeout} s") from error
                    raise
                finally:
                    silence.cancel()
                for event in reader.finish():
                    yield event
        finally:
            client.slots.release()

    async def _json_instead_of_stream(self, response: aiohttp.ClientResponse) -> ProviderError:
        """A 200 with a JSON body: an error object some gateways send that way, or a server that cannot stream."""
        raw = await read_body(response)
        with contextlib.suppress(ValueError):
            body = json.loads(raw)
            if isinstance(body, dict) and body.get("error"):
                return stream_error(PROVIDER, body["error"], secrets=self._secrets)
        return malformed(
            PROVIDER, "the server answered with a JSON document instead of an event stream (does it support streaming?)"
        )

    def _classify(self, error: Exception) -> ProviderError | None:
        if isinstance(error, _StatusError):
            return error.error
        return classify_transport_error(error, where=self._where, secrets=self._secrets)

    def _warn_if_reasoning_effort_dropped(self, settings: GenerationSettings) -> None:
        if settings.reasoning_effort is None or is_reasoning_model(self._model):
            return
        if not self._warned_about_reasoning_effort:
            self._warned_about_reasoning_effort = True
            logger.warning(
                "reasoning_effort=%r is not sent: model %r is not an OpenAI reasoning model (%s)",
                settings.reasoning_effort,
                self._model,
                ", ".join(REASONING_MODEL_PREFIXES),
            )


@attrs.define
class _LoopClient:
    """The HTTP session of one event loop and the slots that bound its requests in flight."""

    session: aiohttp.ClientSession
    slots: asyncio.Semaphore

    async def take_slot(self, wait_secs: float) -> bool:
        """Wait for a free slot, at most `wait_secs`; False when none came free."""
        if not self.slots.locked():
            await self.slots.acquire()  # free now: no timer needed
            return True
        try:
            async with asyncio.timeout(wait_secs):
                await self.slots.acquire()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        await self.session.close()


class _SilenceLimit:
    """Closes a response whose body has been silent for `seconds` (the request timeout between two reads).

    One timer per `seconds` instead of one per read: the reader stamps `last_read`, and the timer, when it
    fires, either finds the stamp recent and re-arms for the new due time or closes the response, which
    makes the pending read fail.
    """

    def __init__(self, response: aiohttp.ClientResponse, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self.last_read = loop.time()
        self.expired = False
        self._loop = loop
        self._response = response
        self._seconds = seconds
        self._timer = loop.call_at(self.last_read + seconds, self._check)

    def _check(self) -> None:
        due = self.last_read + self._seconds
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check)
            return
        self.expired = True
        self._response.close()

    def cancel(self) -> None:
        self._timer.cancel()


class _StatusError(Exception):
    """An HTTP error status, classified, with the headers that may ask for a wait (Retry-After)."""

    def __init__(self, error: ProviderError, headers: Mapping[str, str]) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = headers


def _retry_after(error: Exception) -> float | None:
    """The wait a 429/503 response asked for (Retry-After), handed to the retry policy."""
    if isinstance(error, _StatusError):
        return retry_after_seconds(error.headers)
    return None


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows `[DONE]` (normally only the end of the body) so the connection can be reused.

    Briefly, ignoring what and whether it arrives: a server that keeps the stream open longer is cut off.
    """
    if response.content.at_eof():
        return
    with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
        async with asyncio.timeout(DONE_DRAIN_SECONDS):
            while await response.content.readany():
                pass
