"""Parsing and validating the body of `POST /v1/chat/completions` into domain messages.

Validation errors name the offending field (`messages[2].role`) so a client can fix its request
without reading server logs. Mapping follows SPEC-reference §2.6: client system messages are
dropped (the agent's own system prompt is the only one), empty messages and tool traffic of
earlier turns are dropped, and the last message must come from the user.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
from multidict import CIMultiDictProxy

from aura.adapters.http.errors import invalid_request
from aura.adapters.http.limits import checked_session_id
from aura.domain.messages import AssistantMessage, ContentPart, ImagePart, Message, TextPart, UserMessage

logger = logging.getLogger(__name__)

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SESSION_HEADERS = ("x-chat-session-id", "x-openwebui-chat-id")


@attrs.frozen
class ChatCompletionRequest:
    """A validated chat-completion request, already mapped to domain messages."""

    model: str | None
    history: tuple[Message, ...]
    query: UserMessage
    stream: bool = False
    max_tokens: int | None = None
    metadata_session_id: str | None = None


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4()}"


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def new_session_id() -> str:
    return f"cs_{uuid.uuid4().hex}"


def is_visible_ascii(value: str) -> bool:
    """Header values a client can safely have meant as text (printable ASCII and tab)."""
    return all(char == "\t" or " " <= char <= "~" for char in value)


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
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise invalid_request("Request body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as error:
        raise invalid_request(
            f"Malformed JSON in request body: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise invalid_request("Request body is nested too deeply to be a chat completion request") from None
    _reject_unpaired_surrogates(data)
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
    last_role, last_content = parsed[-1]
    if last_role != "user":
        raise invalid_request(f"Last message must be from user, got: {last_role}", "messages")
    return ChatCompletionRequest(
        model=model,
        history=_history(parsed[:-1]),
        query=UserMessage(_user_content(last_content)),
        stream=stream is True,
        max_tokens=max_tokens,
        metadata_session_id=metadata_session_id,
    )


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


def _parse_message(raw: Any, index: int) -> tuple[str, Content]:
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
    return role, _parse_content(raw.get("content"), f"{where}.content")


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


def _history(messages: list[tuple[str, Content]]) -> tuple[Message, ...]:
    history: list[Message] = []
    dropped_system = 0
    for role, content in messages:
        has_image = isinstance(content, tuple) and any(isinstance(part, ImagePart) for part in content)
        if role in ("system", "developer"):
            dropped_system += 1
        elif not _text_of(content).strip() and not (role == "user" and has_image):
            continue
        elif role == "user":
            history.append(UserMessage(_user_content(content)))
        elif role == "assistant":
            history.append(AssistantMessage(_text_of(content)))
        # tool / function results of earlier turns are dropped: tools run server-side, and their
        # structure is never reconstructed from client history (SPEC-reference §2.6).
    if dropped_system:
        logger.info(
            "dropped %d client system message(s) from the history; the agent's system prompt is used", dropped_system
        )
    return tuple(history)
