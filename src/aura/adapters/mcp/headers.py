"""HTTP headers for an MCP server: static ones from the config plus those forwarded from the request.

Header names compare case-insensitively everywhere (HTTP semantics), so a forwarded `Authorization`
replaces a static `authorization` instead of both being sent. Values are never logged: they are
usually credentials.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 field-name


def _valid_value(value: str) -> bool:
    """Visible ASCII plus space/tab: what can be sent without smuggling a second header."""
    return all(c == "\t" or " " <= c <= "~" for c in value)


def validate_header_config(owner: str, headers: Mapping[str, str], headers_from_request: Mapping[str, str]) -> None:
    """Reject configured headers that could never be sent; the message names the header, not its value."""
    seen: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"{owner}: headers: {name!r} is not a valid HTTP header name")
        if not isinstance(value, str) or not _valid_value(value):
            raise ValueError(
                f"{owner}: headers.{name}: the value must be a string of visible ASCII characters "
                "(no line breaks or control characters)"
            )
        if name.lower() in seen:
            raise ValueError(f"{owner}: headers: {name!r} and {seen[name.lower()]!r} name the same header")
        seen[name.lower()] = name
    outgoing_seen: dict[str, str] = {}
    for outgoing, incoming in headers_from_request.items():
        if not isinstance(outgoing, str) or not _TOKEN.match(outgoing):
            raise ValueError(f"{owner}: headers_from_request: {outgoing!r} is not a valid HTTP header name")
        if not isinstance(incoming, str) or not _TOKEN.match(incoming):
            raise ValueError(
                f"{owner}: headers_from_request.{outgoing}: {incoming!r} is not a valid incoming header name"
            )
        if outgoing.lower() in outgoing_seen:
            raise ValueError(
                f"{owner}: headers_from_request: {outgoing!r} and {outgoing_seen[outgoing.lower()]!r} "
                "name the same header"
            )
        outgoing_seen[outgoing.lower()] = outgoing


def resolve_headers(
    static: Mapping[str, str],
    headers_from_request: Mapping[str, str],
    request_headers: Mapping[str, str],
    *,
    logger: logging.Logger | None = None,
) -> dict[str, str]:
    """The headers one request sends to one MCP server.

    Start from `static`; for each `outgoing = incoming` pair whose incoming header is present
    (looked up case-insensitively), set `outgoing` to its value, replacing a static header of the
    same name in any casing. Absent incoming headers leave the static value in place. A value that
    is not sendable (control characters) is skipped with a warning naming the header.
    """
    resolved: dict[str, tuple[str, str]] = {name.lower(): (name, value) for name, value in static.items()}
    if headers_from_request:
        incoming_by_name = {name.lower(): value for name, value in request_headers.items()}
        for outgoing, incoming in headers_from_request.items():
            value = incoming_by_name.get(incoming.lower())
            if value is None:
                continue
            if not _valid_value(value):
                if logger is not None:
                    logger.warning("not forwarding header %r: the incoming value contains invalid characters", incoming)
                continue
            resolved[outgoing.lower()] = (outgoing, value)
    return dict(resolved.values())


def header_set_key(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable identity of a header set (names case-folded), used to pool connections."""
    return tuple(sorted((name.lower(), value) for name, value in headers.items()))
