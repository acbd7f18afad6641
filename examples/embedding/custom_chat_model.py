"""Embed Aura with your own model adapter: a tiny rule-based `ChatModel`, a Python tool, no TOML.

Any object with `provider`, `model_name`, `stream(request)` and `aclose()` is a `ChatModel`
(`aura.ChatModel`). This one never calls a network: when the user names a service it asks
for the `service_status` tool, and once the tool result is back it answers from it. Swap it for an
adapter over your in-house LLM gateway and everything else (the turn loop, tools, the HTTP server)
stays the same.

Run: `python examples/embedding/custom_chat_model.py "is checkout healthy?"`
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator

from aura import (
    Agent,
    AgentSettings,
    ChatModel,
    ChatRequest,
    FinishReason,
    FunctionToolset,
    ModelEvent,
    ModelFinished,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolCompleted,
    ToolRequested,
    ToolResultMessage,
    TurnFinished,
    Usage,
    UsageReported,
    UserMessage,
)

KNOWN_SERVICES = {
    "checkout": {"status": "degraded", "error_rate": 0.042, "p99_ms": 1840},
    "search": {"status": "healthy", "error_rate": 0.001, "p99_ms": 120},
    "payments": {"status": "healthy", "error_rate": 0.0, "p99_ms": 310},
}


class RuleBasedChatModel:
    """A `ChatModel` that follows two rules instead of sampling tokens.

    1. The last message is a tool result: summarise it (the turn then ends).
    2. The user names a known service and `service_status` is offered: call the tool.
    Otherwise it says what it can do. It reports rough usage (one token per word) like a real model.
    """

    @property
    def provider(self) -> str:
        return "rules"

    @property
    def model_name(self) -> str:
        return "service-status-v1"

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        last = request.messages[-1]
        offered = {tool.name for tool in request.tools}
        prompt_words = sum(len(str(getattr(message, "content", "")).split()) for message in request.messages)
        if isinstance(last, ToolResultMessage):
            answer = self._summarise(last)
            for word in answer.split(" "):  # stream word by word, as a provider would
                yield TextDelta(word + " ")
            yield UsageReported(Usage.of(prompt_words, len(answer.split())))
            yield ModelFinished(FinishReason.STOP)
            return
        service = self._service_in(last) if isinstance(last, UserMessage) else None
        if service is not None and "service_status" in offered:
            arguments = json.dumps({"service": service})
            yield ToolCallReady(ToolCall(id=f"call_{service}", name="service_status", arguments=arguments))
            yield UsageReported(Usage.of(prompt_words, 8))
            yield ModelFinished(FinishReason.TOOL_CALLS)
            return
        known = ", ".join(sorted(KNOWN_SERVICES))
        yield TextDelta(f"I can report the status of these services: {known}.")
        yield UsageReported(Usage.of(prompt_words, 10))
        yield ModelFinished(FinishReason.STOP)

    async def aclose(self) -> None:
        return None  # nothing to release: a real adapter closes its HTTP client here

    @staticmethod
    def _service_in(message: UserMessage) -> str | None:
        words = set(re.findall(r"[a-z]+", message.text.lower()))
        return next((name for name in KNOWN_SERVICES if name in words), None)

    @staticmethod
    def _summarise(result: ToolResultMessage) -> str:
        if result.is_error:
            return f"The status check failed: {result.content}"
        status = json.loads(result.content)
        return (
            f"{status['service']} is {status['status']}: error rate {status['error_rate']:.1%}, "
            f"p99 latency {status['p99_ms']} ms."
        )


def build_agent() -> Agent:
    """An agent from plain objects: settings, the custom model and a toolset of Python functions."""
    tools = FunctionToolset("status_page")

    @tools.tool  # the schema the model sees comes from the signature and the docstring
    def service_status(service: str) -> dict[str, object]:
        """Current status, error rate and p99 latency of one service.

        Args:
            service: Service name, e.g. checkout.
        """
        if service not in KNOWN_SERVICES:
            raise ValueError(f"unknown service {service!r}")
        return {"service": service, **KNOWN_SERVICES[service]}

    model: ChatModel = RuleBasedChatModel()  # a structural match: mypy checks it against the port
    settings = AgentSettings(
        name="Status Bot",
        alias="status",
        system_prompt="You report service health from the status page. Be brief.",
        turn_depth=2,
    )
    return Agent(settings, model, [tools])


async def main(question: str) -> int:
    final: TurnFinished | None = None
    async with build_agent() as agent:  # closes the model and the toolsets on the way out
        # `run_turn` streams every event of the turn; `agent.run(question)` returns just the last one.
        async for event in agent.run_turn(question):
            if isinstance(event, ToolRequested):
                print(f"tool requested: {event.call.name}({event.call.arguments})")
            elif isinstance(event, ToolCompleted):
                print(f"tool completed: {event.call.name} -> {event.result.content}")
            elif isinstance(event, TurnFinished):
                final = event
    assert final is not None
    if final.error is not None:
        print(f"error: {final.error.message}", file=sys.stderr)
        return 1
    print(f"model: {agent.model_string}")
    print(f"answer: {final.content.strip()}")
    if final.usage is not None:
        rounds = f"{final.rounds} round{'s' if final.rounds != 1 else ''}"
        print(f"usage: {final.usage.total_tokens} tokens in {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(" ".join(sys.argv[1:]) or "Is checkout healthy?")))
