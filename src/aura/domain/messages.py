"""Conversation messages: the provider-neutral shape of a chat history."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

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
