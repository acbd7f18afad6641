"""What the two HTTP transports share: URL and header validation, a loggable URL, the HTTP client."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx2

from aura.adapters.mcp.headers import validate_header_config
from aura.domain.errors import AuraError

HTTP_TIMEOUT_SECONDS = 30.0
STREAM_READ_TIMEOUT_SECONDS = 300.0
# One message may be this many times a server's `max_result_bytes` on the wire: a server may send a text result
# twice (as text and as structured content), and JSON escaping grows text. Larger messages are dropped unread.
MESSAGE_BYTES_PER_RESULT_BYTE = 8
# The JSON-RPC error code (implementation-defined range) of a request whose answer was too large to read.
RESULT_TOO_LARGE = -32099


def too_large_message(size: int | None, limit: int) -> str:
    """What the model reads when a result was dropped on the wire for its size."""
    got = f"{size:,}" if size is not None else f"more than {limit:,}"
    return (
        f"the result was too large to read ({got} bytes in one message, over this server's limit of {limit:,} "
        f"bytes, which is {MESSAGE_BYTES_PER_RESULT_BYTE} x its max_result_bytes); ask the tool for less data, "
        "e.g. a narrower query or one page"
    )


class McpAuthenticationFailed(AuraError):
    """The MCP server refused our credentials (HTTP 401 or 403)."""


async def _refuse_rejected_credentials(response: httpx2.Response) -> None:
    # The SDK turns a 401 into "Server returned an error response"; failing the connection with
    # the status instead tells the operator what to fix (and a session is useless without access).
    if response.status_code in (401, 403):
        raise McpAuthenticationFailed(
            f"authentication failed (HTTP {response.status_code} {response.reason_phrase}); "
            "check the server's headers / headers_from_request"
        )


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx2's certificate-verifying context, built once for every MCP connection.

    httpx2 builds (and loads the whole CA bundle into) a new context for every client, even for http:// URLs:
    ~80 ms of CPU and a chunk of native memory per MCP session, which per-header-set connections pay each time.
    """
    return httpx2.create_ssl_context()


def mcp_http_client(
    headers: Mapping[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """The HTTP client of one MCP connection: its headers are defaults, so every request carries them."""
    return httpx2.AsyncClient(
        verify=shared_ssl_context(),
        headers=dict(headers or {}),
        timeout=timeout or httpx2.Timeout(HTTP_TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS),
        auth=auth,
        event_hooks={"response": [_refuse_rejected_credentials]},
    )


def validate_http_config(
    kind: str, url: str, headers: Mapping[str, str], headers_from_request: Mapping[str, str]
) -> None:
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{kind}: url must be a non-empty string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{kind}: url {loggable_url(url)!r} must be an absolute http:// or https:// URL")
    validate_header_config(f"{kind}({loggable_url(url)})", headers, headers_from_request)


def loggable_url(url: str) -> str:
    """The URL without userinfo and query string, either of which may hold a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
