"""Structured logging: one JSON object per line, request correlation from a contextvar, secrets masked.

The server sets `log_context(request_id=..., session_id=..., agent_id=...)` around a request; every
line logged inside it (including tasks it spawns, which copy the context) carries those ids. The
masking filter runs on the handler, so a secret never reaches the output whatever module logged it.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, Final

import attrs

MASK: Final = "***"
# Shorter env values ("1", "true", a port) are too common in ordinary text to mask safely.
MIN_SECRET_LENGTH: Final = 8
CONTEXT_FIELDS: Final = ("request_id", "session_id", "agent_id", "trace_id")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What one log record may carry, in characters, counted after masking (so a cut never exposes part of a
# secret). Client input reaches log lines (a session id, an MCP server's stderr line, an error message that
# quotes a request), and a line of megabytes costs every log pipeline downstream; these bound it.
MAX_MESSAGE_CHARS: Final = 8192
MAX_FIELD_CHARS: Final = 1024  # each `extra=` string field
MAX_EXCEPTION_CHARS: Final = 32768  # a formatted traceback or stack

_SECRET_ENV_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)

# Masking runs on every log line, and log lines carry client input, so it must take time linear in the
# text's length whatever the text is. Each pattern below therefore:
#   - starts with a literal keyword (after at most a zero-width check), never with a repetition, so an
#     attempt at a position that does not start the keyword costs O(1);
#   - repeats only single character classes, possessively (`++`, `*+`, `{n,}+`: no backtracking into them),
#     and never nests one repetition inside another;
#   - has runs that another attempt of the same pattern cannot start inside (a keyword needs a character the
#     run excludes, or a boundary the run cannot contain), so each character is scanned a bounded number of
#     times per pattern.
# The old forms rescanned the rest of a long word from every position (`[\w-]*` before the keyword; `\beyJ`
# restarting after each `-` of `eyJa-eyJa-...`): 0.4 s for a 3,000-character word. tests/unit/telemetry checks
# the shape. For the same reason a JWT right after a `-` is left to the other patterns (`token=`, `Bearer`).
SECRET_PATTERNS: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]] = (
    # Authorization header values, whatever the scheme: `Authorization: Bearer abc`, `"authorization": "xyz"`.
    (
        re.compile(
            r"(?ai)\b((?:proxy-authorization|authorization)[\"']?+\s*+[:=]\s*+[\"']?+)(?:(bearer|basic|token)\s++)?[^\s\"',;}]++"
        ),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}",
    ),
    # A bare bearer token elsewhere, of 6 characters or more; it must contain a digit or symbol, so "the bearer
    # of" stays prose (leading letters, then the first digit or symbol, then the rest of the token).
    (
        re.compile(r"(?ai)\b(bearer)\s++([A-Za-z]*+[0-9._~+/=-][A-Za-z0-9._~+/=-]*+)"),
        lambda m: f"{m.group(1)} {MASK}" if len(m.group(2)) >= 6 else m.group(0),
    ),
    # key=value / "key": "value" for names that say they hold a secret (`x-api-key=...`, `"db_password": ...`).
    (
        re.compile(
            r"(?ai)((?:api[_-]?key|apikey|secret|password|passwd|token|credentials?|private[_-]?key)"
            r"[\"']?+\s*+[:=]\s*+[\"']?+)[^\s\"',;&}]++"
        ),
        lambda m: f"{m.group(1)}{MASK}",
    ),
    # Well-known key formats: OpenAI/Anthropic, AWS access key ids, Google API keys, GitHub tokens, JWTs.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}+"), lambda m: f"sk-{MASK}"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), lambda m: MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), lambda m: MASK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}+\b"), lambda m: MASK),
    (
        re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]++"),
        lambda m: MASK,
    ),
)
# A match of any pattern above holds one of these (in lower case: the case-insensitive patterns are ASCII-only,
# `(?a)`, so lower-casing the text first is exact). A line without any skips the patterns, which is most lines.
_TRIGGERS: Final = re.compile(
    r"authorization|bearer|api[_-]?key|secret|passw|token|credential|private[_-]?key|sk-|akia|asia|aiza|gh[pousr]_|eyj"
)


class SecretMasker:
    """Masks known secret values and credential-shaped text in time linear in the text's length.

    A text is first checked for the patterns' keywords (one scan of its lower-cased copy) and for the known
    values (one substring search each, in C); most log lines hold neither and are returned as they are. Known
    values that occur are replaced in one pass (one alternation compiled here, longest first so a secret that
    contains another is replaced whole); the patterns run only when a keyword occurs.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: tuple[str, ...] = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        known = "|".join(re.escape(secret) for secret in self.secrets)
        self._known = re.compile(known) if known else None

    def may_hold_secrets(self, text: str) -> bool:
        """False when `mask(text)` would certainly return `text` unchanged (no keyword, no known value)."""
        for secret in self.secrets:
            if secret in text:
                return True
        return _TRIGGERS.search(text.lower()) is not None

    def mask(self, text: str) -> str:
        if self._known is not None:
            for secret in self.secrets:
                if secret in text:
                    text = self._known.sub(MASK, text)
                    break
        if _TRIGGERS.search(text.lower()) is None:
            return text
        for pattern, replacement in SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        return text


@functools.lru_cache(maxsize=16)
def _masker(secrets: tuple[str, ...]) -> SecretMasker:
    return SecretMasker(secrets)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with credentials replaced by `***`: known key formats, auth headers, `key=value` secrets, `secrets`.

    Linear in `len(text)`. Callers that mask often with the same secrets should keep a `SecretMasker`.
    """
    return _masker(tuple(secrets)).mask(text)


def bounded(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def secret_env_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values of variables whose names say they hold a secret (`*_API_KEY`, `*_TOKEN`, `*SECRET*`, ...)."""
    values = {value.strip() for name, value in environ.items() if _SECRET_ENV_NAME.search(name)}
    # Longest first, so a secret that contains another one is replaced whole.
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, traceback and extras, then bounds their length.

    The record is rewritten in place. Secret values come from `secrets` plus the secret-named variables of
    `environ` (default: the process environment when the filter is built). The message is cut to
    `MAX_MESSAGE_CHARS`, each `extra=` string to `MAX_FIELD_CHARS` and a traceback to `MAX_EXCEPTION_CHARS`,
    after masking.
    """

    def __init__(self, secrets: Iterable[str] = (), *, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        from_env = secret_env_values(os.environ if environ is None else environ)
        self._masker = SecretMasker({*from_env, *secrets})
        self.secrets: tuple[str, ...] = self._masker.secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: keep what there is, masked, rather than dropping the line
            message = f"{record.msg} {record.args!r}"
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        fields = vars(record)
        extra_keys = fields.keys() - _STANDARD_RECORD_ATTRIBUTES
        extras = [(key, value) for key in extra_keys if isinstance(value := fields[key], str)]
        # One check over the whole record (most hold nothing to mask) instead of one per field: whatever a field
        # holds, the joined text holds too, so the check never misses one.
        whole = "\n".join((message, record.exc_text or "", record.stack_info or "", *(value for _, value in extras)))
        if self._masker.may_hold_secrets(whole):
            mask = self._masker.mask
            message = mask(message)
            if record.exc_text:
                record.exc_text = mask(record.exc_text)
            if record.stack_info:
                record.stack_info = mask(record.stack_info)
            extras = [(key, mask(value)) for key, value in extras]
        elif len(whole) <= MAX_FIELD_CHARS:  # nothing to mask, nothing to cut: the common case
            record.msg = message
            return True
        record.msg = bounded(message, MAX_MESSAGE_CHARS)
        if record.exc_text:
            record.exc_text = bounded(record.exc_text, MAX_EXCEPTION_CHARS)
        if record.stack_info:
            record.stack_info = bounded(record.stack_info, MAX_EXCEPTION_CHARS)
        for key, value in extras:
            fields[key] = bounded(value, MAX_FIELD_CHARS)
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
    current = _LOG_CONTEXT.get()
    return _LOG_CONTEXT.set(
        LogContext(
            request_id if request_id is not None else current.request_id,
            session_id if session_id is not None else current.session_id,
            agent_id if agent_id is not None else current.agent_id,
            trace_id if trace_id is not None else current.trace_id,
        )
    )


def reset_log_context(token: contextvars.Token[LogContext]) -> None:
    _LOG_CONTEXT.reset(token)


class log_context:
    """Ids for every line logged inside the block (and in tasks created inside it).

    A class rather than a `@contextmanager` generator: the server enters it twice per request.
    """

    __slots__ = ("_given", "_token")

    def __init__(
        self,
        *,
        request_id: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        self._given = (request_id, session_id, agent_id, trace_id)
        self._token: contextvars.Token[LogContext] | None = None

    def __enter__(self) -> LogContext:
        request_id, session_id, agent_id, trace_id = self._given
        self._token = set_log_context(
            request_id=request_id, session_id=session_id, agent_id=agent_id, trace_id=trace_id
        )
        return _LOG_CONTEXT.get()

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _LOG_CONTEXT.reset(self._token)
            self._token = None


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
