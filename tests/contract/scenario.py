"""Provider-neutral scenarios for the ChatModel contract suite.

Each provider harness turns a `Scenario` into its provider's real wire format (OpenAI SSE chunks,
Anthropic message events, Gemini stream, Ollama NDJSON, Bedrock event-stream) served by a local fake
server, so the real SDK inside the adapter parses real bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

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
