"""What the adapter mapping tests share: fast retries, a hello request, and stream collectors with a time limit."""

from __future__ import annotations

import asyncio
import re

from aura.adapters.llm.retry import RetryPolicy
from aura.domain.errors import ProviderError
from aura.domain.events import ModelEvent
from aura.domain.messages import UserMessage
from aura.ports.chat_model import ChatModel, ChatRequest

TIMEOUT = 20.0
"""Only a bound for a broken adapter (a hang); a passing test never waits for it."""
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
SYNTHETIC_ID = re.compile(r"call_[0-9a-f]{24}")
HELLO = ChatRequest((UserMessage("hi"),))


async def collect(model: ChatModel, request: ChatRequest = HELLO) -> list[ModelEvent]:
    """Every event of one streamed answer; the model is closed afterwards."""
    try:
        async with asyncio.timeout(TIMEOUT):
            return [event async for event in model.stream(request)]
    finally:
        await model.aclose()


async def collect_until_error(model: ChatModel, request: ChatRequest = HELLO) -> tuple[list[ModelEvent], ProviderError]:
    """The events that arrived before the stream failed, and the failure; the model is closed afterwards."""
    seen: list[ModelEvent] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            async for event in model.stream(request):
                seen.append(event)
    except ProviderError as error:
        return seen, error
    finally:
        await model.aclose()
    raise AssertionError(f"the stream ended without an error after {seen}")
