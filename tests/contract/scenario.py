"""Provider-neutral scenarios for the ChatModel contract suite.

Each provider harness turns a `Scenario` into its provider's real wire format (OpenAI SSE chunks,
Anthropic message events, Gemini stream, Ollama NDJSON, Bedrock event-stream) served by a local fake
server, so the real SDK inside the adapter parses real bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from aura.domain.schema_profiles import SchemaProfile
from aura.ports.chat_model import ChatModel


@attrs.frozen
class StreamedToolCall:
    """A tool call whose JSON arguments arrive split into `argument_pieces` (joined = full JSON)."""

    id: str
    name: str
    argument_pieces: tuple[str, ...]


@attrs.frozen
class Response:
    """One successful streamed response."""

    text_chunks: tuple[str, ...] = ()
    reasoning_chunks: tuple[str, ...] = ()
    tool_calls: tuple[StreamedToolCall, ...] = ()
    prompt_tokens: int = 11
    completion_tokens: int = 7


@attrs.frozen
class HttpFailure:
    """The fake answers with this HTTP status and an error body in the provider's own shape."""

    status: int
    message: str = "scripted failure"


@attrs.frozen
class FailAfterFirstChunk:
    """Stream `response`'s first text chunk, then break: the provider's in-stream error event if it
    has one, else drop the connection."""

    response: Response
    status: int = 500


@attrs.frozen
class MalformedChunk:
    """Stream one chunk that is not valid for the provider's format (e.g. broken JSON)."""


Step = Response | HttpFailure | FailAfterFirstChunk | MalformedChunk


@attrs.frozen
class Scenario:
    """What the fake answers to consecutive requests (one step per HTTP request)."""

    steps: tuple[Step, ...]


class ProviderHarness(Protocol):
    """A fake provider server plus a factory for the adapter pointed at it."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def load(self, scenario: Scenario) -> None:
        """Set what the next requests get."""
        ...

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        """JSON bodies (decoded) of the requests the fake received, for asserting the mapping."""
        ...

    def make_model(self) -> ChatModel:
        """The adapter under test, pointed at the fake, with fast retries (tiny backoff)."""
        ...


# --- optional harness hooks --------------------------------------------------------------------
# A harness may define these; the suite falls back to the defaults below when it does not.


@attrs.frozen
class HarnessTraits:
    """What the suite must know about a provider's wire format. Expose it as a `traits` attribute."""

    reasoning_unsupported: str | None = None
    """Why the provider has no reasoning stream (the reasoning test is skipped with it); None: it has one."""
    tool_call_ids_preserved: bool = False
    """True when the wire format carries tool-call ids, so the adapter must hand them through unchanged."""
    api_key: str | None = None
    """The credential the adapter was given; the suite checks it never shows up in an error."""
    schema_profile: SchemaProfile | None = None
    """The tool-schema profile the adapter applies; the suite checks its requests carry it (required)."""
    in_process: str | None = None
    """Why HTTP failures (statuses, retries, malformed bytes) do not apply: the model runs in this process."""
    usage_counted_locally: str | None = None
    """Why usage is the adapter's own count rather than the scenario's figures (the suite checks its shape)."""
    one_tool_call_per_request: str | None = None
    """Why the model is asked for at most one tool call per request (the two-calls test is skipped with it)."""
    tool_schema_sent_with_call: str | None = None
    """Why a tool's schema reaches the model only in a request that calls the tool (llama.cpp: as the grammar of
    its arguments). `extract_request` gives the schema of the called tool, `{}` for the others; the suite checks
    schemas on requests that call each tool."""


@attrs.frozen
class SentToolCall:
    id: str | None
    name: str
    arguments: Mapping[str, object]


@attrs.frozen
class SentMessage:
    """One entry of a provider request, flattened: role `user`, `assistant` or `tool` (a tool result)."""

    role: str
    text: str = ""
    tool_calls: tuple[SentToolCall, ...] = ()
    tool_call_id: str | None = None


@attrs.frozen
class SentTool:
    name: str
    description: str
    parameters: Mapping[str, object]
    strict: bool = False
    """Whether the provider was asked to enforce the schema (OpenAI `"strict": true`)."""


@attrs.frozen
class SentRequest:
    """A provider request body reduced to what every provider must carry, in a provider-neutral shape."""

    system: str
    messages: tuple[SentMessage, ...]
    tools: tuple[SentTool, ...]
    temperature: float | None
    max_tokens: int | None = None
    """The output cap as sent (OpenAI `max_tokens`/`max_completion_tokens`, Anthropic `max_tokens`, Bedrock
    `maxTokens`, Gemini `maxOutputTokens`, Ollama `num_predict`)."""


class RequestExtractor(Protocol):
    """Optional harness hook: `extract_request(body)` decodes a recorded request body into a `SentRequest`."""

    def extract_request(self, body: Mapping[str, object]) -> SentRequest: ...
