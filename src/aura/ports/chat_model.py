"""The port every LLM provider adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import attrs

from aura.domain.events import ModelEvent
from aura.domain.messages import Message
from aura.domain.tools import ToolSpec


@attrs.frozen
class GenerationSettings:
    """Per-agent generation knobs; a provider ignores what its API does not support."""

    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None


@attrs.frozen
class ChatRequest:
    """One LLM call: the full message list (system first), the tools offered and the settings.

    `background` marks a request no person waits on (a chat UI's title, tags or follow-ups): a provider that queues
    requests for one model serves people's requests first.
    """

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    settings: GenerationSettings = GenerationSettings()
    background: bool = False


@runtime_checkable
class ChatModel(Protocol):
    """Streams one model response as `ModelEvent`s.

    Implementations assemble streamed tool-call fragments into complete `ToolCallReady` events,
    report usage when the provider gives it, end with `ModelFinished`, and raise
    `aura.domain.errors.ProviderError` for provider failures (retrying before the first event
    when that is safe).
    """

    @property
    def provider(self) -> str:
        """Provider tag, e.g. `openai`."""
        ...

    @property
    def model_name(self) -> str: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]: ...

    async def aclose(self) -> None: ...
