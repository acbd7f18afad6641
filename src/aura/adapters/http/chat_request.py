"""Parsing and validating the body of `POST /v1/chat/completions` into domain messages.

Validation errors name the offending field (`messages[2].role`) so a client can fix its request
without reading server logs. Mapping:

- client system (and developer) messages are dropped: the agent's own system prompt is the only one;
- empty messages are dropped;
- tool traffic of earlier turns (assistant `tool_calls` and `tool` results before the last user
  message) and OpenWebUI's tool panels in assistant text are folded into one-line notes on the
  assistant message (`[Earlier tool call: name(args) returned: …]`): the model keeps the facts,
  nothing is run again, and no provider sees tool messages for tools it was not offered;
- consecutive assistant messages are joined;
- the conversation ends with a user message, or with `tool` results answering every call of the
  assistant message before them (a client-tool round trip; see `ChatCompletionRequest.continues`).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import orjson
from multidict import CIMultiDictProxy

from aura.adapters.http.errors import invalid_request
from aura.adapters.http.limits import checked_session_id
from aura.adapters.http.openwebui import background_task_kind, fold_tool_panels, tool_call_note
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

logger = logging.getLogger(__name__)

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SESSION_HEADERS = ("x-chat-session-id", "x-openwebui-chat-id")


@attrs.frozen
class ChatCompletionRequest:
    """A validated chat-completion request, already mapped to domain messages.

    `messages` is the conversation the turn starts from. It ends with the user's message, or — when
    `continues` is true — with the results of client tool calls the previous response handed over.
    `tools` are the request's tools as specs, checked for every agent (a malformed one is a 400) and offered
    only by an agent that accepts client tools (the others ignore them, as they always did). `task_kind` names an
    OpenWebUI background task (`title`, `tags`, `follow_ups`, …) recognised from the prompt.
    """

    model: str | None
    messages: tuple[Message, ...]
    stream: bool = False
    max_tokens: int | None = None
    metadata_session_id: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice_none: bool = False
    continues: bool = False
    task_kind: str | None = None

    @property
    def history(self) -> tuple[Message, ...]:
        """Everything before the last message."""
        return self.messages[:-1]

    @property
    def query(self) -> Message:
        """The last message."""
        return self.messages[-1]


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4()}"


def new_request_id() -> str:
    # 128 random bits as 32 hex digits, like a UUID's hex but without building a `uuid.UUID` (per request)
    return f"req_{secrets.token_hex(16)}"


def new_session_id() -> str:
    return f"cs_{secrets.token_hex(16)}"


_VISIBLE_ASCII = re.compile(r"[\t -~]*")


def is_visible_ascii(value: str) -> bool:
    """Header values a client can safely have meant as text (printable ASCII and tab)."""
    return _VISIBLE_ASCII.fullmatch(value) is not None


def forwardable_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    """Incoming headers with lower-cased names, for per-request MCP header forwarding.

    Values that are not visible ASCII are skipped; repeated headers are joined with ", ".
    """
    collected: dict[str, str] = {}
    for name, value in headers.items():
        if not is_visible_ascii(value):
            continue
        key = name.lower()
        collected[key] = f"{collected[key]}, {value}" if key in collected else value
    return collected


def resolve_session_id(metadata_session_id: str | None, headers: Mapping[str, str]) -> str:
    """`metadata.chat_session_id`, then `X-Chat-Session-Id`, then `x-openwebui-chat-id`, else a new id.

    `headers` must have lower-cased names (see `forwardable_headers`), so invisible values have
    already been skipped and the lookup falls through to the next source.
    """
    if metadata_session_id is not None:
        return metadata_session_id
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value is not None:
            return checked_session_id(value, name)
    return new_session_id()


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    """Validate a request body; raises `ApiError` (400) naming the first bad field."""
    if not body.strip():
        raise invalid_request("Request body is empty; expected a JSON object")
    data = json_body(body, "a chat completion request")
    if not isinstance(data, dict):
        raise invalid_request(f"Request body must be a JSON object, got {_json_type(data)}")

    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise invalid_request(f"model: expected a string, got {_json_type(model)}", "model")
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid_request(f"stream: expected a boolean, got {_json_type(stream)}", "stream")
    max_tokens = _max_tokens(data)
    metadata_session_id = _metadata_session_id(data.get("metadata"))

    if "messages" not in data or data["messages"] is None:
        raise invalid_request("messages: required field is missing", "messages", "missing_required_parameter")
    raw_messages = data["messages"]
    if not isinstance(raw_messages, list):
        raise invalid_request(f"messages: expected an array, got {_json_type(raw_messages)}", "messages")
    if not raw_messages:
        raise invalid_request("No messages provided", "messages")
    parsed = [_parse_message(raw, index) for index, raw in enumerate(raw_messages)]
    last = parsed[-1]
    if last.role == "user":
        messages = (*_history(parsed[:-1]), UserMessage(_user_content(last.content)))
        task_kind = background_task_kind(_text_of(last.content))
    elif last.role == "tool":
        messages = _continuation(parsed)
        task_kind = None
    else:
        # (or with tool results answering the tool calls before them: see `_continuation`)
        raise invalid_request(f"Last message must be from user, got: {last.role}", "messages")
    # Malformed tools are a 400 whichever agent answers, even one that ignores the request's tools.
    tools = client_tool_specs(data.get("tools"))
    tool_choice = data.get("tool_choice")
    return ChatCompletionRequest(
        model=model,
        messages=messages,
        stream=stream is True,
        max_tokens=max_tokens,
        metadata_session_id=metadata_session_id,
        tools=tools,
        tool_choice_none=tool_choice == "none",
        continues=last.role == "tool",
        task_kind=task_kind,
    )


def client_tool_specs(tools: Any) -> tuple[ToolSpec, ...]:
    """The request's `tools` (OpenAI function tools) as tool specs; raises a 400 naming a malformed entry."""
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise invalid_request(f"tools: expected an array, got {_json_type(tools)}", "tools")
    specs: list[ToolSpec] = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid_request(f"{where}: expected an object, got {_json_type(tool)}", where)
        kind = tool.get("type", "function")
        if not isinstance(kind, str):
            raise invalid_request(f"{where}.type: expected a string, got {_json_type(kind)}", f"{where}.type")
        if kind != "function":
            raise invalid_request(
                f"{where}.type: unsupported tool type {tool.get('type')!r}; supported: function", f"{where}.type"
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid_request(f"{where}.function: expected an object, got {_json_type(function)}", where)
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise invalid_request(f"{where}.function.name: expected a non-empty string", f"{where}.function.name")
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid_request(
                f"{where}.function.description: expected a string, got {_json_type(description)}",
                f"{where}.function.description",
            )
        parameters = function.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        elif not isinstance(parameters, dict):
            raise invalid_request(
                f"{where}.function.parameters: expected a JSON Schema object, got {_json_type(parameters)}",
                f"{where}.function.parameters",
            )
        specs.append(ToolSpec(name, description or "", parameters))
    return tuple(specs)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _max_tokens(data: dict[str, Any]) -> int | None:
    for field in ("max_tokens", "max_completion_tokens"):
        value = data.get(field)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema (and JavaScript clients) treat 743.0 as the integer 743
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid_request(f"{field}: expected a non-negative integer, got {json.dumps(value)}", field)
        return value
    return None


_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def _metadata_session_id(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid_request(f"metadata: expected an object, got {_json_type(metadata)}", "metadata")
    session_id = metadata.get("chat_session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise invalid_request(
            f"metadata.chat_session_id: expected a string, got {_json_type(session_id)}", "metadata.chat_session_id"
        )
    if session_id is not None and _CONTROL_CHARACTER.search(session_id):
        # It is echoed in the X-Chat-Session-Id response header (where aiohttp refuses control
        # characters, dropping the connection) and written to logs.
        raise invalid_request(
            "metadata.chat_session_id: must not contain control characters", "metadata.chat_session_id"
        )
    return None if session_id is None else checked_session_id(session_id, "metadata.chat_session_id")


Content = str | tuple[ContentPart, ...]


@attrs.frozen
class _Parsed:
    """One request message, shape-checked but not yet mapped."""

    index: int
    role: str
    content: Content
    raw: dict[str, Any]


def _parse_message(raw: Any, index: int) -> _Parsed:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise invalid_request(f"{where}: expected an object, got {_json_type(raw)}", where)
    role = raw.get("role")
    if role is None:
        raise invalid_request(f"{where}.role: required field is missing", f"{where}.role")
    if not isinstance(role, str):
        raise invalid_request(f"{where}.role: expected a string, got {_json_type(role)}", f"{where}.role")
    if role not in ROLES:
        raise invalid_request(
            f"{where}.role: unknown role {role!r}; allowed: {', '.join(ROLES)}",
            f"{where}.role",
        )
    return _Parsed(index, role, _parse_content(raw.get("content"), f"{where}.content"), raw)


def json_body(body: bytes, what: str) -> Any:
    """A request body as JSON, or a 400 that says what is wrong with it (`what` names the request kind).

    orjson refuses all the standard library would refuse, and lone surrogate escapes too, so a body it reads
    needs no further check. Anything else goes through the standard library: its errors name the line and
    column; it reads what orjson does not (integers beyond 64 bits, NaN, a UTF-8 byte-order mark, deep
    nesting), and unpaired surrogates are refused here.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise invalid_request("Request body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as error:
        raise invalid_request(
            f"Malformed JSON in request body: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise invalid_request(f"Request body is nested too deeply to be {what}") from None
    _reject_unpaired_surrogates(data)
    return data


def _reject_unpaired_surrogates(data: Any) -> None:
    """JSON may escape half a UTF-16 pair (`\\ud800`); such text cannot be sent to any provider, so refuse it here."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_request(
            "Request body contains an unpaired UTF-16 surrogate escape (e.g. \\ud800); text must be valid Unicode"
        ) from None


def _parse_content(content: Any, where: str) -> Content:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(
            f"{where}: expected a string, null or an array of content parts, got {_json_type(content)}", where
        )
    return tuple(_parse_part(part, f"{where}[{index}]") for index, part in enumerate(content))


def _parse_part(part: Any, where: str) -> ContentPart:
    if not isinstance(part, dict):
        raise invalid_request(f"{where}: expected a content part object, got {_json_type(part)}", where)
    part_type = part.get("type")
    if part_type in ("text", "refusal"):
        text = part.get(part_type)
        if not isinstance(text, str):
            raise invalid_request(f"{where}.{part_type}: expected a string, got {_json_type(text)}", f"{where}.text")
        return TextPart(text)
    if part_type == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise invalid_request(f"{where}.image_url.url: expected a non-empty string", f"{where}.image_url.url")
        return ImagePart(url, _data_url_media_type(url))
    raise invalid_request(
        f"{where}.type: unsupported content part type {part_type!r}; supported: text, image_url", f"{where}.type"
    )


def _data_url_media_type(url: str) -> str | None:
    if not url.startswith("data:"):
        return None
    header = url[len("data:") :].split(",", 1)[0]
    media_type = header.split(";", 1)[0]
    return media_type or None


def _text_of(content: Content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, TextPart))


def _user_content(content: Content) -> str | tuple[ContentPart, ...]:
    """Plain text stays a string; parts are kept only when there is an image to carry."""
    if isinstance(content, tuple) and any(isinstance(part, ImagePart) for part in content):
        return content
    return _text_of(content)


def _history(messages: list[_Parsed]) -> tuple[Message, ...]:
    """Messages before the last user message: plain user and assistant text, tool traffic folded into notes."""
    history: list[Message] = []
    dropped_system = 0
    results = _earlier_tool_results(messages)
    for message in messages:
        role, content = message.role, message.content
        has_image = isinstance(content, tuple) and any(isinstance(part, ImagePart) for part in content)
        if role in ("system", "developer"):
            dropped_system += 1
        elif role == "user":
            if _text_of(content).strip() or has_image:
                history.append(UserMessage(_user_content(content)))
        elif role == "assistant":
            text = fold_tool_panels(_text_of(content)).strip()
            notes = [
                tool_call_note(call.name, call.arguments, results.get(call.id))
                for call in _lenient_tool_calls(message.raw.get("tool_calls"))
            ]
            text = "\n".join(part for part in (text, *notes) if part)
            if not text:
                continue
            previous = history[-1] if history else None
            if isinstance(previous, AssistantMessage):
                history[-1] = AssistantMessage(f"{previous.content}\n\n{text}")
            else:
                history.append(AssistantMessage(text))
        # `tool` / `function` results of earlier turns live on in the notes of the calls they answer.
    if dropped_system:
        logger.info(
            "dropped %d client system message(s) from the history; the agent's system prompt is used", dropped_system
        )
    return tuple(history)


def _earlier_tool_results(messages: list[_Parsed]) -> dict[str, str]:
    results: dict[str, str] = {}
    for message in messages:
        call_id = message.raw.get("tool_call_id")
        if message.role == "tool" and isinstance(call_id, str):
            results[call_id] = _text_of(message.content)
    return results


def _lenient_tool_calls(raw_calls: Any) -> list[ToolCall]:
    """Well-formed tool calls of an earlier turn (malformed entries are skipped: they are only history)."""
    calls: list[ToolCall] = []
    for raw in raw_calls if isinstance(raw_calls, list) else []:
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        call_id = raw.get("id")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        calls.append(ToolCall(call_id if isinstance(call_id, str) else "", function["name"], arguments))
    return calls


def _continuation(parsed: list[_Parsed]) -> tuple[Message, ...]:
    """A conversation that ends in tool results: the earlier turns, the user message, then the client-tool rounds.

    After the last user message only assistant messages with `tool_calls` and the `tool` messages that answer
    them may follow, and every call must be answered before the next assistant message and at the end.
    """
    last_user = max((message.index for message in parsed if message.role == "user"), default=None)
    if last_user is None:
        raise invalid_request(
            "messages: a conversation that ends in tool results must contain the user message they follow",
            "messages",
        )
    earlier = _history(parsed[:last_user])
    user = parsed[last_user]
    tail: list[Message] = []
    pending: dict[str, ToolCall] = {}
    positions: dict[str, tuple[int, int]] = {}
    for message in parsed[last_user + 1 :]:
        where = f"messages[{message.index}]"
        if message.role == "assistant":
            _require_answered(pending, positions)
            calls = _strict_tool_calls(message.raw.get("tool_calls"), where)
            for position, call in enumerate(calls):
                pending[call.id] = call
                positions[call.id] = (message.index, position)
            tail.append(AssistantMessage(fold_tool_panels(_text_of(message.content)), calls))
        elif message.role == "tool":
            call_id = message.raw.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise invalid_request(f"{where}.tool_call_id: expected a non-empty string", f"{where}.tool_call_id")
            answered = pending.pop(call_id, None)
            if answered is None:
                raise invalid_request(
                    f"{where}.tool_call_id: {call_id!r} answers no tool call of the assistant message before it",
                    f"{where}.tool_call_id",
                )
            tail.append(ToolResultMessage(call_id, answered.name, _text_of(message.content)))
        elif message.role in ("system", "developer"):
            continue
        else:
            raise invalid_request(
                f"{where}.role: only assistant tool calls and tool results may follow the last user message, "
                f"got: {message.role}",
                f"{where}.role",
            )
    _require_answered(pending, positions)
    return (*earlier, UserMessage(_user_content(user.content)), *tail)


def _require_answered(pending: dict[str, ToolCall], positions: dict[str, tuple[int, int]]) -> None:
    if not pending:
        return
    call_id = next(iter(pending))
    index, position = positions[call_id]
    where = f"messages[{index}].tool_calls[{position}]"
    raise invalid_request(f"{where}: tool call {call_id!r} has no tool result message", where)


def _strict_tool_calls(raw_calls: Any, where: str) -> tuple[ToolCall, ...]:
    """The tool calls of an assistant message of the current turn (they must be well-formed: they get answered)."""
    if raw_calls is None:
        return ()
    if not isinstance(raw_calls, list):
        raise invalid_request(
            f"{where}.tool_calls: expected an array, got {_json_type(raw_calls)}", f"{where}.tool_calls"
        )
    calls: list[ToolCall] = []
    for position, raw in enumerate(raw_calls):
        at = f"{where}.tool_calls[{position}]"
        if not isinstance(raw, dict):
            raise invalid_request(f"{at}: expected an object, got {_json_type(raw)}", at)
        call_id = raw.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid_request(f"{at}.id: expected a non-empty string", f"{at}.id")
        function = raw.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise invalid_request(f"{at}.function.name: expected a non-empty string", f"{at}.function.name")
        arguments = function.get("arguments")
        if arguments is None:
            arguments = "{}"
        elif not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        calls.append(ToolCall(call_id, function["name"], arguments))
    return tuple(calls)
