"""What the two HTTP transports share: URL and header validation, and a loggable description."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from aura.adapters.mcp.headers import validate_header_config


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
