"""`aura serve` (and `aura-web-server`): load the config, build the agents, serve them over HTTP.

Every option is a flag and an environment variable (the flag wins), with the names and defaults of
SPEC §2. Bad option values exit with status 2 and a message listing what is allowed; configuration
and startup errors exit with status 1 and a message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from aura import __version__
from aura.adapters.http import ServerOptions, ToolResultMode, run_server
from aura.adapters.http.options import DEFAULT_MAX_BODY_BYTES
from aura.adapters.telemetry import configure_logging, configure_tracing, shutdown_tracing
from aura.domain.agent import Agent
from aura.domain.errors import AuraError
from aura.ports.tracer import Tracer

logger = logging.getLogger("aura.serve")

SERVER_LOGGERS = ("aura.serve", "aura.adapters.http", "aura.entrypoints")
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


class OptionError(ValueError):
    """An option value that cannot be used; the message names the flag, the env var and what is allowed."""


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"invalid boolean {text!r}; allowed values: {', '.join(TRUE_WORDS + FALSE_WORDS)}")


def parse_count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"invalid value {text!r}; expected a non-negative integer") from None
    if value < 0:
        raise ValueError(f"invalid value {text!r}; expected a non-negative integer")
    return value


def parse_positive_count(text: str) -> int:
    value = parse_count(text)
    if value < 1:
        raise ValueError(f"invalid value {text!r}; expected an integer >= 1")
    return value


def parse_port(text: str) -> int:
    value = parse_count(text)
    if value > 65535:
        raise ValueError(f"invalid port {text!r}; expected an integer from 0 to 65535")
    return value


def parse_seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"invalid value {text!r}; expected a non-negative number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"invalid value {text!r}; expected a non-negative number of seconds")
    return value


def parse_mode(text: str) -> ToolResultMode:
    return ToolResultMode.parse(text.strip())


def parse_text(text: str) -> str:
    return text


@attrs.frozen
class OptionSpec:
    """One server option: its flags, environment variable, parser and default."""

    dest: str
    flags: tuple[str, ...]
    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    boolean: bool = False


OPTIONS = (
    OptionSpec("config", ("-c", "--config"), "CONFIG_PATH", parse_text, "config.toml", "TOML file or directory"),
    OptionSpec("host", ("--host",), "HOST", parse_text, "127.0.0.1", "bind host"),
    OptionSpec("port", ("-p", "--port"), "PORT", parse_port, 8080, "bind port"),
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
        parse_positive_count,
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
        parse_count,
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
        parse_positive_count,
        DEFAULT_MAX_BODY_BYTES,
        "largest accepted request body in bytes",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for spec in OPTIONS:
        default = spec.default.value if isinstance(spec.default, ToolResultMode) else spec.default
        default = "none" if default is None else str(default).lower()
        extra: dict[str, Any] = {"nargs": "?", "const": "true", "metavar": "BOOL"} if spec.boolean else {}
        parser.add_argument(
            *spec.flags,
            dest=spec.dest,
            default=None,
            help=f"{spec.help} (env {spec.env}, default {default})",
            **extra,
        )
    parser.add_argument("-v", "--verbose", action="store_true", help="INFO logs for every aura module")
    parser.add_argument("-d", "--debug", action="store_true", help="DEBUG logs for every aura module")


def options_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServerOptions:
    """Flags first, then environment variables, then defaults; raises `OptionError`."""
    values: dict[str, Any] = {}
    for spec in OPTIONS:
        given = getattr(args, spec.dest, None)
        source = spec.flags[-1]
        if given is None and environ.get(spec.env, "") != "":
            given, source = environ[spec.env], spec.env
        if given is None:
            values[spec.dest] = spec.default
            continue
        try:
            values[spec.dest] = spec.parse(given)
        except ValueError as error:
            raise OptionError(f"{source}: {error}") from None
    return ServerOptions(verbose=bool(args.verbose), debug=bool(args.debug), **values)


def configure_server_logging(options: ServerOptions, environ: Mapping[str, str]) -> None:
    """Server lifecycle lines by default; `-v` all aura INFO logs; `-d` DEBUG; `LOG_LEVEL` overrides.

    Logs go through the telemetry adapter's handler: secrets from the environment are masked and
    `LOG_FORMAT=json` gives JSON lines.
    """
    override = environ.get("LOG_LEVEL", "").strip().upper()
    valid_override = override in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
    level = override if valid_override else ("DEBUG" if options.debug else "INFO")
    configure_logging(level, json=environ.get("LOG_FORMAT", "").strip().lower() == "json", environ=environ)
    if not (valid_override or options.debug or options.verbose):
        logging.getLogger("aura").setLevel(logging.WARNING)
        for name in SERVER_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from(args, os.environ)
    except OptionError as error:
        print(f"aura serve: error: {error}", file=sys.stderr)
        return 2
    configure_server_logging(options, os.environ)
    logger.info("Starting Aura Web Server v%s", __version__)
    logger.info("Configuration: %s", options.config)
    return asyncio.run(serve(options))


async def serve(options: ServerOptions) -> int:
    """Load, build, connect, serve. Returns the process exit status."""
    tracer = configure_tracing(os.environ)
    try:
        return await _serve(options, tracer)
    finally:
        shutdown_tracing(tracer)


async def _serve(options: ServerOptions, tracer: Tracer) -> int:
    # imported late: `aura --help` stays fast
    from aura.entrypoints.config import ConfigError, load_config
    from aura.entrypoints.container import build_agents

    agents: list[Agent] = []
    try:
        loaded = load_config(options.config)
        for warning in loaded.warnings:
            logger.warning("%s", warning)
        if options.default_agent is not None:
            loaded.default_agent(options.default_agent)  # validates DEFAULT_AGENT before anything connects
        agents = build_agents(loaded, tracer=tracer)
        await start_agents(agents)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        await _close_quietly(agents)
        return 1
    except AuraError as error:
        print(f"Startup error: {error}", file=sys.stderr)
        await _close_quietly(agents)
        return 1
    except Exception as error:  # an adapter failing to start must not print a traceback
        logger.debug("startup failed", exc_info=True)
        print(f"Startup error: {type(error).__name__}: {error}", file=sys.stderr)
        await _close_quietly(agents)
        return 1
    return await run_server(agents, options, default_agent=options.default_agent, tracer=tracer)


async def start_agents(agents: Sequence[Agent]) -> None:
    """Connect every toolset that needs it (MCP) and discover tools, so the first request pays nothing."""
    for agent in agents:
        for toolset in agent.toolsets:
            start = getattr(toolset, "start", None)
            if start is not None:
                await start()
        registry = await agent.tool_registry()
        logger.info("Loaded agent '%s' (%s) with %d tool(s)", agent.id, agent.model_string, len(registry.tools))


async def _close_quietly(agents: Sequence[Agent]) -> None:
    for agent in agents:
        try:
            await agent.aclose()
        except Exception:
            logger.debug("closing agent %r failed", agent.id, exc_info=True)
