"""Conversation messages: the provider-neutral shape of a chat history."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs


def new_tool_call_id() -> str:
    """An id for a tool call whose provider gave none (or for a scripted one): `call_` and 24 hex digits,
    shaped like OpenAI's ids, which every client already handles."""
    return "call_" + secrets.token_hex(12)


@attrs.frozen
class TextPart:
    """A piece of text inside a multi-part message."""

    text: str


@attrs.frozen
class ImagePart:
    """An image given by URL (http(s) or a `data:` URL with base64 content)."""

    url: str
    media_type: str | None = None


ContentPart = TextPart | ImagePart


@attrs.frozen
class ToolCall:
    """A tool invocation the model asked for; `arguments` is the model's raw JSON text."""

    id: str
    name: str
    arguments: str


@attrs.frozen
class SystemMessage:
    content: str
    role: str = attrs.field(default="system", init=False)


@attrs.frozen
class UserMessage:
    content: str | tuple[ContentPart, ...]
    role: str = attrs.field(default="user", init=False)

    @property
    def text(self) -> str:
        return content_text(self.content)


@attrs.frozen
class AssistantMessage:
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    role: str = attrs.field(default="assistant", init=False)


@attrs.frozen
class ToolResultMessage:
    """What a tool returned, fed back to the model under the id of the call it answers."""

    tool_call_id: str
    tool_name: str
    content: str
    is_error: bool = False
    role: str = attrs.field(default="tool", init=False)


Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage


def content_text(content: str | Sequence[ContentPart]) -> str:
    """The text of a message's content; images are left out."""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, TextPart))


# --- JSON forms, for state kept between requests (parked turns, stored responses, A2A contexts) -----------------


def tool_call_to_json(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def tool_call_from_json(data: Mapping[str, Any]) -> ToolCall:
    return ToolCall(data["id"], data["name"], data["arguments"])


def _part_to_json(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image", "url": part.url, "media_type": part.media_type}


def _part_from_json(data: Mapping[str, Any]) -> ContentPart:
    if data["type"] == "text":
        return TextPart(data["text"])
    return ImagePart(data["url"], data.get("media_type"))


def message_to_json(message: Message) -> dict[str, Any]:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        content: Any = (
            message.content if isinstance(message.content, str) else [_part_to_json(p) for p in message.content]
        )
        return {"role": "user", "content": content}
    if isinstance(message, AssistantMessage):
        return {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [tool_call_to_json(c) for c in message.tool_calls],
            "reasoning": message.reasoning,
        }
    return {
        "role": "tool",
        "tool_call_id": message.tool_call_id,
        "tool_name": message.tool_name,
        "content": message.content,
        "is_error": message.is_error,
    }


def message_from_json(data: Mapping[str, Any]) -> Message:
    role = data["role"]
    if role == "system":
        return SystemMessage(data["content"])
    if role == "user":
        content = data["content"]
        return UserMessage(content if isinstance(content, str) else tuple(_part_from_json(p) for p in content))
    if role == "assistant":
        return AssistantMessage(
            data["content"], tuple(tool_call_from_json(c) for c in data["tool_calls"]), reasoning=data["reasoning"]
        )
    return ToolResultMessage(data["tool_call_id"], data["tool_name"], data["content"], data["is_error"])
