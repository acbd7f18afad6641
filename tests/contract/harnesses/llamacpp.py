"""llama.cpp harness: the adapter runs the model in-process, so the fake is the `Llama` object itself.

`FakeLlama.create_chat_completion` answers like llama-cpp-python does: a whole completion (`stream=False`)
for the adapter's tool-calling decision, OpenAI-shaped chunk dicts (`stream=True`) for a streamed answer.
There is no HTTP, so HTTP failures do not apply (see `HarnessTraits.in_process`), tool-call ids are the
adapter's own, and usage is counted from the model's own tokens (one per streamed chunk, the prompt
through `tokenize`), not reported by a server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aura.adapters.llm.llamacpp import LlamaCppChatModel
from aura.domain.schema_profiles import LLAMA_CPP
from aura.ports.chat_model import ChatModel
from tests.contract.scenario import (
    FailAfterFirstChunk,
    HarnessTraits,
    ProviderHarness,
    Response,
    Scenario,
    SentMessage,
    SentRequest,
    SentTool,
    SentToolCall,
    Step,
)
from tests.contract.wire.arguments import joined_arguments


class FakeLlama:
    """Plays a scenario; one step per answer (a decision that turns into text does not use a step)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self._decided_text = False
        self._prompt_tokens = 0

    def create_chat_completion(self, *, stream: bool = False, **body: Any) -> Any:
        if not stream:
            self.requests.append(body)
            step = self.steps[0] if self.steps else Response()
            if isinstance(step, Response) and step.tool_calls:
                self.steps.pop(0)
                self._prompt_tokens = step.prompt_tokens
                return self._tool_call_completion(step)
            self._decided_text = True
            return {"choices": [{"message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}]}
        if not self._decided_text:
            self.requests.append(body)
        self._decided_text = False
        step = self.steps.pop(0) if self.steps else Response()
        return self._stream(step)

    def _tool_call_completion(self, step: Response) -> dict[str, Any]:
        calls = [
            {
                "id": f"call__{call.name}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(joined_arguments(call.argument_pieces))},
            }
            for index, call in enumerate(step.tool_calls)
        ]
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        return {"choices": [{"message": message, "finish_reason": "tool_calls"}]}

    def _stream(self, step: Step) -> Iterator[dict[str, Any]]:
        response = step.response if isinstance(step, FailAfterFirstChunk) else step
        assert isinstance(response, Response), f"an in-process model cannot play {type(step).__name__}"
        self._prompt_tokens = response.prompt_tokens
        for index, text in enumerate(response.text_chunks):
            yield {"choices": [{"delta": {"content": text}, "finish_reason": None}]}
            if isinstance(step, FailAfterFirstChunk) and index == 0:
                raise RuntimeError("scripted failure after the first chunk")
        for index, call in enumerate(response.tool_calls):  # a request without tools still gets streamed calls
            opening = {"index": index, "id": f"call__{call.name}_{index}", "function": {"name": call.name}}
            yield {"choices": [{"delta": {"tool_calls": [opening]}, "finish_reason": None}]}
            for piece in call.argument_pieces:
                fragment = {"index": index, "function": {"arguments": piece}}
                yield {"choices": [{"delta": {"tool_calls": [fragment]}, "finish_reason": None}]}
        finish = "tool_calls" if response.tool_calls else "stop"
        yield {"choices": [{"delta": {}, "finish_reason": finish}]}

    def tokenize(self, text: bytes, add_bos: bool = True) -> list[int]:
        return [0] * self._prompt_tokens

    def close(self) -> None:
        return None


class LlamaCppHarness:
    name = "llamacpp"
    traits = HarnessTraits(
        reasoning_unsupported="llama-cpp-python streams no separate reasoning channel",
        in_process="llama.cpp runs in this process: there is no HTTP status, retry or wire format to get wrong",
        usage_counted_locally="llama.cpp reports no usage; the adapter counts prompt and streamed tokens itself",
        schema_profile=LLAMA_CPP,
    )

    def __init__(self) -> None:
        self.llama = FakeLlama()
        self._directory = TemporaryDirectory()
        self._model_file = Path(self._directory.name) / "contract.gguf"
        self._model_file.write_bytes(b"GGUF")  # never loaded: the fake stands in for llama.cpp

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._directory.cleanup()

    def load(self, scenario: Scenario) -> None:
        self.llama.steps = list(scenario.steps)

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        return self.llama.requests

    def make_model(self) -> ChatModel:
        model = LlamaCppChatModel(model_path=str(self._model_file))
        model._llama = self.llama  # what `_load` would have built from the GGUF file
        return model

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        system: list[str] = []
        messages: list[SentMessage] = []
        for message in body["messages"]:
            role, content = message["role"], message.get("content") or ""
            if role == "system":
                system.append(content)
            elif role == "tool":
                messages.append(SentMessage("tool", content, tool_call_id=message.get("tool_call_id")))
            else:
                calls = tuple(
                    SentToolCall(call.get("id"), call["function"]["name"], json.loads(call["function"]["arguments"]))
                    for call in message.get("tool_calls") or ()
                )
                messages.append(SentMessage(role, content, calls))
        tools = tuple(
            SentTool(tool["function"]["name"], tool["function"]["description"], tool["function"]["parameters"])
            for tool in body.get("tools") or ()
        )
        return SentRequest("\n\n".join(system), tuple(messages), tools, body.get("temperature"))


def make_harness() -> ProviderHarness:
    return LlamaCppHarness()
