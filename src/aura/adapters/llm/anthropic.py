"""Anthropic Messages API as a `ChatModel` (streamed with `messages.create(stream=True)`).

Mapping:
- System messages become the top-level `system` text; tool results become `tool_result` blocks in a user
  message, and consecutive messages of one role are merged (Anthropic wants tool results of one round in
  one user message, and roles to alternate).
- `max_tokens` is required by the API: the agent's value, else `default_max_tokens` (8192).
- `temperature` goes in the JSON body directly: the installed SDK no longer lists it as a parameter, the
  API still takes it.
- `reasoning_effort` is not an Anthropic parameter and is ignored (no equivalent knob); extended thinking is
  not enabled, but thinking deltas a server sends are surfaced as `ReasoningDelta`.

Usage is reported at `message_stop`: prompt tokens = input + cache-creation + cache-read tokens (all three
are tokens of this prompt), completion tokens = the final `output_tokens`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anthropic
import attrs
import httpx2

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
)
from aura.domain.schema_profiles import ANTHROPIC, OfferedTool, OfferedTools, SchemaProfile, ToolSchemas
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

logger = logging.getLogger(__name__)

PROVIDER = "anthropic"
DEFAULT_MAX_TOKENS = 8192
DEFAULT_RETRY = RetryPolicy()

_FINISH_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "refusal": FinishReason.STOP,
    "tool_use": FinishReason.TOOL_CALLS,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
}
_DATA_URL = re.compile(r"^data:(?P<media_type>[^;,]+);base64,(?P<data>.*)$", re.DOTALL)


# --- request mapping ----------------------------------------------------------------------------


def build_request_body(
    model: str,
    request: ChatRequest,
    *,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    tools: OfferedTools | None = None,
) -> dict[str, Any]:
    """The Messages API JSON body for one streamed call, exactly as it goes on the wire.

    `tools` are the request's tools in the adapter's schema profile (by default, Anthropic's).
    """
    settings = request.settings
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": settings.max_tokens if settings.max_tokens is not None else default_max_tokens,
        "messages": messages_to_anthropic(request.messages),
        "stream": True,
    }
    system = "\n\n".join(message.content for message in request.messages if isinstance(message, SystemMessage))
    if system:
        body["system"] = system
    if request.tools:
        offered = tools if tools is not None else ToolSchemas(ANTHROPIC).offer(request.tools)
        body["tools"] = [tool_to_anthropic(tool) for tool in offered.tools]
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    return body


def messages_to_anthropic(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation without system messages, with consecutive same-role messages merged into one."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        converted = _message_to_anthropic(message)
        if converted is None:
            continue
        role, blocks = converted
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] = _as_blocks(merged[-1]["content"]) + _as_blocks(blocks)
        else:
            merged.append({"role": role, "content": blocks})
    return merged


def _message_to_anthropic(message: Message) -> tuple[str, str | list[dict[str, Any]]] | None:
    if isinstance(message, SystemMessage):
        return None
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return "user", message.content
        return "user", [_part_to_anthropic(part) for part in message.content]
    if isinstance(message, AssistantMessage):
        blocks: list[dict[str, Any]] = []
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        blocks.extend(_tool_use_block(call) for call in message.tool_calls)
        return ("assistant", blocks) if blocks else None  # the API rejects an empty assistant turn
    if isinstance(message, ToolResultMessage):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
        if message.is_error:
            block["is_error"] = True
        return "user", [block]
    raise TypeError(f"cannot send a {type(message).__name__} to Anthropic")


def _tool_use_block(call: ToolCall) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        arguments = None
    # `input` must be an object; a call whose arguments were not one already got an error result the
    # model will read, so an empty input keeps the history valid without hiding anything.
    return {
        "type": "tool_use",
        "id": call.id,
        "name": call.name,
        "input": arguments if isinstance(arguments, dict) else {},
    }


def _part_to_anthropic(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url.startswith("data:"):
        match = _DATA_URL.match(part.url)
        if match is None:
            raise ProviderError(
                ProviderErrorKind.BAD_REQUEST,
                "an image part has a data: URL that is not base64 (expected data:<media type>;base64,<data>)",
                provider=PROVIDER,
            )
        media_type = part.media_type or match["media_type"]
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": match["data"]}}
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def tool_to_anthropic(tool: OfferedTool) -> dict[str, Any]:
    return {"name": tool.spec.name, "description": tool.spec.description, "input_schema": tool.provider.schema}


# --- stream mapping -----------------------------------------------------------------------------


@attrs.define
class _Block:
    kind: str
    tool_id: str = ""
    tool_name: str = ""
    initial_input: object = None
    json_pieces: list[str] = attrs.field(factory=list)
    stopped: bool = False


@attrs.define
class MessageStreamReader:
    """Turns decoded Messages API stream events into `ModelEvent`s.

    Text and thinking deltas pass straight through; a `tool_use` block's `input_json_delta` fragments are
    joined and emitted as one `ToolCallReady` when the block stops. Usage and the finish reason follow
    `message_stop`; a stream that ends without it was cut off.
    """

    provider: str = PROVIDER
    _blocks: dict[int, _Block] = attrs.field(factory=dict)
    _prompt_tokens: dict[str, int] = attrs.field(factory=dict)
    _output_tokens: int | None = None
    _stop_reason: str | None = None
    _stopped: bool = False

    def feed(self, event: object) -> list[ModelEvent]:
        if not isinstance(event, Mapping):
            raise malformed(self.provider, f"a stream event is a JSON {type(event).__name__}, not an object")
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if not isinstance(message, Mapping):
                raise malformed(self.provider, "`message_start` has no `message` object")
            self._read_usage(message.get("usage"))
            return []
        if kind == "content_block_start":
            return self._start_block(event)
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_stop":
            return self._stop_block(event)
        if kind == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, Mapping) and isinstance(delta.get("stop_reason"), str):
                self._stop_reason = delta["stop_reason"]
            self._read_usage(event.get("usage"))
            return []
        if kind == "message_stop":
            self._stopped = True
            return []
        if kind == "error":
            raise stream_error(self.provider, event, secrets=())
        return []  # ping and event types added after this adapter was written

    def finish(self) -> list[ModelEvent]:
        """The events after the stream ended: usage and the finish reason."""
        if not self._stopped:
            raise ProviderError(
                ProviderErrorKind.CONNECTION,
                "the stream ended before `message_stop` (connection cut off?)",
                provider=self.provider,
            )
        events: list[ModelEvent] = []
        for index in sorted(self._blocks):  # tool blocks the server never closed
            block = self._blocks[index]
            if block.kind == "tool_use" and not block.stopped:
                events.extend(self._stop_block({"index": index}))
        if self._prompt_tokens or self._output_tokens is not None:
            events.append(UsageReported(Usage.of(sum(self._prompt_tokens.values()), self._output_tokens or 0)))
        reason = _FINISH_REASONS.get(self._stop_reason or "", FinishReason.STOP)
        events.append(ModelFinished(reason))
        return events

    def _start_block(self, event: Mapping[str, Any]) -> list[ModelEvent]:
        index = self._index(event)
        block = event.get("content_block")
        if not isinstance(block, Mapping):
            raise malformed(self.provider, "`content_block_start` has no `content_block` object")
        kind = block.get("type")
        if not isinstance(kind, str):
            raise malformed(self.provider, "a content block has no `type`")
        if kind == "tool_use":
            tool_id, name = block.get("id"), block.get("name")
            if not isinstance(tool_id, str) or not isinstance(name, str) or not name:
                raise malformed(self.provider, f"tool_use block #{index} lacks an `id` or `name`")
            self._blocks[index] = _Block(kind, tool_id, name, block.get("input"))
            return []
        self._blocks[index] = _Block(kind)
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return [TextDelta(block["text"])]
        if kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            return [ReasoningDelta(block["thinking"])]
        return []

    def _delta(self, event: Mapping[str, Any]) -> list[ModelEvent]:
        index = self._index(event)
        delta = event.get("delta")
        if not isinstance(delta, Mapping):
            raise malformed(self.provider, "`content_block_delta` has no `delta` object")
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(self._string(delta, "text"))] if delta.get("text") else []
        if kind == "thinking_delta":
            return [ReasoningDelta(self._string(delta, "thinking"))] if delta.get("thinking") else []
        if kind == "input_json_delta":
            block = self._blocks.get(index)
            if block is None or block.kind != "tool_use":
                raise malformed(self.provider, f"input_json_delta for block #{index}, which is not a tool_use block")
            block.json_pieces.append(self._string(delta, "partial_json"))
        return []  # signature and citation deltas carry nothing the domain shows

    def _stop_block(self, event: Mapping[str, Any]) -> list[ModelEvent]:
        block = self._blocks.get(self._index(event))
        if block is None or block.stopped:
            return []
        block.stopped = True
        if block.kind != "tool_use":
            return []
        arguments = "".join(block.json_pieces).strip()
        if not arguments:
            initial = block.initial_input
            arguments = json.dumps(initial) if isinstance(initial, dict) and initial else "{}"
        return [ToolCallReady(ToolCall(block.tool_id, block.tool_name, arguments))]

    def _read_usage(self, usage: object) -> None:
        if usage is None:
            return
        if not isinstance(usage, Mapping):
            raise malformed(self.provider, "`usage` is not an object")
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"):
            value = usage.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise malformed(self.provider, f"usage `{key}` is not a non-negative integer")
            if key == "output_tokens":
                self._output_tokens = value  # cumulative: the last report wins
            else:
                self._prompt_tokens[key] = value

    def _index(self, event: Mapping[str, Any]) -> int:
        index = event.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise malformed(self.provider, f"`{event.get('type')}` has no integer `index`")
        return index

    def _string(self, delta: Mapping[str, Any], key: str) -> str:
        value = delta.get(key)
        if not isinstance(value, str):
            raise malformed(self.provider, f"a `{delta.get('type')}` has no string `{key}`")
        return value


# --- errors -------------------------------------------------------------------------------------


def classify_anthropic_error(error: Exception, *, where: str, secrets: Sequence[str] = ()) -> ProviderError | None:
    """Map an `anthropic` SDK (or transport/decoding) failure to a `ProviderError`; None for anything else."""
    if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ProviderError(
            ProviderErrorKind.TIMEOUT, f"no response from {where} within the request timeout", provider=PROVIDER
        )
    if isinstance(error, anthropic.APIConnectionError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            redact(f"connection to {where} failed: {describe_cause(error)}", secrets),
            provider=PROVIDER,
        )
    if isinstance(error, httpx2.TransportError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            redact(f"connection to {where} failed: {type(error).__name__}: {error}", secrets),
            provider=PROVIDER,
        )
    if isinstance(error, anthropic.APIResponseValidationError):
        return malformed(PROVIDER, "the response does not match the Messages API schema")
    if isinstance(error, anthropic.APIStatusError):
        if error.status_code < 400:  # an `event: error` inside a stream that started with 200
            return stream_error(PROVIDER, error.body, secrets=secrets)
        return status_error(
            PROVIDER, error.status_code, error.body, secrets=secrets, fallback=f"HTTP {error.status_code}"
        )
    if isinstance(error, anthropic.APIError):
        return stream_error(PROVIDER, error.body, secrets=secrets)
    if isinstance(error, json.JSONDecodeError):
        return malformed(PROVIDER, describe_json_error(error, error.doc))
    return None


def retry_after_hint(error: Exception) -> float | None:
    """The wait a 429/503 response asked for (Retry-After), handed to the retry policy."""
    if isinstance(error, anthropic.APIStatusError) and error.status_code >= 400:
        return retry_after_seconds(error.response.headers)
    return None


def _as_json(event: object) -> object:
    """The event as the plain JSON the server sent (the SDK builds models without validating them)."""
    if isinstance(event, anthropic.BaseModel):
        return event.model_dump(mode="json", exclude_unset=True, warnings=False)
    return event


# --- the adapter --------------------------------------------------------------------------------


class AnthropicChatModel:
    """A `ChatModel` over Anthropic's Messages API (or a compatible `base_url`).

    The SDK's own retries are off: `RetryPolicy` retries 429/5xx/overloaded/connection failures,
    honouring Retry-After, but only until the first event has been passed on.
    """

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        *,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        request_timeout: float = 600.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        schema_profile: SchemaProfile = ANTHROPIC,
    ) -> None:
        if not model.strip():
            raise ValueError("AnthropicChatModel: `model` must name a model, e.g. 'claude-sonnet-4-5'")
        if not api_key:
            raise ValueError("AnthropicChatModel: `api_key` is empty")
        if default_max_tokens <= 0:
            raise ValueError(f"AnthropicChatModel: `default_max_tokens` must be positive, got {default_max_tokens}")
        if request_timeout <= 0:
            raise ValueError(f"AnthropicChatModel: `request_timeout` must be positive, got {request_timeout}")
        self._model = model
        self._default_max_tokens = default_max_tokens
        self._retry = retry
        self._secrets = (api_key,)
        self._where = redact(base_url, self._secrets) if base_url else "the Anthropic API"
        self._tool_schemas = ToolSchemas(schema_profile)

        # one SDK client per event loop: its pooled connections belong to the loop that opened them
        def new_client() -> anthropic.AsyncAnthropic:
            return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=request_timeout)

        self._clients = PerEventLoop(new_client, anthropic.AsyncAnthropic.close)

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model_name(self) -> str:
        return self._model

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        tools = self._tool_schemas.offer(request.tools)
        body = build_request_body(self._model, request, default_max_tokens=self._default_max_tokens, tools=tools)
        events = tools.restoring(
            stream_with_retries(
                lambda: self._stream_once(body), self._classify, self._retry, retry_after=retry_after_hint
            )
        )
        async for event in events:
            yield event

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def _stream_once(self, body: Mapping[str, Any]) -> AsyncIterator[ModelEvent]:
        omit = anthropic.omit
        client = await self._clients.get()
        stream = await client.messages.create(
            model=body["model"],
            max_tokens=body["max_tokens"],
            messages=body["messages"],
            stream=True,
            system=body.get("system", omit),
            tools=body.get("tools", omit),
            extra_body={"temperature": body["temperature"]} if "temperature" in body else None,
        )
        reader = MessageStreamReader()
        try:
            async for event in stream:
                for model_event in reader.feed(_as_json(event)):
                    yield model_event
        finally:
            await stream.close()
        for model_event in reader.finish():
            yield model_event

    def _classify(self, error: Exception) -> ProviderError | None:
        return classify_anthropic_error(error, where=self._where, secrets=self._secrets)
