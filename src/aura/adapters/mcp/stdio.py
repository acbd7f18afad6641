"""The stdio transport: run the MCP server as a child process and talk JSON-RPC over its stdin/stdout.

The child's stderr goes to the `aura.mcp.<server>` logger line by line instead of our console, so
a chatty server cannot garble the output of `aura serve` and its messages carry the server's name.

`command = "python"` (or `"python3"`) runs the interpreter that runs Aura (`sys.executable`), so a server written in
Python finds the packages of Aura's own environment (the `mcp` SDK, for one) even when that environment's `bin/` is
not on PATH (`.venv/bin/aura serve` without activating the venv). Every other command is looked up as usual.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import IO

import anyio
import anyio.abc
import attrs
from mcp.client.stdio import StdioServerParameters, stdio_client

from aura.adapters.mcp._convert import string_map, string_tuple
from aura.adapters.mcp.connection import TransportStreams

_STDERR_CHUNK = 8192
_STDERR_MAX_LINE = 8192
_STDERR_DRAIN_SECONDS = 1.0
_STDERR_TAIL_LINES = 3
_STDERR_TAIL_CHARS = 300
PYTHON_COMMANDS = frozenset({"python", "python3"})


def resolve_command(command: str) -> str:
    """The executable to spawn: `python`/`python3` mean the interpreter running Aura; anything else as given."""
    if command in PYTHON_COMMANDS and sys.executable:
        return sys.executable
    return command


@attrs.frozen
class StdioTransport:
    """Spawn `command` with `args`; `env` is added on top of our own environment (so PATH and HOME still work)."""

    command: str
    args: Sequence[str] = attrs.field(default=(), converter=string_tuple)
    env: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)
    cwd: str | None = None
    _stderr_tail: collections.deque[str] = attrs.field(
        factory=lambda: collections.deque(maxlen=_STDERR_TAIL_LINES), init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.command, str) or not self.command.strip():
            raise ValueError("StdioTransport: command must be a non-empty string (the executable to run)")
        for index, arg in enumerate(self.args):
            if not isinstance(arg, str):
                raise ValueError(f"StdioTransport({self.command!r}): args[{index}] must be a string")
        for key, value in self.env.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"StdioTransport({self.command!r}): env.{key} must map a string to a string")

    @property
    def static_headers(self) -> Mapping[str, str]:
        return {}

    @property
    def headers_from_request(self) -> Mapping[str, str]:
        return {}

    def recent_stderr(self) -> str:
        """The child's last stderr lines (why it died, usually), for the "unavailable" report."""
        return " | ".join(self._stderr_tail)

    def describe(self) -> str:
        """The command line, for logs (environment values are never shown: that is where secrets go)."""
        return f"command {shlex.join([resolve_command(self.command), *self.args])}"

    async def open(
        self,
        stack: AsyncExitStack,
        headers: Mapping[str, str],
        logger: logging.Logger,
        *,
        max_message_bytes: int | None = None,
    ) -> TransportStreams:
        """Spawn the child; its stderr is read by a task that lives as long as the connection."""
        # No HTTP headers for a child process; and the SDK reads its stdout lines whole, without a
        # size limit, so a large result arrives and is cut to `max_result_bytes` like any other.
        del headers, max_message_bytes
        read_fd, write_fd = os.pipe()
        stderr_writer = os.fdopen(write_fd, "w", encoding="utf-8", errors="replace")
        stderr_reader = os.fdopen(read_fd, "rb", buffering=0)
        stack.callback(_close_quietly, stderr_reader)
        stack.callback(_close_quietly, stderr_writer)
        task_group = await stack.enter_async_context(anyio.create_task_group())
        reader_done = anyio.Event()
        self._stderr_tail.clear()
        task_group.start_soon(_log_stderr, stderr_reader, logger, reader_done, self._stderr_tail.append)
        stack.push_async_callback(_stop_stderr_reader, task_group, reader_done, stderr_writer)
        parameters = StdioServerParameters(
            command=resolve_command(self.command),
            args=list(self.args),
            env={**os.environ, **self.env},
            cwd=self.cwd,
            encoding_error_handler="replace",
        )
        streams = await stack.enter_async_context(stdio_client(parameters, errlog=stderr_writer))
        # The child holds its own copy of the write end; closing ours lets the reader see EOF.
        stderr_writer.close()
        return streams


def _close_quietly(file: IO[str] | IO[bytes]) -> None:
    with contextlib.suppress(OSError):
        file.close()


async def _stop_stderr_reader(task_group: anyio.abc.TaskGroup, reader_done: anyio.Event, writer: IO[str]) -> None:
    # The child is gone by now (or never started); give its last lines a moment, then stop reading.
    _close_quietly(writer)
    with anyio.move_on_after(_STDERR_DRAIN_SECONDS, shield=True):
        await reader_done.wait()
    task_group.cancel_scope.cancel()


async def _log_stderr(
    pipe: IO[bytes], logger: logging.Logger, done: anyio.Event, remember: Callable[[str], None]
) -> None:
    try:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_STDERR_CHUNK * 4)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    except OSError as error:  # losing the server's stderr must not cost the connection
        logger.warning("cannot read the MCP server's stderr: %s", error)
        done.set()
        return
    pending = b""
    try:
        while chunk := await reader.read(_STDERR_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > _STDERR_MAX_LINE:  # a server writing without newlines
                lines.append(pending)
                pending = b""
            for line in lines:
                _log_line(logger, line, remember)
        if pending:
            _log_line(logger, pending, remember)
    finally:
        transport.close()
        done.set()


def _log_line(logger: logging.Logger, line: bytes, remember: Callable[[str], None]) -> None:
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    if text.strip():
        logger.info("stderr: %s", text)
        remember(text.strip()[:_STDERR_TAIL_CHARS])
