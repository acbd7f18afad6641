"""Bedrock ConverseStream harness: the fake writes real AWS event-stream frames (with CRCs).

The adapter signs requests with dummy credentials set in the environment while the harness runs
(never a real key); shared config files are pointed at /dev/null so no local profile leaks in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.llm.bedrock import BedrockChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.schema_profiles import BEDROCK
from aura.ports.chat_model import ChatModel
from tests.contract.fake_server import FakeProviderServer
from tests.contract.scenario import (
    FailAfterFirstChunk,
    HarnessTraits,
    HttpFailure,
    MalformedChunk,
    ProviderHarness,
    Response,
    Scenario,
    SentMessage,
    SentRequest,
    SentTool,
    SentToolCall,
    Step,
)
from tests.contract.wire import eventstream

MODEL_ID = "us.anthropic.claude-test-v1:0"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
ACCESS_KEY_ID = "AKIAFAKEFAKEFAKEFAKE"
SECRET_ACCESS_KEY = "contract-bedrock-secret-5d1e07b9a4"
EXPECTED_AUTHORIZATION = f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/"
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    # No credential provider that could reach the network or a real identity may take part.
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
    "AWS_WEB_IDENTITY_TOKEN_FILE": None,
    "AWS_ROLE_ARN": None,
}

# HTTP status -> the error code Bedrock puts in `x-amzn-ErrorType`.
_HTTP_ERROR_CODES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
# HTTP status -> the in-stream exception event for a failure after the first byte.
_STREAM_EXCEPTIONS = {
    400: "validationException",
    429: "throttlingException",
    500: "internalServerException",
    503: "serviceUnavailableException",
}


def response_frames(response: Response, *, first_text_chunk_only: bool = False) -> list[bytes]:
    """The event-stream messages of one ConverseStream answer."""
    frames = [eventstream.event("messageStart", {"role": "assistant"})]
    index = 0
    if response.reasoning_chunks and not first_text_chunk_only:
        for chunk in response.reasoning_chunks:
            delta = {"reasoningContent": {"text": chunk}}
            frames.append(eventstream.event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        frames.append(eventstream.event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    text_chunks = response.text_chunks[:1] if first_text_chunk_only else response.text_chunks
    for chunk in text_chunks:
        frames.append(eventstream.event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": chunk}}))
    if first_text_chunk_only:
        return frames
    if text_chunks:
        frames.append(eventstream.event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    for call in response.tool_calls:
        start = {"toolUse": {"toolUseId": call.id, "name": call.name}}
        frames.append(eventstream.event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        for piece in call.argument_pieces:
            delta = {"toolUse": {"input": piece}}
            frames.append(eventstream.event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        frames.append(eventstream.event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    stop_reason = "tool_use" if response.tool_calls else "end_turn"
    frames.append(eventstream.event("messageStop", {"stopReason": stop_reason}))
    usage = {
        "inputTokens": response.prompt_tokens,
        "outputTokens": response.completion_tokens,
        "totalTokens": response.prompt_tokens + response.completion_tokens,
    }
    frames.append(eventstream.event("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}))
    return frames


class FakeBedrockServer(FakeProviderServer):
    """Answers `POST /model/{modelId}/converse-stream` like bedrock-runtime does."""

    paths = ("/model/{model_id}/converse-stream",)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        if not request.headers.get("Authorization", "").startswith(EXPECTED_AUTHORIZATION):
            return _error_response(403, "The security token included in the request is invalid.")
        if isinstance(step, HttpFailure):
            return _error_response(step.status, step.message)
        stream = web.StreamResponse(
            status=200,
            headers={"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": "fake-request-id"},
        )
        await stream.prepare(request)
        if isinstance(step, Response):
            frames = response_frames(step)
        elif isinstance(step, FailAfterFirstChunk):
            exception_type = _STREAM_EXCEPTIONS.get(step.status, "modelStreamErrorException")
            frames = [
                *response_frames(step.response, first_text_chunk_only=True),
                eventstream.exception(exception_type, "scripted failure after the first chunk"),
            ]
        else:
            assert isinstance(step, MalformedChunk)
            frames = [eventstream.corrupt(eventstream.event("messageStart", {"role": "assistant"}))]
        for frame in frames:
            await stream.write(frame)
        await stream.write_eof()
        return stream


def _error_response(status: int, message: str) -> web.Response:
    code = _HTTP_ERROR_CODES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode(),
        headers={
            "Content-Type": "application/json",
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": "fake-request-id",
        },
    )


class BedrockHarness:
    name = "bedrock"
    traits = HarnessTraits(tool_call_ids_preserved=True, api_key=SECRET_ACCESS_KEY, schema_profile=BEDROCK)

    def __init__(self) -> None:
        self.server = FakeBedrockServer()
        self._saved_env: dict[str, str | None] = {}

    async def start(self) -> None:
        for key, value in DUMMY_AWS_ENV.items():
            self._saved_env[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def load(self, scenario: Scenario) -> None:
        self.server.load(scenario)

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        return self.server.requests

    def make_model(self) -> ChatModel:
        return BedrockChatModel(
            MODEL_ID, "us-east-1", endpoint_url=self.server.base_url, request_timeout=10.0, retry=FAST_RETRY
        )

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        system = "\n\n".join(block["text"] for block in body.get("system", ()))
        messages: list[SentMessage] = []
        for message in body["messages"]:
            if message["role"] == "assistant":
                text = "".join(block.get("text", "") for block in message["content"])
                calls = tuple(
                    SentToolCall(block["toolUse"]["toolUseId"], block["toolUse"]["name"], block["toolUse"]["input"])
                    for block in message["content"]
                    if "toolUse" in block
                )
                messages.append(SentMessage("assistant", text, calls))
                continue
            text_blocks: list[str] = []
            for block in message["content"]:
                if "toolResult" in block:
                    result = block["toolResult"]
                    result_text = "".join(part.get("text", "") for part in result["content"])
                    messages.append(SentMessage("tool", result_text, tool_call_id=result["toolUseId"]))
                elif "text" in block:
                    text_blocks.append(block["text"])
            if text_blocks:
                messages.append(SentMessage("user", "".join(text_blocks)))
        tools = tuple(
            SentTool(spec["name"], spec.get("description", ""), spec["inputSchema"]["json"])
            for spec in (tool["toolSpec"] for tool in body.get("toolConfig", {}).get("tools", ()))
        )
        temperature = body.get("inferenceConfig", {}).get("temperature")
        max_tokens = body.get("inferenceConfig", {}).get("maxTokens")
        return SentRequest(system, tuple(messages), tools, temperature, max_tokens)


def make_harness() -> ProviderHarness:
    return BedrockHarness()
