"""Server options: every `aura serve` setting (docs/configuration.md, "Server options"), as one immutable value."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from aura.adapters.http.security import invalid_api_key_reason, invalid_origin_reason

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


class ToolResultMode(enum.Enum):
    """How tool results reach the client in OpenAI chunks (docs/streaming-api-guide.md)."""

    NONE = "none"
    OPEN_WEB_UI = "open-web-ui"
    AURA = "aura"

    @classmethod
    def parse(cls, value: str) -> ToolResultMode:
        for mode in cls:
            if mode.value == value:
                return mode
        allowed = ", ".join(mode.value for mode in cls)
        raise ValueError(f"invalid tool result mode {value!r}; allowed values: {allowed}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _at_least_one(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


def _port(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"{attribute.name} must be between 0 and 65535, got {value}")


def _api_keys(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, key in enumerate(value):
        if not isinstance(key, str):
            raise ValueError(f"{attribute.name}[{index}] must be a string")
        reason = invalid_api_key_reason(key)
        if reason is not None:  # never quote the key itself
            raise ValueError(f"{attribute.name}[{index}] cannot be used as an API key: {reason}")


def _origins(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, origin in enumerate(value):
        reason = invalid_origin_reason(origin) if isinstance(origin, str) else "expected a string"
        if reason is not None:
            raise ValueError(f"{attribute.name}[{index}] {origin!r}: {reason}")


def _mode(value: ToolResultMode | str) -> ToolResultMode:
    return value if isinstance(value, ToolResultMode) else ToolResultMode.parse(value)


@attrs.frozen(kw_only=True)
class ServerOptions:
    """Options of the OpenAI-compatible server.

    Timeouts are seconds; 0 disables the stream and first-chunk timeouts. Invalid values fail at
    construction, so a bad setting stops the server at startup instead of on the first request.
    `heartbeat_interval_secs` is internal (fixed at 15 s in production) so tests can shorten it.
    `api_keys` (empty: no authentication) is left out of `repr`, so logging the options never shows
    a key; `cors_allow_origins` (empty: CORS off) takes `*` or `scheme://host[:port]` entries.
    `workers` is how many processes `aura serve` starts; `reuse_port` lets several share the port.
    """

    config: str = "config.toml"
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080, validator=_port)
    streaming_timeout_secs: float = attrs.field(default=900.0, validator=_non_negative)
    first_chunk_timeout_secs: float = attrs.field(default=30.0, validator=_non_negative)
    streaming_buffer_size: int = attrs.field(default=400, validator=_at_least_one)
    aura_custom_events: bool = False
    aura_emit_reasoning: bool = False
    tool_result_mode: ToolResultMode = attrs.field(default=ToolResultMode.NONE, converter=_mode)
    tool_result_max_length: int = attrs.field(default=100, validator=_non_negative)
    shutdown_timeout_secs: float = attrs.field(default=30.0, validator=_non_negative)
    default_agent: str | None = None
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, validator=_at_least_one)
    verbose: bool = False
    debug: bool = False
    heartbeat_interval_secs: float = attrs.field(default=15.0, validator=_positive)
    api_keys: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_api_keys, repr=False)
    cors_allow_origins: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_origins)
    workers: int = attrs.field(default=1, validator=_at_least_one)
    #: how long `/v1/responses` keeps a stored response (and its conversation) for `previous_response_id`
    responses_ttl_secs: float = attrs.field(default=86_400.0, validator=_positive)
    reuse_port: bool = False
    #: request header naming the person who answers an approval (recorded with the decision, logged, traced)
    approver_header: str | None = "X-Aura-Approver"
    #: where pending approvals and parked turns live: None = this process's memory; `redis://...` = shared
    session_store_url: str | None = attrs.field(default=None, repr=False)
    #: serve every agent over A2A (`/a2a/{agent}/`); an agent's `[a2a]` table can also turn it on (or off) for itself
    a2a_enabled: bool = False
    #: how long an A2A task (and its context's conversation) is kept after its last change, for `tasks/get`
    a2a_task_ttl_secs: float = attrs.field(default=86_400.0, validator=_positive)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def emits_reasoning(self) -> bool:
        """`aura.reasoning` needs both switches on."""
        return self.aura_custom_events and self.aura_emit_reasoning
