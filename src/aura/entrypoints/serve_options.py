"""`aura serve` options: each is a flag and an environment variable (the flag wins), with a default.

The rules a value must follow (ranges, allowed origins, usable API keys) live in one place, the
validators of `ServerOptions`; here a text is only converted to its type (integer, number, boolean,
list) and then checked by the `ServerOptions` validator of its field, so an error names the flag or
the environment variable it came from. Bad values make `aura serve` exit with status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from aura.adapters.http import ServerOptions, ToolResultMode
from aura.adapters.http.options import DEFAULT_MAX_BODY_BYTES

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


class OptionError(ValueError):
    """An option value that cannot be used; the message names the flag or env var and what is allowed."""


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"invalid boolean {text!r}; allowed values: {', '.join(TRUE_WORDS + FALSE_WORDS)}")


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"invalid value {text!r}; expected an integer") from None


def parse_seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"invalid value {text!r}; expected a number of seconds") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"invalid value {text!r}; expected a finite number of seconds")
    return value


def parse_mode(text: str) -> ToolResultMode:
    return ToolResultMode.parse(text.strip())


def parse_text(text: str) -> str:
    return text


def parse_list(text: str) -> tuple[str, ...]:
    """Comma-separated values, blanks dropped (keys, origins)."""
    values = tuple(value.strip() for value in text.split(",") if value.strip())
    if not values:
        raise ValueError("no value given (expected one or more, separated by commas)")
    return values


@attrs.frozen
class OptionSpec:
    """One server option: its flags, environment variable, parser and default.

    `dest` is the `ServerOptions` field it sets; that field's validator checks the parsed value.
    """

    dest: str
    flags: tuple[str, ...]
    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    boolean: bool = False
    repeatable: bool = False
    """The flag may be given several times; the values are joined with commas before parsing."""
    secret: bool = False
    """Never quote the value in an error message."""


OPTIONS = (
    OptionSpec("config", ("-c", "--config"), "CONFIG_PATH", parse_text, "config.toml", "TOML file or directory"),
    OptionSpec("host", ("--host",), "HOST", parse_text, "127.0.0.1", "bind host"),
    OptionSpec("port", ("-p", "--port"), "PORT", parse_int, 8080, "bind port"),
    OptionSpec(
        "streaming_timeout_secs",
        ("--streaming-timeout-secs",),
        "STREAMING_TIMEOUT_SECS",
        parse_seconds,
        900,
        "whole-response time limit in seconds (0 = none)",
    ),
    OptionSpec(
        "first_chunk_timeout_secs",
        ("--first-chunk-timeout-secs",),
        "FIRST_CHUNK_TIMEOUT_SECS",
        parse_seconds,
        30,
        "time limit for the first event of a stream (0 = none)",
    ),
    OptionSpec(
        "streaming_buffer_size",
        ("--streaming-buffer-size",),
        "STREAMING_BUFFER_SIZE",
        parse_int,
        400,
        "SSE frames buffered per stream before the turn waits for the client (>= 1)",
    ),
    OptionSpec(
        "aura_custom_events",
        ("--aura-custom-events",),
        "AURA_CUSTOM_EVENTS",
        parse_bool,
        False,
        "emit aura.* SSE events",
        boolean=True,
    ),
    OptionSpec(
        "aura_emit_reasoning",
        ("--aura-emit-reasoning",),
        "AURA_EMIT_REASONING",
        parse_bool,
        False,
        "emit aura.reasoning events (needs --aura-custom-events)",
        boolean=True,
    ),
    OptionSpec(
        "tool_result_mode",
        ("--tool-result-mode",),
        "TOOL_RESULT_MODE",
        parse_mode,
        ToolResultMode.NONE,
        "tool results in the stream: none, open-web-ui or aura",
    ),
    OptionSpec(
        "tool_result_max_length",
        ("--tool-result-max-length",),
        "TOOL_RESULT_MAX_LENGTH",
        parse_int,
        100,
        "bytes of tool results shown in the stream (0 = no truncation)",
    ),
    OptionSpec(
        "shutdown_timeout_secs",
        ("--shutdown-timeout-secs",),
        "SHUTDOWN_TIMEOUT_SECS",
        parse_seconds,
        30,
        "grace period for in-flight requests on SIGTERM/SIGINT",
    ),
    OptionSpec(
        "default_agent",
        ("--default-agent",),
        "DEFAULT_AGENT",
        parse_text,
        None,
        "agent id for requests without `model`",
    ),
    OptionSpec(
        "max_body_bytes",
        ("--max-body-bytes",),
        "MAX_BODY_BYTES",
        parse_int,
        DEFAULT_MAX_BODY_BYTES,
        "largest accepted request body in bytes",
    ),
    OptionSpec(
        "api_keys",
        ("--api-key",),
        "AURA_API_KEYS",
        parse_list,
        (),
        "require 'Authorization: Bearer <key>' on every path but /health and /ready; repeat the flag or separate keys "
        "with commas (prefer the env var: flags show in the process list)",
        repeatable=True,
        secret=True,
    ),
    OptionSpec(
        "cors_allow_origins",
        ("--cors-allow-origins",),
        "CORS_ALLOW_ORIGINS",
        parse_list,
        (),
        "browser origins allowed to call the API, comma-separated, or '*' (CORS is off when unset)",
    ),
    OptionSpec(
        "workers",
        ("--workers",),
        "WORKERS",
        parse_int,
        1,
        "server processes sharing the port (SO_REUSEPORT); needs a fixed --port when > 1",
    ),
    OptionSpec(
        "responses_ttl_secs",
        ("--responses-ttl-secs",),
        "RESPONSES_TTL_SECS",
        parse_seconds,
        86400,
        "how long /v1/responses keeps a stored response for previous_response_id and GET",
    ),
    OptionSpec(
        "session_store_url",
        ("--session-store-url",),
        "SESSION_STORE_URL",
        parse_text,
        None,
        "where pending approvals live: a redis:// URL shared by every worker and pod (default: this process's memory)",
        secret=True,  # may carry a password
    ),
    OptionSpec(
        "a2a_enabled",
        ("--a2a",),
        "A2A_ENABLED",
        parse_bool,
        False,
        "serve every agent over A2A at /a2a/{agent}/ (an agent's [a2a] table turns it on or off for itself)",
        boolean=True,
    ),
    OptionSpec(
        "a2a_task_ttl_secs",
        ("--a2a-task-ttl-secs",),
        "A2A_TASK_TTL_SECS",
        parse_seconds,
        86400,
        "how long an A2A task and its context's conversation are kept after their last change",
    ),
    OptionSpec(
        "approver_header",
        ("--approver-header",),
        "APPROVER_HEADER",
        parse_text,
        "X-Aura-Approver",
        "request header naming who answers an approval (logged and traced with the decision)",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for spec in OPTIONS:
        default = spec.default.value if isinstance(spec.default, ToolResultMode) else spec.default
        default = "none" if default is None or default == () else str(default).lower()
        extra: dict[str, Any] = {"nargs": "?", "const": "true", "metavar": "BOOL"} if spec.boolean else {}
        if spec.repeatable:
            extra = {"action": "append", "metavar": "KEY"}
        parser.add_argument(
            *spec.flags,
            dest=spec.dest,
            default=None,
            help=f"{spec.help} (env {spec.env}, default {default})",
            **extra,
        )
    parser.add_argument("-v", "--verbose", action="store_true", help="INFO logs for every aura module")
    parser.add_argument("-d", "--debug", action="store_true", help="DEBUG logs for every aura module")


_FIELDS = attrs.fields_dict(ServerOptions)


def _checked(spec: OptionSpec, text: str, source: str) -> Any:
    """The parsed value, checked by its `ServerOptions` field's own converter and validator."""
    try:
        value = spec.parse(text)
    except ValueError as error:
        raise OptionError(f"{source}: {error}") from None
    field = _FIELDS[spec.dest]
    try:
        convert: Any = field.converter  # plain callables in ServerOptions (tuple, the mode parser)
        if convert is not None:
            value = convert(value)
        if field.validator is not None:
            field.validator(None, field, value)
    except ValueError as error:
        quoted = "" if spec.secret or repr(text.strip()) in str(error) else f" {text!r}"
        raise OptionError(f"{source}: invalid value{quoted}: {error}") from None
    return value


def options_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServerOptions:
    """Flags first, then environment variables, then defaults; raises `OptionError`."""
    values: dict[str, Any] = {}
    for spec in OPTIONS:
        given = getattr(args, spec.dest, None)
        if isinstance(given, list):
            given = ",".join(given)
        source = spec.flags[-1]
        if given is None and environ.get(spec.env, "") != "":
            given, source = environ[spec.env], spec.env
        values[spec.dest] = spec.default if given is None else _checked(spec, given, source)
    if values["workers"] > 1 and values["port"] == 0:
        raise OptionError("--workers: more than one worker needs a fixed port (--port/PORT other than 0)")
    return ServerOptions(verbose=bool(args.verbose), debug=bool(args.debug), **values)
