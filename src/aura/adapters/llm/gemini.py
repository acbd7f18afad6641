"""Google Gemini through google-genai (`client.aio.models.generate_content_stream`, SSE).

Choices worth knowing:
- `agent.max_tokens` is sent as `maxOutputTokens` (the reference ignored it; a cap the user set should cap).
- Gemini function calls carry no id (or an id only some models send): calls without one get a
  synthetic `call_<24 hex>` id, used for the `ToolCallReady` and its tool result; synthetic ids are not
  sent back to Gemini, which matches results to calls by name and order.
- Thinking models sign function calls (`thoughtSignature`) and Gemini 3+ rejects a replayed call
  without its signature. The adapter remembers the signatures it received, keyed by call id, and puts
  them back when the call reappears in the history; a replayed call whose signature is unknown gets
  Google's documented `skip_thought_signature_validator` sentinel (not for gemini-1.x / 2.x models).
- The SDK's own retries, automatic function calling and automatic continuation are off: the turn loop
  runs the tools and `aura.adapters.llm.retry` retries before the first event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from aura.adapters.llm._errors import kind_for_status, looks_like_context_overflow, malformed, redacted
from aura.adapters.llm._tool_arguments import arguments_object
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
from aura.domain.fallback_tool_parser import synthetic_tool_call_id
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
from aura.domain.schema_profiles import GEMINI, OfferedTool, OfferedTools, SchemaProfile, ToolSchemas
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

logger = logging.getLogger(__name__)

PROVIDER = "gemini"
DEFAULT_RETRY = RetryPolicy()
# The SDK base64url-encodes bytes fields, so these bytes go on the wire as the literal sentinel.
SKIP_SIGNATURE_SENTINEL = base64.urlsafe_b64decode("skip_thought_signature_validator")
_REMEMBERED_SIGNATURES = 4096

_FINISH_REASONS = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
}

# google.rpc status names; the HTTP status decides everything else.
_STATUS_KINDS = {
    "UNAUTHENTICATED": ProviderErrorKind.AUTHENTICATION,
    "PERMISSION_DENIED": ProviderErrorKind.AUTHENTICATION,
    "RESOURCE_EXHAUSTED": ProviderErrorKind.RATE_LIMITED,
    "DEADLINE_EXCEEDED": ProviderErrorKind.TIMEOUT,
    "UNAVAILABLE": ProviderErrorKind.SERVER_ERROR,
    "INTERNAL": ProviderErrorKind.SERVER_ERROR,
}


class GeminiChatModel:
    """A Gemini model via the Gemini Developer API (or any server speaking it at `base_url`)."""

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        *,
        request_timeout: float = 600.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        schema_profile: SchemaProfile = GEMINI,
    ) -> None:
        if not model:
            raise ValueError("GeminiChatModel: model must be a non-empty model name")
        if not api_key:
            raise ValueError("GeminiChatModel: api_key must be non-empty")
        self._model = model.removeprefix("models/")
        self._retry = retry
        http_options = types.HttpOptions(
            base_url=base_url or None,
            timeout=int(request_timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key, http_options=http_options)
        self._signatures: OrderedDict[str, bytes] = OrderedDict()
        self._secrets = (api_key,)
        self._tool_schemas = ToolSchemas(schema_profile)

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model_name(self) -> str:
        return self._model

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        contents = gemini_contents(request.messages, self._signature_for, self._needs_signature_sentinel)
        tools = self._tool_schemas.offer(request.tools)
        config = generation_config(request, tools)
        async for event in tools.restoring(
            stream_with_retries(
                lambda: self._attempt(contents, config), self._classify, self._retry, retry_after=_retry_after
            )
        ):
            yield event

    async def aclose(self) -> None:
        await self._client.aio.aclose()

    def _classify(self, error: Exception) -> ProviderError | None:
        return classify_error(error, self._secrets)

    def _signature_for(self, call_id: str) -> bytes | None:
        return self._signatures.get(call_id)

    def _remember_signature(self, call_id: str, signature: bytes) -> None:
        self._signatures[call_id] = signature
        self._signatures.move_to_end(call_id)
        while len(self._signatures) > _REMEMBERED_SIGNATURES:
            self._signatures.popitem(last=False)

    @property
    def _needs_signature_sentinel(self) -> bool:
        return not self._model.startswith(("gemini-1", "gemini-2"))

    async def _attempt(
        self, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> AsyncIterator[ModelEvent]:
        chunks = await self._client.aio.models.generate_content_stream(
            model=self._model, contents=contents, config=config
        )
        try:
            async for event in _events(chunks, self._remember_signature):
                yield event
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]


async def _events(
    chunks: AsyncIterator[types.GenerateContentResponse], remember: Callable[[str, bytes], None]
) -> AsyncIterator[ModelEvent]:
    finish_reason: str | None = None
    usage: Usage | None = None
    calls = 0
    async for chunk in chunks:
        for candidate in (chunk.candidates or [])[:1]:
            parts = candidate.content.parts if candidate.content else None
            for part in parts or []:
                if part.function_call is not None and part.function_call.name:
                    call = _tool_call(part.function_call)
                    if part.thought_signature:
                        remember(call.id, part.thought_signature)
                    calls += 1
                    yield ToolCallReady(call)
                elif part.text:
                    yield ReasoningDelta(part.text) if part.thought else TextDelta(part.text)
            if candidate.finish_reason is not None:
                finish_reason = _enum_name(candidate.finish_reason)
        if chunk.prompt_feedback is not None and chunk.prompt_feedback.block_reason is not None:
            reason = _enum_name(chunk.prompt_feedback.block_reason)
            raise ProviderError(
                ProviderErrorKind.BAD_REQUEST, f"the prompt was blocked by Gemini ({reason})", provider=PROVIDER
            )
        if chunk.usage_metadata is not None:
            usage = _usage(chunk.usage_metadata)
    if finish_reason is None:
        raise ProviderError(
            ProviderErrorKind.CONNECTION,
            "the response stream ended without a finish reason",
            provider=PROVIDER,
            retryable=True,
        )
    if usage is not None:
        yield UsageReported(usage)
    finish = _FINISH_REASONS.get(finish_reason, FinishReason.STOP)
    yield ModelFinished(FinishReason.TOOL_CALLS if calls else finish)


def _tool_call(function_call: types.FunctionCall) -> ToolCall:
    arguments = json.dumps(function_call.args or {}, separators=(",", ":"), ensure_ascii=False)
    return ToolCall(function_call.id or synthetic_tool_call_id(), function_call.name or "", arguments)


def _usage(metadata: types.GenerateContentResponseUsageMetadata) -> Usage:
    """Thinking tokens are billed as output, so they count as completion tokens."""
    prompt = (metadata.prompt_token_count or 0) + (metadata.tool_use_prompt_token_count or 0)
    completion = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return Usage(prompt, completion, metadata.total_token_count or prompt + completion)


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


# --- request mapping ----------------------------------------------------------------------------


def generation_config(request: ChatRequest, tools: OfferedTools | None = None) -> types.GenerateContentConfig:
    """System instruction, sampling settings and tools (max_tokens → maxOutputTokens).

    `tools` are the request's tools in the adapter's schema profile (by default, Gemini's), sent as
    `parametersJsonSchema`.
    """
    system = "\n\n".join(m.content for m in request.messages if isinstance(m, SystemMessage) and m.content)
    config = types.GenerateContentConfig(
        system_instruction=system or None,
        temperature=request.settings.temperature,
        max_output_tokens=request.settings.max_tokens,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        automatic_continuation=False,
    )
    if request.tools:
        offered = tools if tools is not None else ToolSchemas(GEMINI).offer(request.tools)
        config.tools = [types.Tool(function_declarations=[_function_declaration(tool) for tool in offered.tools])]
    return config


def _function_declaration(tool: OfferedTool) -> types.FunctionDeclaration:
    return types.FunctionDeclaration(
        name=tool.spec.name, description=tool.spec.description or None, parameters_json_schema=tool.provider.schema
    )


SignatureLookup = Callable[[str], bytes | None]
"""Finds the thought signature remembered for a call id."""


def gemini_contents(
    messages: tuple[Message, ...], signature_for: SignatureLookup, use_sentinel: bool
) -> list[types.Content]:
    """The history as Gemini contents; tool results are `functionResponse` parts of a user turn."""
    contents: list[types.Content] = []
    for message in messages:
        mapped = _content(message, signature_for, use_sentinel)
        if mapped is None or not mapped.parts:
            continue
        last = contents[-1] if contents else None
        if last is not None and last.role == mapped.role and last.parts is not None:
            last.parts.extend(mapped.parts)
        else:
            contents.append(mapped)
    return contents


def _content(message: Message, signature_for: SignatureLookup, use_sentinel: bool) -> types.Content | None:
    if isinstance(message, SystemMessage):
        return None
    if isinstance(message, UserMessage):
        return types.Content(role="user", parts=_user_parts(message.content))
    if isinstance(message, AssistantMessage):
        parts: list[types.Part] = []
        if message.content:
            parts.append(types.Part(text=message.content))
        for index, call in enumerate(message.tool_calls):
            signature = signature_for(call.id)
            if signature is None and index == 0 and use_sentinel:
                signature = SKIP_SIGNATURE_SENTINEL
            function_call = types.FunctionCall(
                name=call.name, args=arguments_object(call, PROVIDER), id=None if _is_synthetic(call.id) else call.id
            )
            parts.append(types.Part(function_call=function_call, thought_signature=signature))
        return types.Content(role="model", parts=parts)
    assert isinstance(message, ToolResultMessage)
    response = {"error": message.content} if message.is_error else {"output": message.content}
    function_response = types.FunctionResponse(
        name=message.tool_name,
        response=response,
        id=None if _is_synthetic(message.tool_call_id) else message.tool_call_id,
    )
    return types.Content(role="user", parts=[types.Part(function_response=function_response)])


def _is_synthetic(call_id: str) -> bool:
    hex_part = call_id.removeprefix("call_")
    return len(call_id) == 29 and call_id.startswith("call_") and all(c in "0123456789abcdef" for c in hex_part)


def _user_parts(content: str | tuple[TextPart | ImagePart, ...]) -> list[types.Part]:
    if isinstance(content, str):
        return [types.Part(text=content)] if content else []
    parts: list[types.Part] = []
    for item in content:
        if isinstance(item, TextPart):
            if item.text:
                parts.append(types.Part(text=item.text))
            continue
        image = _image_part(item)
        if image is not None:
            parts.append(image)
    return parts


def _image_part(image: ImagePart) -> types.Part | None:
    """Inline `data:` images; Gemini cannot fetch arbitrary web URLs, so those are skipped."""
    header, _, data = image.url.partition(",")
    if not image.url.startswith("data:") or ";base64" not in header or not data:
        logger.warning("gemini: only base64 data: image URLs are supported; image skipped")
        return None
    mime_type = image.media_type or header[5:].split(";")[0] or "image/png"
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        logger.warning("gemini: image data URL is not valid base64; image skipped")
        return None
    return types.Part(inline_data=types.Blob(mime_type=mime_type, data=raw))


# --- errors -------------------------------------------------------------------------------------


def classify_error(error: Exception, secrets: Iterable[str] = ()) -> ProviderError | None:
    """Map google-genai / aiohttp failures to `ProviderError`s (secrets redacted); None otherwise.

    google-genai's async client runs on aiohttp whenever aiohttp is installed (always, with Aura), so its
    transport failures are aiohttp's; httpx is only its fallback (tests/contract/test_gemini_transport_errors.py).
    """
    return redacted(_classify(error), secrets, PROVIDER)


def _classify(error: Exception) -> ProviderError | None:
    if isinstance(error, genai_errors.APIError):
        return _api_error(error)
    if isinstance(error, genai_errors.UnknownApiResponseError):
        return malformed(PROVIDER, "a stream chunk is not valid JSON")
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return ProviderError(ProviderErrorKind.TIMEOUT, "request to Gemini timed out", provider=PROVIDER)
    import aiohttp

    if isinstance(error, aiohttp.ServerTimeoutError):
        return ProviderError(ProviderErrorKind.TIMEOUT, "request to Gemini timed out", provider=PROVIDER)
    if isinstance(error, aiohttp.ClientError):
        return ProviderError(
            ProviderErrorKind.CONNECTION,
            f"connection to Gemini failed: {type(error).__name__}: {error}",
            provider=PROVIDER,
        )
    return None


def _api_error(error: genai_errors.APIError) -> ProviderError:
    status = error.code if isinstance(error.code, int) and error.code > 0 else None
    message = " ".join(str(error.message or error.status or "request failed").split())
    kind = _STATUS_KINDS.get(str(error.status or "").upper())
    if kind is None:
        kind = kind_for_status(status, message) if status is not None else ProviderErrorKind.SERVER_ERROR
    if kind is ProviderErrorKind.BAD_REQUEST and (looks_like_context_overflow(message) or status == 413):
        kind = ProviderErrorKind.CONTEXT_OVERFLOW
    if kind is ProviderErrorKind.BAD_REQUEST and "api key not valid" in message.lower():
        kind = ProviderErrorKind.AUTHENTICATION  # Gemini answers a wrong key with 400 INVALID_ARGUMENT
    if kind is ProviderErrorKind.AUTHENTICATION:
        message = f"Gemini rejected the credentials (check the configured API key): {message}"
    return ProviderError(kind, message, provider=PROVIDER, status_code=status)


def _retry_after(error: Exception) -> float | None:
    """The `RetryInfo.retryDelay` ("2s") Gemini attaches to a 429, if any."""
    details = getattr(error, "details", None)
    if not isinstance(details, dict):
        return None
    for detail in details.get("error", {}).get("details", []) or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None
