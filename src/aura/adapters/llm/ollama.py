"""Ollama through the `ollama` SDK's `AsyncClient` (`POST /api/chat`, NDJSON stream).

Choices worth knowing (see docs/ollama-guide.md):
- The request is built and sent here, over httpx (the SDK's own transport), rather than through
  `AsyncClient.chat`: the SDK validates tools into a pydantic model that silently drops schema keywords
  it does not know (nested `properties`, `anyOf`, `additionalProperties`, …), and its raw request helper
  is private. Each NDJSON line is read into the SDK's public `ollama.ChatResponse`, and failures are raised
  as its public `ollama.ResponseError`, exactly as the SDK does, so the error mapping is the SDK's.
- `options` is passed through as the request's `options` (the config merges `num_ctx`, `num_predict`,
  then `additional_params`); the agent's `temperature` is applied last when set. `think` and
  `keep_alive` are request fields in Ollama's API, not options, so they are lifted out of `options`.
  The output cap (the smaller of `agent.max_tokens` and the request's `max_tokens`) becomes `num_predict`;
  when `options` sets `num_predict` too, the smaller positive value is sent (a negative one means "no limit").
- Ollama sends complete tool calls without ids: each gets a synthetic `call_<24 hex>` id.
- `fallback_tool_parsing=True` recovers tool calls a model wrote as text with the domain's
  `StreamingToolCallDetector`: prose streams immediately, text that turns out to be a call to an
  offered tool is withheld and becomes `ToolCallReady`. A native tool call switches the fallback off
  for the rest of that response (the held-back text is then shown as it was).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import Any

import httpx
import ollama
import pydantic

from aura.adapters.llm._errors import kind_for_status, looks_like_context_overflow, malformed, redacted
from aura.adapters.llm._tool_arguments import arguments_object
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
from aura.domain.fallback_tool_parser import StreamingToolCallDetector, synthetic_tool_call_id
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
from aura.domain.schema_profiles import OLLAMA, OfferedTools, SchemaProfile, ToolSchemas
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

logger = logging.getLogger(__name__)

PROVIDER = "ollama"
DEFAULT_RETRY = RetryPolicy()
DEFAULT_BASE_URL = "http://localhost:11434"
REQUEST_FIELDS_IN_OPTIONS = ("think", "keep_alive")


class OllamaChatModel:
    """A model served by Ollama (local or remote)."""

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        fallback_tool_parsing: bool = False,
        options: Mapping[str, Any] | None = None,
        request_timeout: float = 600.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        schema_profile: SchemaProfile = OLLAMA,
    ) -> None:
        if not model:
            raise ValueError("OllamaChatModel: model must be a non-empty model name")
        self._model = model
        self._base_url = base_url or DEFAULT_BASE_URL
        self._fallback_tool_parsing = fallback_tool_parsing
        self._options = dict(options or {})
        self._retry = retry
        self._tool_schemas = ToolSchemas(schema_profile)
        # one SDK client per event loop: its pooled connections belong to the loop that opened them
        self._clients = PerEventLoop(lambda: _http_client(self._base_url, request_timeout), _close)

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def fallback_tool_parsing(self) -> bool:
        return self._fallback_tool_parsing

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        tools = self._tool_schemas.offer(request.tools)
        body = chat_body(self._model, request, self._options, tools)
        tool_names = [tool.spec.name for tool in tools.tools] if self._fallback_tool_parsing else []
        async for event in tools.restoring(
            stream_with_retries(lambda: self._attempt(body, tool_names), self._classify, self._retry)
        ):
            yield event

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def _attempt(self, body: Mapping[str, Any], fallback_tool_names: list[str]) -> AsyncIterator[ModelEvent]:
        client = await self._clients.get()
        async with client.stream("POST", "/api/chat", json=body) as response:
            if response.is_error:
                await response.aread()
                raise ollama.ResponseError(response.text, response.status_code)  # the SDK reads its `error`
            async with contextlib.aclosing(_chat_responses(response)) as parts:
                async for event in _events(parts, fallback_tool_names):
                    yield event

    def _classify(self, error: Exception) -> ProviderError | None:
        # The SDK sends OLLAMA_API_KEY (hosted Ollama) as a bearer token; never let it reach a message.
        return classify_error(error, self._base_url, (os.environ.get("OLLAMA_API_KEY", ""),))


async def _events(
    parts: AsyncIterator[ollama.ChatResponse], fallback_tool_names: list[str]
) -> AsyncIterator[ModelEvent]:
    detector = StreamingToolCallDetector(fallback_tool_names) if fallback_tool_names else None
    fed: list[str] = []  # everything given to the detector
    shown = 0  # how much of it the detector has released (always a prefix)
    native_calls = 0
    done_reason: str | None = None
    usage: Usage | None = None
    async for part in parts:
        message = part.message
        if message.thinking:
            yield ReasoningDelta(message.thinking)
        if message.content:
            if detector is None:
                yield TextDelta(message.content)
            else:
                fed.append(message.content)
                visible = detector.feed(message.content)
                shown += len(visible)
                if visible:
                    yield TextDelta(visible)
        if message.tool_calls:
            if detector is not None:
                held = "".join(fed)[shown:]
                detector = None
                if held:
                    yield TextDelta(held)
            for tool_call in message.tool_calls:
                native_calls += 1
                arguments = json.dumps(
                    dict(tool_call.function.arguments or {}), separators=(",", ":"), ensure_ascii=False
                )
                yield ToolCallReady(ToolCall(synthetic_tool_call_id(), tool_call.function.name, arguments))
        if part.done:
            done_reason = part.done_reason or "stop"
            usage = Usage.of(part.prompt_eval_count or 0, part.eval_count or 0)
    if done_reason is None:
        raise ProviderError(
            ProviderErrorKind.CONNECTION,
            "the response stream ended before the final `done` message",
            provider=PROVIDER,
            retryable=True,
        )
    parsed_calls = 0
    if detector is not None:
        held_back, calls = detector.finish()
        if held_back:
            yield TextDelta(held_back)
        for call in calls:
            parsed_calls += 1
            yield ToolCallReady(ToolCall(synthetic_tool_call_id(), call.name, call.arguments))
    if usage is not None:
        yield UsageReported(usage)
    if native_calls or parsed_calls:
        yield ModelFinished(FinishReason.TOOL_CALLS)
    else:
        yield ModelFinished(FinishReason.LENGTH if done_reason == "length" else FinishReason.STOP)


# --- request mapping ----------------------------------------------------------------------------


def chat_body(
    model: str, request: ChatRequest, options: Mapping[str, Any], tools: OfferedTools | None = None
) -> dict[str, Any]:
    """The `/api/chat` request body.

    `tools` are the request's tools in the adapter's schema profile (by default, Ollama's).
    """
    merged = dict(options)
    lifted = {key: merged.pop(key) for key in REQUEST_FIELDS_IN_OPTIONS if key in merged}
    cap = request.settings.max_tokens
    if cap is not None:
        configured = merged.get("num_predict")
        if not isinstance(configured, int) or isinstance(configured, bool) or configured < 0 or cap < configured:
            merged["num_predict"] = cap
    if request.settings.temperature is not None:
        merged["temperature"] = request.settings.temperature
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in request.messages], "stream": True}
    if request.tools:
        offered = tools if tools is not None else ToolSchemas(OLLAMA).offer(request.tools)
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.spec.name,
                    "description": tool.spec.description,
                    "parameters": tool.provider.schema,
                },
            }
            for tool in offered.tools
        ]
    if merged:
        body["options"] = merged
    body.update(lifted)
    return body


def _message(message: Message) -> dict[str, Any]:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        return _user_message(message.content)
    if isinstance(message, AssistantMessage):
        entry: dict[str, Any] = {"role": "assistant", "content": message.content}
        if message.reasoning:
            entry["thinking"] = message.reasoning
        if message.tool_calls:
            entry["tool_calls"] = [
                {"function": {"name": call.name, "arguments": arguments_object(call, PROVIDER)}}
                for call in message.tool_calls
            ]
        return entry
    assert isinstance(message, ToolResultMessage)
    return {"role": "tool", "content": message.content, "tool_name": message.tool_name}


def _user_message(content: str | tuple[TextPart | ImagePart, ...]) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "user", "content": content}
    text = "".join(part.text for part in content if isinstance(part, TextPart))
    images = [image for part in content if isinstance(part, ImagePart) if (image := _image_base64(part))]
    entry: dict[str, Any] = {"role": "user", "content": text}
    if images:
        entry["images"] = images
    return entry


def _image_base64(part: ImagePart) -> str | None:
    """Ollama takes raw base64 image data; a remote URL cannot be passed on and is skipped."""
    header, _, data = part.url.partition(",")
    if part.url.startswith("data:") and ";base64" in header and data:
        return data
    logger.warning("ollama: only base64 data: image URLs are supported; image skipped")
    return None


# --- errors -------------------------------------------------------------------------------------


def classify_error(
    error: Exception, base_url: str = DEFAULT_BASE_URL, secrets: Iterable[str] = ()
) -> ProviderError | None:
    """Map ollama / httpx failures to `ProviderError`s (secrets redacted); None for anything else."""
    return redacted(_classify(error, base_url), secrets, PROVIDER)


def _classify(error: Exception, base_url: str) -> ProviderError | None:
    if isinstance(error, ollama.ResponseError):
        return _response_error(error)
    if isinstance(error, json.JSONDecodeError | pydantic.ValidationError):
        return malformed(PROVIDER, f"a stream line is not a valid chat chunk ({_first_line(str(error))})")
    if isinstance(error, httpx.TimeoutException):
        return ProviderError(ProviderErrorKind.TIMEOUT, "request to Ollama timed out", provider=PROVIDER)
    if isinstance(error, httpx.ConnectError | ConnectionError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            f"cannot reach Ollama at {_safe_url(base_url)} (is `ollama serve` running?)",
            provider=PROVIDER,
        )
    if isinstance(error, httpx.TransportError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            f"connection to Ollama failed: {type(error).__name__}: {error}",
            provider=PROVIDER,
        )
    return None


def _response_error(error: ollama.ResponseError) -> ProviderError:
    message = " ".join(str(error.error).split()) or "request failed"
    if error.status_code <= 0:  # an `{"error": ...}` line inside a stream that had started
        kind = (
            ProviderErrorKind.CONTEXT_OVERFLOW
            if looks_like_context_overflow(message)
            else ProviderErrorKind.SERVER_ERROR
        )
        return ProviderError(kind, f"stream broken off by Ollama: {message}", provider=PROVIDER)
    status = error.status_code
    kind = kind_for_status(status, message)
    if kind is ProviderErrorKind.AUTHENTICATION:
        message = f"Ollama rejected the credentials (check OLLAMA_API_KEY for a hosted Ollama): {message}"
    elif status == 404 and "model" in message.lower():
        message = f"{message} (pull it first: `ollama pull <model>`)"
    return ProviderError(kind, message, provider=PROVIDER, status_code=status)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _safe_url(url: str) -> str:
    """The URL without any `user:password@` part."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    if not parsed.userinfo:
        return url
    return str(parsed.copy_with(username=None, password=None))


def _http_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    """The headers the SDK's client sends, OLLAMA_API_KEY (hosted Ollama) as a bearer token included."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    api_key = os.environ.get("OLLAMA_API_KEY")
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, follow_redirects=True, headers=headers)


async def _chat_responses(response: httpx.Response) -> AsyncGenerator[ollama.ChatResponse, None]:
    """The NDJSON lines of `/api/chat` as the SDK's chunks; an `{"error": ...}` line raises as the SDK does."""
    async for line in response.aiter_lines():
        if not line.strip():
            continue
        part = json.loads(line)
        if isinstance(part, dict) and (error := part.get("error")):
            raise ollama.ResponseError(error)
        yield ollama.ChatResponse.model_validate(part)


async def _close(client: httpx.AsyncClient) -> None:
    await client.aclose()
