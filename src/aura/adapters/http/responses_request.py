"""The OpenAI Responses request (`POST /v1/responses`): parsed, checked and turned into domain messages.

`input` is a string (one user message) or a list of items: messages (`role` user / assistant / system / developer,
content as a string or `input_text` / `output_text` / `input_image` parts), `function_call` items the client re-sends
and `function_call_output` items answering client tool calls. Bad input is a 400 naming the field (`input[2].call_id`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from aura.adapters.http.chat_request import client_tool_specs, json_body
from aura.adapters.http.errors import ApiError, invalid_request
from aura.domain.messages import (
    AssistantMessage,
    ContentPart,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from aura.domain.tools import ToolSpec

RESPONSE_ID_PREFIX = "resp_"
MAX_ID_CHARS = 128


@attrs.frozen
class ResponsesRequest:
    model: str | None
    input_items: tuple[Mapping[str, Any], ...]
    """The input as items (a string input becomes one user message item): stored and listed as given."""
    instructions: str | None
    max_output_tokens: int | None
    temperature: float | None
    tools: tuple[ToolSpec, ...]
    tool_choice_none: bool
    previous_response_id: str | None
    store: bool
    stream: bool
    metadata: Mapping[str, str] | None
    raw_tools: tuple[Mapping[str, Any], ...]


def new_response_id() -> str:
    return RESPONSE_ID_PREFIX + secrets.token_hex(16)


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_responses_request(body: bytes) -> ResponsesRequest:
    data = json_body(body, "a Responses API request")
    if not isinstance(data, dict):
        raise invalid_request("The request body must be a JSON object.")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise invalid_request("'model' must be a string.", "model")
    raw_input = data.get("input")
    if raw_input is None:
        raise invalid_request("'input' is required: a string or a list of input items.", "input")
    if isinstance(raw_input, str):
        items: list[Mapping[str, Any]] = [{"type": "message", "role": "user", "content": raw_input}]
    elif isinstance(raw_input, list):
        items = []
        for index, item in enumerate(raw_input):
            if not isinstance(item, dict):
                raise invalid_request(f"input[{index}] must be an object.", f"input[{index}]")
            items.append(item)
    else:
        raise invalid_request("'input' must be a string or a list of input items.", "input")
    instructions = _optional(data, "instructions", str, "a string")
    max_output_tokens = data.get("max_output_tokens")
    if max_output_tokens is not None and (
        not isinstance(max_output_tokens, int) or isinstance(max_output_tokens, bool) or max_output_tokens < 1
    ):
        raise invalid_request("'max_output_tokens' must be a positive integer.", "max_output_tokens")
    temperature = data.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise invalid_request("'temperature' must be a number from 0 to 2.", "temperature")
    previous = _optional(data, "previous_response_id", str, "a string")
    if previous is not None and (not previous or len(previous) > MAX_ID_CHARS):
        raise invalid_request(f"'previous_response_id' must be 1 to {MAX_ID_CHARS} characters.", "previous_response_id")
    store = data.get("store", True)
    if not isinstance(store, bool):
        raise invalid_request("'store' must be a boolean.", "store")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid_request("'stream' must be a boolean.", "stream")
    metadata = data.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()) or len(metadata) > 16
    ):
        raise invalid_request("'metadata' must be an object of at most 16 string values.", "metadata")
    raw_tools = data.get("tools")
    if raw_tools is None:
        raw_tools = []
    elif not isinstance(raw_tools, list):
        raise invalid_request("'tools' must be a list.", "tools")
    tools = _function_tools(raw_tools)
    tool_choice = data.get("tool_choice")
    return ResponsesRequest(
        model=model,
        input_items=tuple(items),
        instructions=instructions,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        tools=tools,
        tool_choice_none=tool_choice == "none",
        previous_response_id=previous,
        store=store,
        stream=stream,
        metadata=metadata,
        raw_tools=tuple(raw_tools),
    )


def _optional(data: Mapping[str, Any], key: str, kind: type, described: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise invalid_request(f"'{key}' must be {described}.", key)
    return value


def _function_tools(raw_tools: list[Any]) -> tuple[ToolSpec, ...]:
    """Responses function tools (`{"type": "function", "name", "parameters"}`) as client tool specs.

    Hosted tools (`web_search`, `file_search`, ...) are not something this server runs: a clear 400.
    """
    as_chat: list[dict[str, Any]] = []
    for index, tool in enumerate(raw_tools):
        if not isinstance(tool, dict):
            raise invalid_request(f"tools[{index}] must be an object.", f"tools[{index}]")
        kind = tool.get("type")
        if kind != "function":
            raise invalid_request(
                f"tools[{index}]: only function tools are supported (got type {kind!r}); the agent's own tools "
                "run on the server.",
                f"tools[{index}].type",
            )
        function = {key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool}
        as_chat.append({"type": "function", "function": function})
    try:
        return client_tool_specs(as_chat)
    except ApiError as error:
        # the chat-completions checker names `tools[i].function.x`; a Responses tool has no `function` level
        raise attrs.evolve(
            error,
            message=error.message.replace(".function.", "."),
            param=error.param.replace(".function", "") if error.param else error.param,
        ) from None


def conversation_from_items(items: Sequence[Mapping[str, Any]], earlier: Sequence[Message] = ()) -> tuple[Message, ...]:
    """Domain messages for the conversation: `earlier` (a stored previous response's), then the input items.

    `function_call_output` items must answer a `function_call` seen before them (in `earlier` or the input).
    System and developer messages are left out: the agent's system prompt is the agent's contract, as for chat
    completions.
    """
    messages: list[Message] = list(earlier)
    calls: dict[str, ToolCall] = {
        call.id: call for message in earlier if isinstance(message, AssistantMessage) for call in message.tool_calls
    }
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind == "message":
            message = _message(item, where)
            if message is not None:
                messages.append(message)
        elif kind == "function_call":
            call = ToolCall(
                _required_text(item, "call_id", where),
                _required_text(item, "name", where),
                _text(item.get("arguments", ""), f"{where}.arguments"),
            )
            calls[call.id] = call
            previous = messages[-1] if messages else None
            if isinstance(previous, AssistantMessage) and not previous.content:
                messages[-1] = AssistantMessage("", (*previous.tool_calls, call))
            else:
                messages.append(AssistantMessage("", (call,)))
        elif kind == "function_call_output":
            call_id = _required_text(item, "call_id", where)
            answered = calls.get(call_id)
            if answered is None:
                raise invalid_request(
                    f"{where}.call_id: no function_call with call_id {call_id!r} comes before this output "
                    "(send the call in `input`, or continue with `previous_response_id`).",
                    f"{where}.call_id",
                )
            output = item.get("output")
            text = output if isinstance(output, str) else json.dumps(output)
            messages.append(ToolResultMessage(call_id, answered.name, text))
        elif kind in ("reasoning", "item_reference"):
            continue  # an earlier output the client echoes back: the model does not need it again
        else:
            raise invalid_request(f"{where}.type: unsupported input item type {kind!r}.", f"{where}.type")
    if not messages:
        raise invalid_request("'input' has no user message.", "input")
    last = messages[-1]
    if not isinstance(last, UserMessage | ToolResultMessage):
        raise invalid_request("'input' must end with a user message or with function_call_output items.", "input")
    return tuple(messages)


def _message(item: Mapping[str, Any], where: str) -> Message | None:
    role = item.get("role")
    content = item.get("content")
    if role in ("system", "developer"):
        return None
    if role not in ("user", "assistant"):
        raise invalid_request(
            f"{where}.role must be 'user', 'assistant', 'system' or 'developer' (got {role!r}).", f"{where}.role"
        )
    parts = _parts(content, f"{where}.content")
    if role == "assistant":
        return AssistantMessage("".join(part.text for part in parts if isinstance(part, TextPart)))
    if all(isinstance(part, TextPart) for part in parts):
        return UserMessage("".join(part.text for part in parts if isinstance(part, TextPart)))
    return UserMessage(tuple(parts))


def _parts(content: Any, where: str) -> list[ContentPart]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise invalid_request(f"{where} must be a string or a list of content parts.", where)
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        if not isinstance(part, dict):
            raise invalid_request(f"{at} must be an object.", at)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(TextPart(_text(part.get("text"), f"{at}.text")))
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
                raise invalid_request(
                    f"{at}.image_url must be an http(s) URL or a data:image/... URL.", f"{at}.image_url"
                )
            parts.append(ImagePart(url))
        elif kind == "refusal":
            continue
        else:
            raise invalid_request(f"{at}.type: unsupported content part {kind!r}.", f"{at}.type")
    return parts


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid_request(f"{where} must be a string.", where)
    return value


def _required_text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise invalid_request(f"{where}.{key} is required (a non-empty string).", f"{where}.{key}")
    return value
