"""Errors the domain knows about. Adapters translate their SDKs' failures into these."""

from __future__ import annotations

import enum


class AuraError(Exception):
    """Base of every error Aura raises on purpose."""


class ProviderErrorKind(enum.Enum):
    AUTHENTICATION = "authentication"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_REQUEST = "bad_request"
    CONTEXT_OVERFLOW = "context_overflow"
    MALFORMED_RESPONSE = "malformed_response"
    OVERLOADED = "overloaded"
    """Our own limit toward the provider (its connection pool) was reached: the provider was not called."""


class ProviderError(AuraError):
    """The LLM provider failed. `retryable` says whether a retry before the first token may help."""

    def __init__(
        self,
        kind: ProviderErrorKind,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.retryable = (
            retryable
            if retryable is not None
            else kind
            in {
                ProviderErrorKind.RATE_LIMITED,
                ProviderErrorKind.SERVER_ERROR,
                ProviderErrorKind.CONNECTION,
                ProviderErrorKind.TIMEOUT,
            }
        )

    def __str__(self) -> str:
        prefix = f"{self.provider}: " if self.provider else ""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{prefix}{self.kind.value}{status}: {self.message}"


class AgentClosedError(AuraError):
    """A turn was started on an agent after `aclose()`: its clients and connections are gone."""


_OVERFLOW_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "maximum number of tokens",
    "token limit",
    "tokens exceeded",
)


def is_context_overflow(message: str) -> bool:
    """Does a provider error text say the prompt no longer fits the model's context?"""
    text = message.lower()
    if any(marker in text for marker in _OVERFLOW_MARKERS):
        return True
    if "resulted in" in text and "tokens" in text:
        return True
    return "context" in text and "exceeded" in text
