"""AWS Bedrock through the Converse streaming API (`bedrock-runtime` `ConverseStream`, via aioboto3).

Credentials come from the standard AWS chain (environment, shared files, SSO, instance roles) or the
named `profile`; Aura never sees a key. Bedrock needs strictly alternating user/assistant turns and
carries tool results inside user turns, so the history is merged accordingly. Botocore's own retries
are switched off: `aura.adapters.llm.retry` owns retrying, and only before the first event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from aura.adapters.aws_client import LazyAwsClient
from aura.adapters.llm._errors import (
    kind_for_status,
    looks_like_context_overflow,
    malformed,
    redacted,
    retry_after_seconds,
)
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
from aura.domain.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    UserMessage,
)
from aura.domain.schema_profiles import BEDROCK, OfferedTool, OfferedTools, SchemaProfile, ToolSchemas
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

logger = logging.getLogger(__name__)

PROVIDER = "bedrock"
DEFAULT_RETRY = RetryPolicy()

_STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "tool_use": FinishReason.TOOL_CALLS,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "guardrail_intervened": FinishReason.STOP,
    "content_filtered": FinishReason.STOP,
}

# Error codes are compared lower-cased: HTTP errors say `ThrottlingException`, stream events
# say `throttlingException`.
_ERROR_KINDS = {
    "throttlingexception": ProviderErrorKind.RATE_LIMITED,
    "toomanyrequestsexception": ProviderErrorKind.RATE_LIMITED,
    "servicequotaexceededexception": ProviderErrorKind.RATE_LIMITED,
    "internalserverexception": ProviderErrorKind.SERVER_ERROR,
    "serviceunavailableexception": ProviderErrorKind.SERVER_ERROR,
    "modelstreamerrorexception": ProviderErrorKind.SERVER_ERROR,
    "modelnotreadyexception": ProviderErrorKind.SERVER_ERROR,
    "modelerrorexception": ProviderErrorKind.SERVER_ERROR,
    "modeltimeoutexception": ProviderErrorKind.TIMEOUT,
    "validationexception": ProviderErrorKind.BAD_REQUEST,
    "resourcenotfoundexception": ProviderErrorKind.BAD_REQUEST,
    "accessdeniedexception": ProviderErrorKind.AUTHENTICATION,
    "unrecognizedclientexception": ProviderErrorKind.AUTHENTICATION,
    "invalidsignatureexception": ProviderErrorKind.AUTHENTICATION,
    "expiredtokenexception": ProviderErrorKind.AUTHENTICATION,
    "incompletesignatureexception": ProviderErrorKind.AUTHENTICATION,
}

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


class BedrockChatModel:
    """A Bedrock model (`model` is a model id or inference profile id, e.g. `us.anthropic.claude-…`)."""

    def __init__(
        self,
        model: str,
        region: str,
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        request_timeout: float = 600.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        schema_profile: SchemaProfile = BEDROCK,
    ) -> None:
        if not model:
            raise ValueError("BedrockChatModel: model must be a non-empty model id")
        self._model = model
        self._retry = retry
        self._tool_schemas = ToolSchemas(schema_profile)
        self._secrets: tuple[str, ...] = ()
        self._client = LazyAwsClient(
            "bedrock-runtime",
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            request_timeout=request_timeout,
            connect_timeout=60.0,
        )

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model_name(self) -> str:
        return self._model

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        tools = self._tool_schemas.offer(request.tools)
        params = converse_params(self._model, request, tools)
        async for event in tools.restoring(
            stream_with_retries(lambda: self._attempt(params), self._classify, self._retry, retry_after=_retry_after)
        ):
            yield event

    async def aclose(self) -> None:
        await self._client.aclose()

    def _classify(self, error: Exception) -> ProviderError | None:
        return classify_error(error, self._secrets)

    async def _bedrock_client(self) -> Any:
        """One client per model instance: creating one loads the service model, which is slow."""
        client = await self._client.get()
        if not self._secrets and self._client.session is not None:
            self._secrets = await _credential_secrets(self._client.session)
        return client

    async def _attempt(self, params: Mapping[str, Any]) -> AsyncIterator[ModelEvent]:
        client = await self._bedrock_client()
        response = await client.converse_stream(**params)
        event_stream = response["stream"]
        try:
            async for event in _events(event_stream):
                yield event
        finally:
            event_stream.close()


async def _credential_secrets(session: Any) -> tuple[str, ...]:
    """The resolved secret key and session token, so no error message can ever echo them."""
    credentials = await session.get_credentials()
    if credentials is None:
        return ()
    frozen = await credentials.get_frozen_credentials()
    return tuple(secret for secret in (frozen.secret_key, frozen.token) if secret)


async def _events(event_stream: Any) -> AsyncIterator[ModelEvent]:
    """Translate ConverseStream events; tool calls are complete at their block's `contentBlockStop`."""
    tool_blocks: dict[int, _ToolBlock] = {}
    emitted_calls = 0
    stop_reason: str | None = None
    usage: Usage | None = None
    async for event in event_stream:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool_use = start.get("start", {}).get("toolUse")
            if tool_use is not None:
                tool_blocks[start.get("contentBlockIndex", 0)] = _ToolBlock(tool_use["toolUseId"], tool_use["name"])
        elif "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta", {})
            if delta.get("text"):
                yield TextDelta(delta["text"])
            elif "toolUse" in delta:
                index = block.get("contentBlockIndex", 0)
                if index not in tool_blocks:
                    raise ProviderError(
                        ProviderErrorKind.MALFORMED_RESPONSE,
                        f"tool input delta for content block {index} that never started",
                        provider=PROVIDER,
                    )
                tool_blocks[index].input_pieces.append(delta["toolUse"].get("input", ""))
            elif "reasoningContent" in delta:
                reasoning_text = delta["reasoningContent"].get("text")
                if reasoning_text:
                    yield ReasoningDelta(reasoning_text)
        elif "contentBlockStop" in event:
            finished = tool_blocks.pop(event["contentBlockStop"].get("contentBlockIndex", 0), None)
            if finished is not None:
                emitted_calls += 1
                yield ToolCallReady(finished.call())
        elif "messageStop" in event:
            stop_reason = event["messageStop"].get("stopReason", "end_turn")
        elif "metadata" in event:
            reported = event["metadata"].get("usage")
            if reported:
                usage = Usage(
                    reported.get("inputTokens", 0),
                    reported.get("outputTokens", 0),
                    reported.get("totalTokens", reported.get("inputTokens", 0) + reported.get("outputTokens", 0)),
                )
    if stop_reason is None:
        raise ProviderError(
            ProviderErrorKind.CONNECTION,
            "the response stream ended before messageStop",
            provider=PROVIDER,
            retryable=True,
        )
    for _, leftover in sorted(tool_blocks.items()):  # a block the stream never closed is still a call
        emitted_calls += 1
        yield ToolCallReady(leftover.call())
    if usage is not None:
        yield UsageReported(usage)
    finish = _STOP_REASONS.get(stop_reason, FinishReason.STOP)
    yield ModelFinished(FinishReason.TOOL_CALLS if emitted_calls else finish)


class _ToolBlock:
    __slots__ = ("input_pieces", "name", "tool_use_id")

    def __init__(self, tool_use_id: str, name: str) -> None:
        self.tool_use_id = tool_use_id
        self.name = name
        self.input_pieces: list[str] = []

    def call(self) -> ToolCall:
        return ToolCall(self.tool_use_id, self.name, "".join(self.input_pieces) or "{}")


# --- request mapping ----------------------------------------------------------------------------


def converse_params(model: str, request: ChatRequest, tools: OfferedTools | None = None) -> dict[str, Any]:
    """The keyword arguments of `converse_stream` for one request.

    `tools` are the request's tools in the adapter's schema profile (by default, Bedrock's JSON Schema).
    """
    system = [
        {"text": message.content}
        for message in request.messages
        if isinstance(message, SystemMessage) and message.content.strip()
    ]
    params: dict[str, Any] = {"modelId": model, "messages": converse_messages(request.messages)}
    if system:
        params["system"] = system
    inference: dict[str, Any] = {}
    if request.settings.max_tokens is not None:
        inference["maxTokens"] = request.settings.max_tokens
    if request.settings.temperature is not None:
        inference["temperature"] = request.settings.temperature
    if inference:
        params["inferenceConfig"] = inference
    if request.tools:
        offered = tools if tools is not None else ToolSchemas(BEDROCK).offer(request.tools)
        params["toolConfig"] = {"tools": [_tool(tool) for tool in offered.tools]}
    return params


def _tool(tool: OfferedTool) -> dict[str, Any]:
    spec = tool.spec
    tool_spec: dict[str, Any] = {"name": spec.name, "inputSchema": {"json": tool.provider.schema}}
    if spec.description.strip():
        tool_spec["description"] = spec.description
    return {"toolSpec": tool_spec}


def converse_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """History as Converse messages: tool results ride in user turns, same-role turns are merged."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        mapped = _message(message)
        if mapped is None or not mapped["content"]:
            continue
        if merged and merged[-1]["role"] == mapped["role"]:
            merged[-1]["content"].extend(mapped["content"])
        else:
            merged.append(mapped)
    return merged


def _message(message: Message) -> dict[str, Any] | None:
    if isinstance(message, SystemMessage):
        return None
    if isinstance(message, UserMessage):
        return {"role": "user", "content": _user_content(message.content)}
    if isinstance(message, AssistantMessage):
        content: list[dict[str, Any]] = []
        if message.content.strip():
            content.append({"text": message.content})
        content.extend(
            {"toolUse": {"toolUseId": call.id, "name": call.name, "input": arguments_object(call, PROVIDER)}}
            for call in message.tool_calls
        )
        return {"role": "assistant", "content": content}
    result = {
        "toolUseId": message.tool_call_id,
        "content": [{"text": message.content or "(no output)"}],
        "status": "error" if message.is_error else "success",
    }
    return {"role": "user", "content": [{"toolResult": result}]}


def _user_content(content: str | tuple[TextPart | ImagePart, ...]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            if part.text.strip():
                blocks.append({"text": part.text})
            continue
        image = _image_block(part)
        if image is not None:
            blocks.append(image)
    return blocks


def _image_block(part: ImagePart) -> dict[str, Any] | None:
    """Converse takes image bytes only; a `data:` URL is decoded, a remote URL is skipped."""
    if not part.url.startswith("data:") or "," not in part.url:
        logger.warning("bedrock: image URLs are not supported by Converse, only data: URLs; image skipped")
        return None
    header, _, data = part.url.partition(",")
    media_type = (part.media_type or header[5:].split(";")[0]).lower()
    image_format = _IMAGE_FORMATS.get(media_type)
    if image_format is None or ";base64" not in header:
        logger.warning("bedrock: unsupported image data URL (%s); image skipped", media_type or "no media type")
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        logger.warning("bedrock: image data URL is not valid base64; image skipped")
        return None
    return {"image": {"format": image_format, "source": {"bytes": raw}}}


# --- errors -------------------------------------------------------------------------------------


def classify_error(error: Exception, secrets: Iterable[str] = ()) -> ProviderError | None:
    """Map botocore / aiohttp failures to `ProviderError`s (secrets redacted); None for anything else."""
    return redacted(_classify(error), secrets, PROVIDER)


def _classify(error: Exception) -> ProviderError | None:
    from botocore import exceptions as botocore_errors
    from botocore.eventstream import ParserError
    from botocore.parsers import ResponseParserError

    if isinstance(error, botocore_errors.ClientError):
        return _client_error(error)
    if isinstance(error, ParserError | ResponseParserError):
        return malformed(PROVIDER, f"unreadable event stream ({error})")
    if isinstance(error, botocore_errors.NoCredentialsError | botocore_errors.PartialCredentialsError):
        return ProviderError(
            ProviderErrorKind.AUTHENTICATION,
            "no AWS credentials found (configure a profile, environment credentials or an instance role)",
            provider=PROVIDER,
        )
    credential_failures = (
        botocore_errors.ProfileNotFound,
        botocore_errors.CredentialRetrievalError,
        botocore_errors.UnknownCredentialError,
        botocore_errors.TokenRetrievalError,
        botocore_errors.NoAuthTokenError,
        botocore_errors.SSOError,
    )
    if isinstance(error, credential_failures):
        return ProviderError(ProviderErrorKind.AUTHENTICATION, f"AWS credentials: {error}", provider=PROVIDER)
    if isinstance(error, botocore_errors.ConnectTimeoutError | botocore_errors.ReadTimeoutError):
        return ProviderError(ProviderErrorKind.TIMEOUT, "request to Bedrock timed out", provider=PROVIDER)
    if isinstance(error, botocore_errors.EndpointConnectionError | botocore_errors.ConnectionClosedError):
        return ProviderError(ProviderErrorKind.CONNECTION, f"cannot reach Bedrock: {error}", provider=PROVIDER)
    if isinstance(error, botocore_errors.HTTPClientError):
        return ProviderError(ProviderErrorKind.CONNECTION, f"connection to Bedrock failed: {error}", provider=PROVIDER)
    if isinstance(error, botocore_errors.BotoCoreError):
        return ProviderError(ProviderErrorKind.BAD_REQUEST, str(error), provider=PROVIDER)
    import aiohttp

    if isinstance(error, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        return ProviderError(ProviderErrorKind.CONNECTION, f"Bedrock stream broke: {error}", provider=PROVIDER)
    if isinstance(error, asyncio.TimeoutError):
        return ProviderError(ProviderErrorKind.TIMEOUT, "request to Bedrock timed out", provider=PROVIDER)
    return None


def _client_error(error: Any) -> ProviderError:
    details = error.response.get("Error", {})
    code = str(details.get("Code", "") or "")
    message = str(details.get("Message", "") or "") or code or "request failed"
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    kind = _ERROR_KINDS.get(code.lower())
    if kind is None:
        kind = kind_for_status(status, message) if isinstance(status, int) else ProviderErrorKind.SERVER_ERROR
    if kind is ProviderErrorKind.BAD_REQUEST and looks_like_context_overflow(message):
        kind = ProviderErrorKind.CONTEXT_OVERFLOW
    label = f"{code}: {message}" if code and code not in message else message
    if kind is ProviderErrorKind.AUTHENTICATION:
        label = f"AWS rejected the credentials or their permissions (check the profile / credential chain): {label}"
    return ProviderError(kind, label, provider=PROVIDER, status_code=status if isinstance(status, int) else None)


def _retry_after(error: Exception) -> float | None:
    """Seconds from a `Retry-After` header of a throttled request, when Bedrock sends one."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    return retry_after_seconds(response.get("ResponseMetadata", {}).get("HTTPHeaders"))
