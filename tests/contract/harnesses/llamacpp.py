"""llama.cpp harness: the adapter runs the model in-process, so the fake is llama-cpp-python's `Llama` itself.

The adapter's own `_load` builds the model: while the harness runs, `llama_cpp.Llama` is `FakeLlama`, which has
what the adapter reads of a real one: the GGUF `metadata` (a chat template), the special tokens
(`token_bos`/`token_eos`, `_model.token_get_text`), `tokenize`/`detokenize` (bytes, special tokens kept whole),
the kept context (`_input_ids`, `n_tokens`) and a streamed `create_completion` that honours `max_tokens` and the
adapter's `stopping_criteria` between tokens. So the adapter's real prompt rendering, grammar choice and parsing
run; the fake reads the prompt back (detokenized) and answers each llama.cpp call as a grammar-bound model would:

- under the decision grammar (`message:` | `functions.<tool>:`) it names the scenario's first tool call, or
  `message:`; a call to a tool the grammar does not offer is a scenario error (a bound model cannot write it);
- under a tool's JSON-schema grammar it writes the call's argument pieces, one token each;
- unconstrained, it streams the text chunks (after a tool call that ended up unmade, `<tool_call>` tags, as a
  model taught the fallback format writes them).

One scenario step is one request of the adapter (its decision, arguments or answer calls together). A recorded
request is the rendered prompt plus every llama.cpp call made for it (prompt, grammar, the JSON schema the grammar
was built from, max_tokens, temperature); `extract_request` reads the system prompt, messages and tool list back
out of the prompt text, in the adapter's own format.

There is no HTTP, so HTTP failures do not apply (`in_process`); tool-call ids are the adapter's own; usage is
the adapter's count of tokens; the native mode asks for one call per request; and a tool's schema reaches
llama.cpp only as the grammar of a call to it (see the traits).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from unittest import mock

import llama_cpp
import llama_cpp.llama_grammar
import numpy as np

from aura.adapters.llm.llamacpp import MAX_STRING_ARGUMENT_CHARS, LlamaCppChatModel
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

BOS, IM_START, IM_END = "<s>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (BOS, IM_START, IM_END)  # token ids 0, 1, 2; every byte b is token 3 + b
_BYTE_OFFSET = len(SPECIAL_TOKENS)
_SPECIAL = re.compile("|".join(re.escape(token) for token in SPECIAL_TOKENS))
# ChatML with a BOS token, as a GGUF's `tokenizer.chat_template` (not the adapter's own ChatML fallback).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_DECISION = re.compile(r'^root ::= "message:"')
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TOOL_LINE = re.compile(r"^- ([^(]+)\((.*?)\): (.*)$")
_CALL_LINE = re.compile(r"^functions\.([^:\s]+):\n(.*)$", re.MULTILINE)
_RESULT = re.compile(r"^Result of ([^:]+): (.*)$", re.DOTALL)
_FAILED = re.compile(r"^The tool (\S+) failed: (.*)$", re.DOTALL)
_NUDGE = re.compile(r'^Answer ".*" in one or two sentences, quoting the figures above\.$', re.DOTALL)
_TOOLS_HEADING = "Tools you can call:\n"


class RecordingGrammar(llama_cpp.llama_grammar.LlamaGrammar):
    """llama-cpp-python's grammar, remembering the JSON schema it was built from (the GBNF alone hides it)."""

    json_schema: str | None = None

    @classmethod
    def from_json_schema(cls, json_schema: str, verbose: bool = True) -> RecordingGrammar:
        grammar = cls.from_string(llama_cpp.llama_grammar.json_schema_to_gbnf(json_schema), verbose=verbose)
        assert isinstance(grammar, RecordingGrammar)
        grammar.json_schema = json_schema
        return grammar


class FakeVocabulary:
    """`Llama._model`: the adapter reads the special tokens' text from it."""

    def token_get_text(self, token: int) -> str:
        return SPECIAL_TOKENS[token] if 0 <= token < _BYTE_OFFSET else bytes([token - _BYTE_OFFSET]).decode("latin-1")


class FakeLlama:
    """Plays a scenario, one step per request of the adapter (see the module docstring)."""

    def __init__(self) -> None:
        self.metadata = {"general.architecture": "llama", "tokenizer.chat_template": CHAT_TEMPLATE}
        self._model = FakeVocabulary()
        self._input_ids: list[int] = []
        self.n_tokens = 0
        self.steps: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self.loads: list[dict[str, Any]] = []
        self.closed = False
        self._pending: Step | None = None  # the step of a request whose decision was made, awaiting the next call

    # --- what `Llama(...)` and the vocabulary give ---------------------------------------------------------------

    def load(self, **kwargs: Any) -> FakeLlama:
        """Stands in for `Llama(model_path=..., n_ctx=..., ...)`."""
        assert Path(kwargs["model_path"]).is_file()
        self.loads.append(kwargs)
        self.closed = False
        return self

    def token_bos(self) -> int:
        return 0

    def token_eos(self) -> int:
        return 2

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        tokens = [0] if add_bos else []
        decoded = text.decode("utf-8")
        parts = _SPECIAL.split(decoded) if special else [decoded]
        specials = _SPECIAL.findall(decoded) if special else []
        for index, part in enumerate(parts):
            tokens.extend(_BYTE_OFFSET + byte for byte in part.encode("utf-8"))
            if index < len(specials):
                tokens.append(SPECIAL_TOKENS.index(specials[index]))
        return tokens

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        return b"".join(
            (SPECIAL_TOKENS[t].encode() if special else b"") if t < _BYTE_OFFSET else bytes([t - _BYTE_OFFSET])
            for t in tokens
        )

    def close(self) -> None:
        self.closed = True

    # --- generation -------------------------------------------------------------------------------------------------

    def create_completion(
        self,
        prompt: str | list[int],
        *,
        stream: bool = False,
        max_tokens: int | None = 16,
        temperature: float = 0.8,
        stop: str | list[str] | None = None,
        grammar: llama_cpp.llama_grammar.LlamaGrammar | None = None,
        stopping_criteria: llama_cpp.StoppingCriteriaList | None = None,
        **_: Any,
    ) -> Iterator[dict[str, Any]]:
        assert stream, "the adapter streams every llama.cpp call"
        tokens = self.tokenize(prompt.encode(), add_bos=False, special=True) if isinstance(prompt, str) else prompt
        text = self.detokenize(tokens, special=True).decode("utf-8")
        gbnf = grammar._grammar if grammar is not None else None
        call = {
            "prompt": text,
            "grammar": gbnf,
            "json_schema": getattr(grammar, "json_schema", None),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": stop,
        }
        pieces, failure = self._answer(text, gbnf, call)
        return self._stream(list(tokens), pieces, failure, max_tokens, stopping_criteria)

    def _answer(self, prompt: str, gbnf: str | None, call: dict[str, Any]) -> tuple[list[str], bool]:
        """The tokens the model writes for one call, and whether it then fails."""
        if gbnf is not None and _DECISION.match(gbnf):  # a request starts with the decision
            step = self._new_request(prompt, call)
            choices = [bytes(m, "utf-8").decode("unicode_escape") for m in _LITERAL.findall(gbnf)]
            response = step.response if isinstance(step, FailAfterFirstChunk) else step
            assert isinstance(response, Response)
            if response.tool_calls:
                name = response.tool_calls[0].name
                assert f"functions.{name}:" in choices, f"the grammar offers {choices}, not a call to {name}"
                self._pending = step
                return ["functions", ".", name, ":"], False
            self._pending = step
            return ["message", ":"], False
        if self._pending is not None:  # a call of the request the decision started
            self.requests[-1]["calls"].append(call)
        if gbnf is not None:  # a tool's arguments, under its schema
            step, self._pending = self._pending, None
            assert isinstance(step, Response), "arguments asked for without a decided call"
            assert step.tool_calls, "arguments asked for after `message:`"
            first = step.tool_calls[0]
            assert prompt.endswith(f"functions.{first.name}:\n"), "the arguments prompt names another tool"
            return list(first.argument_pieces), False
        if self._pending is not None:  # the answer after `message:`
            step, self._pending = self._pending, None
            assert prompt.endswith("message:\n"), "an answer after `message:` continues from it"
        else:
            step = self._new_request(prompt, call)
        failing = isinstance(step, FailAfterFirstChunk)
        response = step.response if isinstance(step, FailAfterFirstChunk) else step
        assert isinstance(response, Response), f"an in-process model cannot play {type(step).__name__}"
        tags = [
            f'<tool_call>{{"name": "{c.name}", "arguments": {json.dumps(joined_arguments(c.argument_pieces))}}}'
            "</tool_call>"
            for c in response.tool_calls
        ]
        return [*response.text_chunks, *tags], failing

    def _new_request(self, prompt: str, call: dict[str, Any]) -> Step:
        assert self._pending is None, "a request started before the last one finished"
        self.requests.append({"prompt": prompt, "calls": [call]})
        return self.steps.pop(0) if self.steps else Response()

    def _stream(
        self,
        tokens: list[int],
        pieces: list[str],
        failure: bool,
        max_tokens: int | None,
        stopping_criteria: llama_cpp.StoppingCriteriaList | None,
    ) -> Iterator[dict[str, Any]]:
        self._input_ids, self.n_tokens = list(tokens), len(tokens)
        finish = "stop"
        for index, piece in enumerate(pieces):
            if max_tokens is not None and 0 < max_tokens <= index:
                finish = "length"
                break
            self._input_ids += self.tokenize(piece.encode(), add_bos=False)
            self.n_tokens = len(self._input_ids)
            if stopping_criteria is not None and stopping_criteria(
                np.array(self._input_ids, dtype=np.intc), np.zeros(1, dtype=np.single)
            ):
                break
            yield {"object": "text_completion", "choices": [{"text": piece, "index": 0, "finish_reason": None}]}
            if failure and index == 0:
                raise RuntimeError("llama_decode returned -1 (scripted failure after the first token)")
        yield {"object": "text_completion", "choices": [{"text": "", "index": 0, "finish_reason": finish}]}


def _unbounded(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without the length bound the adapter adds to string arguments for a small model."""

    def strip(node: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        if isinstance(node.get("anyOf"), list):
            return {**node, "anyOf": [strip(option) for option in node["anyOf"]]}
        if node.get("maxLength") == MAX_STRING_ARGUMENT_CHARS:
            return {key: value for key, value in node.items() if key != "maxLength"}
        return dict(node)

    out = dict(schema)
    if isinstance(schema.get("properties"), Mapping):
        out["properties"] = {name: strip(prop) for name, prop in schema["properties"].items()}
    return out


def _turns(prompt: str) -> list[tuple[str, str]]:
    """(role, content) of each complete turn of a ChatML prompt."""
    turns = []
    for chunk in prompt.removeprefix(BOS).split(IM_START)[1:]:
        role, _, rest = chunk.partition("\n")
        if IM_END in rest:
            turns.append((role, rest.split(IM_END)[0]))
    return turns


class LlamaCppHarness:
    name = "llamacpp"
    traits = HarnessTraits(
        reasoning_unsupported="the adapter streams no separate reasoning channel from llama.cpp",
        in_process="llama.cpp runs in this process: there is no HTTP status, retry or wire format to get wrong",
        usage_counted_locally="llama.cpp reports no usage; the adapter counts prompt and generated tokens itself",
        schema_profile=LLAMA_CPP,
        one_tool_call_per_request="the native mode's grammar lets the model choose one tool per request",
        tool_schema_sent_with_call="llama.cpp gets a tool's schema as the grammar of a call's arguments; "
        "the prompt lists each tool's signature and description",
    )

    def __init__(self) -> None:
        self.llama = FakeLlama()
        self._directory = TemporaryDirectory()
        self._model_file = Path(self._directory.name) / "contract.gguf"
        self._model_file.write_bytes(b"GGUF")  # never read: `Llama` is the fake while the harness runs
        self._patches = [
            mock.patch.object(llama_cpp, "Llama", self.llama.load),
            mock.patch.object(llama_cpp.llama_grammar, "LlamaGrammar", RecordingGrammar),
        ]

    async def start(self) -> None:
        for patch in self._patches:
            patch.start()

    async def stop(self) -> None:
        for patch in reversed(self._patches):
            patch.stop()
        self._directory.cleanup()

    def load(self, scenario: Scenario) -> None:
        self.llama.steps = list(scenario.steps)

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        return self.llama.requests

    def make_model(self) -> ChatModel:
        return LlamaCppChatModel(model_path=str(self._model_file))

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        system: list[str] = []
        described: list[tuple[str, str]] = []
        messages: list[SentMessage] = []
        for role, content in _turns(body["prompt"]):
            if role == "system":
                own, _, listed = content.partition(_TOOLS_HEADING) if _TOOLS_HEADING in content else (content, "", "")
                if own.strip():
                    system.append(own.removesuffix("\n\n"))
                for line in listed.splitlines():
                    if match := _TOOL_LINE.match(line):
                        described.append((match[1], match[3]))
            elif role == "assistant":
                calls = tuple(SentToolCall(None, m[1], json.loads(m[2])) for m in _CALL_LINE.finditer(content))
                text = content.split("\nfunctions.")[0] if calls else content
                messages.append(SentMessage("assistant", "" if text.startswith("functions.") else text, calls))
            else:  # user turns carry tool results too; a paragraph after a result is the user's next message
                for paragraph in content.split("\n\n"):
                    if result := _RESULT.match(paragraph) or _FAILED.match(paragraph):
                        messages.append(SentMessage("tool", result[2]))
                    elif _NUDGE.match(paragraph):
                        continue  # the adapter's request for an answer after a tool result
                    elif messages and messages[-1].role == "user":
                        messages[-1] = SentMessage("user", f"{messages[-1].text}\n\n{paragraph}")
                    else:
                        messages.append(SentMessage("user", paragraph))
        calls = body["calls"]
        schemas = {
            call["prompt"].rsplit("functions.", 1)[-1].removesuffix(":\n"): _unbounded(json.loads(call["json_schema"]))
            for call in calls
            if call["json_schema"] is not None
        }
        tools = tuple(SentTool(name, description, schemas.get(name, {})) for name, description in described)
        generating = [call for call in calls if call["grammar"] is None or not _DECISION.match(call["grammar"])]
        temperature = generating[0]["temperature"] if generating else None
        answer = next((call for call in calls if call["grammar"] is None), None)
        max_tokens = answer["max_tokens"] if answer is not None and answer["max_tokens"] != -1 else None
        return SentRequest("\n\n".join(system), tuple(messages), tools, temperature, max_tokens)


def make_harness() -> ProviderHarness:
    return LlamaCppHarness()
