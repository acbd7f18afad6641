"""Structured logging: one JSON object per line, request correlation from a contextvar, secrets masked.

The server sets `log_context(request_id=..., session_id=..., agent_id=...)` around a request; every
line logged inside it (including tasks it spawns, which copy the context) carries those ids. The
masking filter runs on the handler, so a secret never reaches the output whatever module logged it.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, Final

import attrs

MASK: Final = "***"
# Shorter env values ("1", "true", a port) are too common in ordinary text to mask safely.
MIN_SECRET_LENGTH: Final = 8
CONTEXT_FIELDS: Final = ("request_id", "session_id", "agent_id", "trace_id")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRET_ENV_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)

# (pattern, replacement): applied in order to every message, argument and traceback text.
_SECRET_PATTERNS: Final = (
    # Authorization header values, whatever the scheme: `Authorization: Bearer abc`, `"authorization": "xyz"`.
    (
        re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token)\s+)?[^\s\"',;}]+"),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}",
    ),
    # A bare bearer token elsewhere; it must contain a digit or symbol, so "the bearer of" stays prose.
    (
        re.compile(r"(?i)\b(bearer)\s+(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{6,}"),
        lambda m: f"{m.group(1)} {MASK}",
    ),
    # key=value / "key": "value" for names that say they hold a secret.
    (
        re.compile(
            r"(?i)([\w-]*(?:api[_-]?key|apikey|secret|password|passwd|token|credentials?|private[_-]?key)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"
        ),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # Well-known key formats: OpenAI/Anthropic, AWS access key ids, Google API keys, GitHub tokens, JWTs.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), lambda m: f"sk-{MASK}"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), lambda m: MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), lambda m: MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), lambda m: MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), lambda m: MASK),
)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with credentials replaced by `***`: known key formats, auth headers, `key=value` secrets, `secrets`."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def secret_env_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values of variables whose names say they hold a secret (`*_API_KEY`, `*_TOKEN`, `*SECRET*`, ...)."""
    values = {value.strip() for name, value in environ.items() if _SECRET_ENV_NAME.search(name)}
    # Longest first, so a secret that contains another one is replaced whole.
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback (the record is rewritten in place).

    Secret values come from `secrets` plus the secret-named variables of `environ` (default: the
    process environment when the filter is built).
    """

    def __init__(self, secrets: Iterable[str] = (), *, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        from_env = secret_env_values(os.environ if environ is None else environ)
        given = {secret for secret in secrets if secret}
        self.secrets: tuple[str, ...] = tuple(sorted(set(from_env) | given, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: keep what there is, masked, rather than dropping the line
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_secrets(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info, self.secrets)
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, mask_secrets(value, self.secrets))
        return True


# --- request correlation ------------------------------------------------------------------------


@attrs.frozen
class LogContext:
    """Correlation ids stamped on every log line of a request."""

    request_id: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    trace_id: str | None = None

    def fields(self) -> dict[str, str]:
        return {name: value for name in CONTEXT_FIELDS if (value := getattr(self, name)) is not None}


NO_LOG_CONTEXT: Final = LogContext()  # frozen, so safe as the shared default
_LOG_CONTEXT: contextvars.ContextVar[LogContext] = contextvars.ContextVar("aura_log_context", default=NO_LOG_CONTEXT)


def current_log_context() -> LogContext:
    return _LOG_CONTEXT.get()


def set_log_context(
    *,
    request_id: str | None = None,
    session_id: str | None = None,
    agent_id: str | None = None,
    trace_id: str | None = None,
) -> contextvars.Token[LogContext]:
    """Add ids to the current context (unspecified ones are kept); undo with `reset_log_context(token)`."""
    given = {"request_id": request_id, "session_id": session_id, "agent_id": agent_id, "trace_id": trace_id}
    updated = attrs.evolve(_LOG_CONTEXT.get(), **{k: v for k, v in given.items() if v is not None})
    return _LOG_CONTEXT.set(updated)


def reset_log_context(token: contextvars.Token[LogContext]) -> None:
    _LOG_CONTEXT.reset(token)


@contextmanager
def log_context(
    *,
    request_id: str | None = None,
    session_id: str | None = None,
    agent_id: str | None = None,
    trace_id: str | None = None,
) -> Iterator[LogContext]:
    """Ids for every line logged inside the block (and in tasks created inside it)."""
    token = set_log_context(request_id=request_id, session_id=session_id, agent_id=agent_id, trace_id=trace_id)
    try:
        yield _LOG_CONTEXT.get()
    finally:
        _LOG_CONTEXT.reset(token)


class LogContextFilter(logging.Filter):
    """Copies the current `LogContext` onto the record; ids passed with `extra=` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _LOG_CONTEXT.get().fields().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


# --- formatters ---------------------------------------------------------------------------------

_STANDARD_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, correlation ids, `extra=` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_ATTRIBUTES and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextLogFormatter(logging.Formatter):
    """The classic one-line format, with the correlation ids appended in brackets when there are any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)))
        if not ids:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{ids}]{newline}{rest}"


def _iso_utc(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- setup --------------------------------------------------------------------------------------

_HANDLER_MARK: Final = "_aura_log_handler"


def configure_logging(
    level: int | str = logging.INFO,
    json: bool = False,
    *,
    stream: IO[str] | None = None,
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send logs to `stream` (stderr) as JSON lines or text, with correlation ids and secrets masked.

    `aura.*` loggers log at `level`; everything else (SDKs, aiohttp) at WARNING or `level` if
    stricter, so a DEBUG server does not print every HTTP request of every SDK. Calling it again
    replaces the handler it installed before; handlers installed by others are left alone.
    """
    resolved = _level_number(level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(LogContextFilter())
    handler.addFilter(SecretMaskingFilter(secrets, environ=environ))
    handler.setFormatter(JsonLogFormatter() if json else TextLogFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(max(resolved, logging.WARNING))
    logging.getLogger("aura").setLevel(resolved)
    return handler


def _level_number(level: int | str) -> int:
    if isinstance(level, bool):
        raise ValueError(f"log level must be a level name or number, got {level!r}")
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.strip().upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return number
