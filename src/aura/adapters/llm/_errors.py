"""Shared pieces of turning provider failures into `ProviderError`s.

Every HTTP provider reports failures the same few ways (a status code, an error type in the body, a
Retry-After header), so the status → kind table, the Retry-After parsing and the secret redaction
live here once instead of drifting apart per adapter.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aura.domain.errors import ProviderError, ProviderErrorKind, is_context_overflow

MAX_PROVIDER_MESSAGE_CHARS = 500
REDACTED = "[redacted]"

# Texts providers use for "the prompt does not fit" that the domain's generic markers miss
# (Anthropic: "prompt is too long: 208000 tokens > 200000 maximum").
_EXTRA_OVERFLOW_MARKERS = (
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "context window",
    "exceeds the context",
)

# Key-shaped tokens (OpenAI/Anthropic `sk-…`, Google `AIza…`, AWS access key ids), redacted even when
# the provider echoes a key the adapter was not given, e.g. a masked or foreign one.
_KEY_PATTERN = re.compile(r"\b(?:sk-|AIza|AKIA|ASIA)[A-Za-z0-9_\-*.]{8,}")

_KIND_BY_ERROR_TYPE = {
    "authentication_error": ProviderErrorKind.AUTHENTICATION,
    "permission_error": ProviderErrorKind.AUTHENTICATION,
    "invalid_api_key": ProviderErrorKind.AUTHENTICATION,
    "rate_limit_error": ProviderErrorKind.RATE_LIMITED,
    "rate_limit_exceeded": ProviderErrorKind.RATE_LIMITED,
    "insufficient_quota": ProviderErrorKind.RATE_LIMITED,
    "overloaded_error": ProviderErrorKind.SERVER_ERROR,
    "api_error": ProviderErrorKind.SERVER_ERROR,
    "server_error": ProviderErrorKind.SERVER_ERROR,
    "internal_error": ProviderErrorKind.SERVER_ERROR,
    "timeout_error": ProviderErrorKind.TIMEOUT,
    "invalid_request_error": ProviderErrorKind.BAD_REQUEST,
    "not_found_error": ProviderErrorKind.BAD_REQUEST,
    "request_too_large": ProviderErrorKind.BAD_REQUEST,
    "context_length_exceeded": ProviderErrorKind.CONTEXT_OVERFLOW,
}


def looks_like_context_overflow(message: str) -> bool:
    """The domain's overflow markers plus provider phrasings they do not cover."""
    text = message.lower()
    return is_context_overflow(text) or any(marker in text for marker in _EXTRA_OVERFLOW_MARKERS)


def kind_for_status(status: int, message: str = "") -> ProviderErrorKind:
    """The error kind an HTTP status means; a 4xx whose text says the prompt is too long is an overflow."""
    if status in (401, 403):
        return ProviderErrorKind.AUTHENTICATION
    if status == 429:
        return ProviderErrorKind.RATE_LIMITED
    if status == 408:
        return ProviderErrorKind.TIMEOUT
    if status >= 500:
        return ProviderErrorKind.SERVER_ERROR
    if looks_like_context_overflow(message):
        return ProviderErrorKind.CONTEXT_OVERFLOW
    return ProviderErrorKind.BAD_REQUEST


def kind_for_error_type(error_type: str | None, message: str = "") -> ProviderErrorKind:
    """The kind of an error reported inside a stream (no HTTP status), from its `type`/`code` tag.

    An unknown tag is a server error: the provider broke off a response it had started.
    """
    kind = _KIND_BY_ERROR_TYPE.get((error_type or "").lower(), ProviderErrorKind.SERVER_ERROR)
    if kind is ProviderErrorKind.BAD_REQUEST and looks_like_context_overflow(message):
        return ProviderErrorKind.CONTEXT_OVERFLOW
    return kind


def provider_message(body: object, fallback: str) -> str:
    """The human text inside an error body (`{"error": {"message": …}}`, `{"message": …}`, `{"error": "…"}`)."""
    text: object = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            text = error.get("message")
        elif isinstance(error, str):
            text = error
        if not text:
            text = body.get("message")
    elif isinstance(body, str):
        text = body
    if not isinstance(text, str) or not text.strip():
        return fallback
    return _shorten(" ".join(text.split()))


def error_type(body: object) -> str | None:
    """The machine tag of an error body: `error.type`, else `error.code`, else a top-level `type`/`code`."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    for source in (error, body):
        if isinstance(source, Mapping):
            for key in ("type", "code"):
                value = source.get(key)
                if isinstance(value, str) and value and value != "error":
                    return value
    return None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every given secret and every key-shaped token replaced by a marker."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _KEY_PATTERN.sub(REDACTED, text)


def redacted(error: ProviderError | None, secrets: Iterable[str], provider: str) -> ProviderError | None:
    """A copy of `error` with `secrets` removed from its message and `provider` set (None stays None)."""
    if error is None:
        return None
    return ProviderError(
        error.kind,
        redact(error.message, secrets),
        provider=provider,
        status_code=error.status_code,
        retryable=error.retryable,
    )


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """How long the provider asked us to wait: `retry-after-ms`, else `retry-after` (seconds or HTTP date)."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(parsed.timestamp() - (time.time() if now is None else now), 0.0)


def status_error(
    provider: str,
    status: int,
    body: object,
    *,
    secrets: Iterable[str],
    fallback: str = "no error message",
) -> ProviderError:
    """A `ProviderError` for an HTTP error response, with a message that says what to do and holds no secret."""
    message = redact(provider_message(body, fallback), secrets)
    kind = kind_for_status(status, message)
    if kind is ProviderErrorKind.AUTHENTICATION:
        message = f"the provider rejected the credentials (check the configured API key): {message}"
    elif kind is ProviderErrorKind.RATE_LIMITED:
        message = f"rate limited by the provider: {message}"
    elif kind is ProviderErrorKind.CONTEXT_OVERFLOW:
        message = f"the prompt does not fit the model's context: {message}"
    return ProviderError(kind, message, provider=provider, status_code=status)


def stream_error(provider: str, body: object, *, secrets: Iterable[str]) -> ProviderError:
    """A `ProviderError` for an error the provider sent inside an already started stream."""
    message = redact(provider_message(body, "the provider reported an error mid-stream"), secrets)
    kind = kind_for_error_type(error_type(body), message)
    return ProviderError(kind, f"stream broken off by the provider: {message}", provider=provider)


def malformed(provider: str, what: str) -> ProviderError:
    """A `ProviderError` for stream data the adapter cannot read (never retried: it would likely repeat)."""
    return ProviderError(
        ProviderErrorKind.MALFORMED_RESPONSE,
        f"malformed response from the provider: {what}",
        provider=provider,
        retryable=False,
    )


def describe_json_error(error: ValueError, data: Any = None) -> str:
    """A short description of undecodable stream data, without echoing large payloads."""
    snippet = f" in {_shorten(str(data), 80)!r}" if data else ""
    return f"stream data is not valid JSON ({error}){snippet}"


def describe_cause(error: BaseException) -> str:
    """What actually failed underneath an SDK's generic "Connection error.": the transport exception."""
    cause = error.__cause__ or error.__context__
    if cause is None:
        return str(error)
    return f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__


def _shorten(text: str, limit: int = MAX_PROVIDER_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
