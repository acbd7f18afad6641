"""OpenAI Chat Completions — and any OpenAI-compatible server (vLLM, llama.cpp, OpenRouter…) — as a `ChatModel`.

Streaming always uses `stream_options.include_usage`, so the last chunk carries usage; servers that ignore it
still finish cleanly, just without a `UsageReported`.

Parameter mapping (SPEC-reference §4.7):
- `max_tokens` is sent as `max_completion_tokens` to OpenAI reasoning models (o1, o3, o4, gpt-5 — they reject
  `max_tokens`) and as `max_tokens` to everything else, because most compatible servers only know `max_tokens`.
- `reasoning_effort` is sent only to those reasoning models; for any other model it is dropped with a warning
  (once per adapter). A provider prefix such as OpenRouter's `openai/` is ignored when recognising them.

Reasoning text is read from `delta.reasoning_content` (DeepSeek, llama.cpp, older vLLM) or `delta.reasoning`
(OpenRouter, newer vLLM); a delta carrying both is counted once.

The SDK sends the request (`AsyncOpenAI.post` with the body from `build_request_body`: auth, headers,
timeouts, status errors), but the stream is read here from the raw SSE bytes, one `json.loads` per event: the
SDK's typed-params transform of every request and its pydantic `ChatCompletionChunk` per chunk were most of
the server's CPU time under load (docs/performance.md). Failures keep the SDK's shapes (`APIError` for an
in-stream error object, `APITimeoutError` and `APIConnectionError` for transport failures), so one classifier
maps them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

import attrs
import httpx2
import openai

from aura.adapters.llm._errors import (
    describe_cause,
    describe_json_error,
    malformed,
    redact,
    retry_after_seconds,
    status_error,
    stream_error,
)
from aura.adapters.llm.retry import RetryPolicy, stream_with_retries
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
)
from aura.domain.tools import ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest, GenerationSettings

logger = logging.getLogger(__name__)

PROVIDER = "openai"
CHAT_COMPLETIONS_PATH = "/chat/completions"
REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")
DEFAULT_RETRY = RetryPolicy()

# After `[DONE]` the rest of an HTTP/1.1 body (the last chunk marker) is read so the connection goes back to the
# pool instead of being closed; a server that keeps the stream open longer than this is cut off (as the SDK does).
DONE_DRAIN_SECONDS = 0.1
# What a broken transport raises while the body is read (the SDK's stream wraps the same in APIConnectionError).
_TRANSPORT_ERRORS = (httpx2.RequestError, ssl.SSLError)

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


def build_request_body(model: str, request: ChatRequest) -> dict[str, Any]:
    """The Chat Completions JSON body for one streamed call, exactly as it goes on the wire."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_to_openai(message) for message in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [tool_to_openai(spec) for spec in request.tools]
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


def tool_to_openai(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": dict(spec.parameters)},
    }


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
            call_id = partial.id or f"call_{uuid.uuid4().hex[:24]}"
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


def decode_chunk(data: bytes, request: httpx2.Request) -> object:
    """One event's data as JSON; an `{"error": …}` object is raised as the SDK raises it (`openai.APIError`)."""
    try:
        text = data.decode()
    except UnicodeDecodeError as error:
        raise malformed(PROVIDER, f"stream data is not valid UTF-8 ({error.reason})") from error
    chunk = json.loads(text)
    if isinstance(chunk, dict):
        error_body = chunk.get("error")
        if error_body:
            message = error_body.get("message") if isinstance(error_body, Mapping) else None
            if not isinstance(message, str) or not message:
                message = "An error occurred during streaming"
            raise openai.APIError(message, request, body=error_body)
    return chunk


async def read_chunks(response: httpx2.Response) -> AsyncGenerator[object, None]:
    """The decoded `chat.completion.chunk`s of a streamed response, up to `[DONE]` or the end of the body.

    Transport failures while reading are raised as the SDK's `APITimeoutError`/`APIConnectionError`.
    """
    decoder = SseDataDecoder()
    request = response.request
    try:
        async with contextlib.aclosing(response.aiter_bytes()) as pieces:
            async for piece in pieces:
                for data in decoder.feed(piece):
                    if data.startswith(b"[DONE]"):
                        if response.http_version == "HTTP/1.1":
                            await _drain(pieces)
                        return
                    yield decode_chunk(data, request)
    except httpx2.TimeoutException as error:
        raise openai.APITimeoutError(request=request) from error
    except _TRANSPORT_ERRORS as error:
        raise openai.APIConnectionError(request=request) from error


async def _drain(pieces: AsyncIterator[bytes]) -> None:
    """Read what follows `[DONE]` (normally only the end of the body), briefly, ignoring it and its failures."""
    try:
        async with asyncio.timeout(DONE_DRAIN_SECONDS):
            async for _ in pieces:
                pass
    except (TimeoutError, *_TRANSPORT_ERRORS):
        pass


# --- errors -------------------------------------------------------------------------------------


def classify_openai_error(error: Exception, *, where: str, secrets: Sequence[str] = ()) -> ProviderError | None:
    """Map an `openai` SDK (or transport/decoding) failure to a `ProviderError`; None for anything else."""
    if isinstance(error, openai.APITimeoutError):
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"no response from {where} within the request timeout", provider=PROVIDER
        )
    if isinstance(error, openai.APIConnectionError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            redact(f"connection to {where} failed: {describe_cause(error)}", secrets),
            provider=PROVIDER,
        )
    if isinstance(error, openai.APIResponseValidationError):
        return malformed(PROVIDER, "the response does not match the Chat Completions schema")
    if isinstance(error, openai.APIStatusError):
        return status_error(
            PROVIDER, error.status_code, error.body, secrets=secrets, fallback=f"HTTP {error.status_code}"
        )
    if isinstance(error, openai.APIError):  # an `{"error": …}` object sent inside the stream
        return stream_error(PROVIDER, error.body, secrets=secrets)
    if isinstance(error, json.JSONDecodeError):
        return malformed(PROVIDER, describe_json_error(error, error.doc))
    if isinstance(error, httpx2.TimeoutException):
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"no response from {where} within the request timeout", provider=PROVIDER
        )
    if isinstance(error, httpx2.TransportError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            redact(f"connection to {where} failed: {type(error).__name__}: {error}", secrets),
            provider=PROVIDER,
        )
    return None


def retry_after_hint(error: Exception) -> float | None:
    """The wait a 429/503 response asked for (Retry-After), handed to the retry policy."""
    if isinstance(error, openai.APIStatusError):
        return retry_after_seconds(error.response.headers)
    return None


# --- the adapter --------------------------------------------------------------------------------


class OpenAIChatModel:
    """A `ChatModel` over the Chat Completions API of OpenAI or any OpenAI-compatible `base_url`.

    The SDK's own retries are off: `RetryPolicy` retries 429/5xx/connection failures, honouring
    Retry-After, but only until the first event has been passed on.
    """

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        *,
        request_timeout: float = 600.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        if not model.strip():
            raise ValueError("OpenAIChatModel: `model` must name a model, e.g. 'gpt-4o'")
        if not api_key:
            raise ValueError(
                "OpenAIChatModel: `api_key` is empty (a compatible server that needs no key accepts any placeholder)"
            )
        if request_timeout <= 0:
            raise ValueError(f"OpenAIChatModel: `request_timeout` must be positive, got {request_timeout}")
        self._model = model
        self._retry = retry
        self._secrets = (api_key,)
        self._where = redact(base_url, self._secrets) if base_url else "the OpenAI API"
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=request_timeout)
        self._warned_about_reasoning_effort = False

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model_name(self) -> str:
        return self._model

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        self._warn_if_reasoning_effort_dropped(request.settings)
        body = build_request_body(self._model, request)
        events = stream_with_retries(
            lambda: self._stream_once(body), self._classify, self._retry, retry_after=retry_after_hint
        )
        # closed here, not when garbage collected: a consumer that stops early releases the connection at once
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def aclose(self) -> None:
        await self._client.close()

    async def _stream_once(self, body: Mapping[str, Any]) -> AsyncIterator[ModelEvent]:
        # `post` sends `body` as it is (it is already the wire JSON) and raises status errors before the
        # stream starts; `chat.completions.create` would also walk the whole body through its typed-params
        # transform, which costs more per request than reading the stream.
        response = await self._client.post(CHAT_COMPLETIONS_PATH, body=body, cast_to=httpx2.Response, stream=True)
        reader = ChatCompletionStreamReader()
        try:
            async with contextlib.aclosing(read_chunks(response)) as chunks:
                async for chunk in chunks:
                    for event in reader.feed(chunk):
                        yield event
        finally:
            # also when the consumer stops early: the connection is released at once
            await response.aclose()
        for event in reader.finish():
            yield event

    def _classify(self, error: Exception) -> ProviderError | None:
        return classify_openai_error(error, where=self._where, secrets=self._secrets)

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
