"""Bounds on client-supplied values that the server repeats: in response headers, in logs, to MCP servers."""

from __future__ import annotations

from typing import Final

from aura.adapters.http.errors import ApiError, invalid_request

# A session id (`metadata.chat_session_id`, `X-Chat-Session-Id`, `X-OpenWebUI-Chat-Id`) is echoed in the
# `X-Chat-Session-Id` response header and written on every log line of its request. UUIDs and chat ids
# are 32-40 characters; a longer id is refused instead of cut, so two different ids never become one.
MAX_SESSION_ID_LENGTH: Final = 256

_HEADER_NAMES: Final = {"x-chat-session-id": "X-Chat-Session-Id", "x-openwebui-chat-id": "X-OpenWebUI-Chat-Id"}


def session_id_too_long(source: str, length: int) -> ApiError:
    """The 400 for a session id over `MAX_SESSION_ID_LENGTH`; `source` is the body field or the header name."""
    where = _HEADER_NAMES.get(source.lower(), source)
    kind = "header" if source.lower() in _HEADER_NAMES else "field"
    return invalid_request(
        f"{where}: a session id may be at most {MAX_SESSION_ID_LENGTH} characters long; this {kind} has {length}",
        where,
        "session_id_too_long",
    )


def checked_session_id(value: str, source: str) -> str:
    """`value`, or `ApiError` 400 naming `source` when it is longer than `MAX_SESSION_ID_LENGTH`."""
    if len(value) > MAX_SESSION_ID_LENGTH:
        raise session_id_too_long(source, len(value))
    return value
