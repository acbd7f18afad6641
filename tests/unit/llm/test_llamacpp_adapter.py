"""The llama.cpp adapter with a scripted `Llama` (the contract harness's fake, no model file read).

The adapter's own loading, prompt rendering, grammars, streaming worker and model slot run for real; only what
llama.cpp writes for each call is scripted: the native-mode decision, a tool's arguments, or the free text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from aura.adapters.llm.llamacpp import LlamaCppChatModel, ModelSlot  # noqa: E402
from aura.domain.events import (  # noqa: E402
    FinishReason,
    ModelEvent,
    ModelFinished,
    ModelStatus,
    TextDelta,
    ToolCallReady,
)
from aura.domain.messages import SystemMessage, UserMessage  # noqa: E402
from aura.domain.tools import ToolSpec  # noqa: E402
from aura.ports.chat_model import ChatRequest, GenerationSettings  # noqa: E402
from tests.contract.harnesses.llamacpp import _DECISION, FakeLlama, RecordingGrammar  # noqa: E402

NO_ARGS = {"type": "object", "properties": {}, "additionalProperties": False}
TOOLS = (
    ToolSpec(
        "disk_usage",
        "Used and free space of the filesystem holding a path.",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    ),
    ToolSpec("memory_usage", "Memory and swap totals.", NO_ARGS),
)


class ScriptedLlama(FakeLlama):
    """Writes `decision` under the decision grammar, `arguments` under a tool's schema, `text` otherwise."""

    def __init__(
        self,
        decision: str = "message:",
        text: tuple[str, ...] = (),
        arguments: tuple[str, ...] = (),
        tool_only_decision: str = "",
    ) -> None:
        super().__init__()
        self.decision, self.text, self.arguments = decision, text, arguments
        self.tool_only_decision = tool_only_decision
        self.calls: list[dict[str, Any]] = []
        self.written: list[str] = []  # every piece handed to the adapter

    def _answer(self, prompt: str, gbnf: str | None, call: dict[str, Any]) -> tuple[list[str], bool]:
        self.calls.append(call)
        if gbnf is not None and _DECISION.match(gbnf):
            return [self.decision], False
        if gbnf is not None and gbnf.startswith('root ::= "functions.'):  # a decision among tools only
            return [self.tool_only_decision], False
        return list(self.arguments if gbnf is not None else self.text), False

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for piece in super()._stream(*args, **kwargs):
            self.written.append(piece["choices"][0]["text"])
            yield piece


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "scripted.gguf"
    path.write_bytes(b"GGUF")  # never read: `Llama` is the fake
    return path


async def run(llama: ScriptedLlama, gguf: Path, request: ChatRequest, max_tools_offered: int = 0) -> list[ModelEvent]:
    model = LlamaCppChatModel(model_path=str(gguf), max_tools_offered=max_tools_offered)
    with (
        mock.patch.object(llama_cpp, "Llama", llama.load),
        mock.patch.object(llama_cpp.llama_grammar, "LlamaGrammar", RecordingGrammar),
    ):
        events = [event async for event in model.stream(request)]
    run.rescued = model.rescued_calls  # type: ignore[attr-defined]
    return events


def ask(question: str) -> ChatRequest:
    return ChatRequest((SystemMessage("Be brief."), UserMessage(question)), TOOLS, GenerationSettings(0.2, 64))


def text_of(events: list[ModelEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


async def test_a_call_written_as_the_message_becomes_a_tool_call_under_the_schema(gguf: Path) -> None:
    llama = ScriptedLlama(
        text=("functions", ".memory", "_usage", ":\n", '{"', 'path": "/"}', "\nMemory is fine", ", 12 GiB free."),
        arguments=("{", "}"),
    )
    events = await run(llama, gguf, ask("How much memory is free?"))
    assert text_of(events) == ""  # the raw call never reaches the client
    [ready] = [event for event in events if isinstance(event, ToolCallReady)]
    assert (ready.call.name, json.loads(ready.call.arguments)) == ("memory_usage", {})
    assert events[-1] == ModelFinished(FinishReason.TOOL_CALLS)
    assert run.rescued == 1  # type: ignore[attr-defined]
    _decision, _answer, arguments = llama.calls
    assert arguments["json_schema"] is not None
    assert json.loads(arguments["json_schema"])["properties"] == {}
    assert arguments["prompt"].endswith("functions.memory_usage:\n")
    assert "Memory is fine" not in "".join(llama.written)  # generation stopped once the call was complete


async def test_a_written_call_with_arguments_the_schema_needs(gguf: Path) -> None:
    llama = ScriptedLlama(text=('disk_usage: {"path": "/"}',), arguments=('{"path": ', '"/"}'))
    events = await run(llama, gguf, ask("How full is the root disk?"))
    [ready] = [event for event in events if isinstance(event, ToolCallReady)]
    assert (ready.call.name, json.loads(ready.call.arguments)) == ("disk_usage", {"path": "/"})
    assert text_of(events) == ""


async def test_a_written_call_whose_arguments_never_close_is_still_the_call(gguf: Path) -> None:
    # as SmolLM2 wrote it in a quickstart: the taught format, then a path that runs on until max_tokens
    garbage = ('{"path": "/sys/devices/memory/0x00000000', ".000000000000", ", 10.0.0.0") * 10
    llama = ScriptedLlama(text=("functions.memory_usage:\n", *garbage), arguments=("{}",))
    events = await run(llama, gguf, ask("How much memory is free?"))
    assert text_of(events) == ""
    [ready] = [event for event in events if isinstance(event, ToolCallReady)]
    assert (ready.call.name, ready.call.arguments) == ("memory_usage", "{}")
    assert "".join(llama.written).count("0x00000000") == 1  # stopped as soon as the tool was known


async def test_a_written_call_to_a_tool_the_grammar_did_not_offer_chooses_again_among_the_offered(
    gguf: Path,
) -> None:
    # "How full is the root disk?" offers only disk_usage (max_tools_offered=1); the model writes memory_usage.
    llama = ScriptedLlama(
        text=("functions.memory_usage:\n", '{"path": "/"}'),
        tool_only_decision="functions.disk_usage:",
        arguments=('{"path": "/"}',),
    )
    events = await run(llama, gguf, ask("How full is the root disk?"), max_tools_offered=1)
    assert text_of(events) == ""
    [ready] = [event for event in events if isinstance(event, ToolCallReady)]
    assert (ready.call.name, json.loads(ready.call.arguments)) == ("disk_usage", {"path": "/"})
    decision, _answer, again, arguments = llama.calls
    assert decision["grammar"] == 'root ::= "message:" | "functions.disk_usage:"\n'
    assert again["grammar"] == 'root ::= "functions.disk_usage:"\n'  # no `message:` this time
    assert arguments["prompt"].endswith("functions.disk_usage:\n")
    assert run.rescued == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "pieces",
    [
        ("Use ", "disk_usage", " to see it: ", "93% used."),  # mentions a tool
        ("functions", ".reboot_host", ":\n", "{}"),  # not an offered tool
        ("disk", "_usage", ": 93% ", "used."),  # a heading
    ],
)
async def test_prose_and_unknown_tools_stay_text(gguf: Path, pieces: tuple[str, ...]) -> None:
    llama = ScriptedLlama(text=pieces)
    events = await run(llama, gguf, ask("How full is the root disk?"))
    assert text_of(events) == "".join(pieces)
    assert not any(isinstance(event, ToolCallReady) for event in events)
    assert events[-1] == ModelFinished(FinishReason.STOP)
    assert run.rescued == 0  # type: ignore[attr-defined]
    assert len(llama.calls) == 2  # the decision and the answer: no arguments asked for


async def test_prose_streams_before_the_answer_ends(gguf: Path) -> None:
    llama = ScriptedLlama(text=("The ", "root ", "disk ", "is ", "fine."))
    events = await run(llama, gguf, ask("How full is the root disk?"))
    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert deltas[0] == "The "  # released at once: it cannot be a call
    assert len(deltas) == 5


async def test_a_native_call_is_unchanged(gguf: Path) -> None:
    llama = ScriptedLlama(decision="functions.disk_usage:", arguments=('{"path": "/var"}',))
    events = await run(llama, gguf, ask("Is /var full?"))
    [ready] = [event for event in events if isinstance(event, ToolCallReady)]
    assert json.loads(ready.call.arguments) == {"path": "/var"}
    assert run.rescued == 0  # type: ignore[attr-defined]


# --- the model slot: users before background requests ----------------------------------------------------------


async def wait_until(condition: Any) -> None:
    """Let the other tasks run until `condition` holds (they need a few loop turns to queue up)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_user_request_goes_before_a_background_request_that_queued_first(gguf: Path) -> None:
    llama = ScriptedLlama(text=("OK",))
    model = LlamaCppChatModel(model_path=str(gguf))
    served: list[str] = []
    statuses: dict[str, list[str]] = {}

    async def ask_plain(question: str, background: bool) -> None:
        request = ChatRequest((UserMessage(question),), background=background)
        stream: AsyncIterator[ModelEvent] = model.stream(request)
        async for event in stream:
            if isinstance(event, ModelStatus):
                statuses.setdefault(question, []).append(event.state)
                if event.state in ("loading", "started"):
                    served.append(question)

    with (
        mock.patch.object(llama_cpp, "Llama", llama.load),
        mock.patch.object(llama_cpp.llama_grammar, "LlamaGrammar", RecordingGrammar),
    ):
        await model._slot.acquire()  # another request holds the model
        title = asyncio.create_task(ask_plain("### Task: title", True))
        await wait_until(lambda: model._slot.waiting() == 1)
        user = asyncio.create_task(ask_plain("Hello", False))
        await wait_until(lambda: model._slot.waiting() == 2)
        model._slot.release()
        await asyncio.gather(title, user)
    assert served == ["Hello", "### Task: title"]
    assert statuses["Hello"][0] == statuses["### Task: title"][0] == "queued"
    assert [request["prompt"].split("user\n")[1].split("<|im_end|>")[0] for request in llama.calls] == [
        "Hello",
        "### Task: title",
    ]
    assert not model._slot.busy


async def test_the_slot_serves_users_first_then_background_each_in_arrival_order() -> None:
    slot = ModelSlot()
    await slot.acquire(background=True)  # a background request runs: it is not interrupted
    order: list[str] = []

    async def take(name: str, background: bool) -> None:
        await slot.acquire(background=background)
        order.append(name)
        await asyncio.sleep(0)
        slot.release()

    tasks: list[asyncio.Task[None]] = []
    for name, background in (("bg1", True), ("user1", False), ("bg2", True), ("user2", False)):
        tasks.append(asyncio.create_task(take(name, background)))
        queued = len(tasks)
        await wait_until(lambda: slot.waiting() == queued)  # noqa: B023 (awaited here, in this iteration)
    assert (slot.waiting(background=False), slot.waiting(background=True)) == (2, 2)
    slot.release()
    await asyncio.gather(*tasks)
    assert order == ["user1", "user2", "bg1", "bg2"]
    assert not slot.busy


async def test_a_cancelled_waiter_does_not_keep_the_slot() -> None:
    slot = ModelSlot()
    await slot.acquire()
    gone = asyncio.create_task(slot.acquire())
    await wait_until(lambda: slot.waiting() == 1)
    after = asyncio.create_task(slot.acquire(background=True))
    await wait_until(lambda: slot.waiting() == 2)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    slot.release()
    await after  # served: the cancelled waiter was skipped
    assert slot.busy
    slot.release()
    assert not slot.busy


async def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    slot = ModelSlot()
    await slot.acquire()
    first = asyncio.create_task(slot.acquire())
    await wait_until(lambda: slot.waiting() == 1)
    second = asyncio.create_task(slot.acquire())
    await wait_until(lambda: slot.waiting() == 2)
    slot.release()  # hands the slot to `first`, whose task has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert slot.busy
    slot.release()
    assert not slot.busy
