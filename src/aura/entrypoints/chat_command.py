"""`aura chat`: talk to one configured agent in the terminal, with the same loop the server runs.

Reads one message per line from standard input (or one `--message`), streams the answer to standard
output and shows tool activity on standard error. The conversation is kept for the session, so follow-up
questions see earlier answers; `/reset` clears it and `/quit` (or end of input) leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable
from typing import TextIO

from aura.domain.agent import Agent
from aura.domain.errors import AuraError
from aura.domain.events import TextDelta, ToolCompleted, ToolRequested, TurnFinished
from aura.domain.messages import AssistantMessage, Message, UserMessage
from aura.domain.tools import RequestContext

PROMPT = "you> "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", nargs="?", default=None, help="config file or directory (default: $CONFIG_PATH or config.toml)"
    )
    parser.add_argument(
        "-c", "--config", dest="config_option", metavar="PATH", help="the same as CONFIG, spelled like `aura serve`"
    )
    parser.add_argument("--agent", help="agent id (alias or name) when the config has several agents")
    parser.add_argument("-m", "--message", help="ask one question, print the answer and exit")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace) -> int:
    from aura.entrypoints.config import load_config
    from aura.entrypoints.container import build_agent

    path = args.config or args.config_option or os.environ.get("CONFIG_PATH", "config.toml")
    try:
        loaded = load_config(path)
    except AuraError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    if args.agent is not None:
        agent_file = loaded.find(args.agent)
    else:
        agent_file = loaded.agents[0] if len(loaded.agents) == 1 else None
    if agent_file is None:
        wanted = f"agent {args.agent!r} is not" if args.agent else "several agents are"
        print(f"aura chat: {wanted} configured; choose one with --agent ({', '.join(loaded.ids)})", file=sys.stderr)
        return 2
    try:
        agent = build_agent(agent_file)  # only the chosen agent: no client or connection for the others
    except AuraError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    try:
        async with agent:
            lines = [args.message] if args.message is not None else _stdin_lines(interactive=sys.stdin.isatty())
            return await chat(agent, lines, sys.stdout, sys.stderr)
    except AuraError as error:  # a required MCP server that is down
        print(f"Startup error: {error}", file=sys.stderr)
        return 1


def _stdin_lines(*, interactive: bool) -> Iterable[str]:
    while True:
        if interactive:
            print(PROMPT, end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        yield line.rstrip("\n")


async def chat(agent: Agent, lines: Iterable[str], out: TextIO, err: TextIO) -> int:
    """Run one turn per non-empty line, keeping the conversation; returns 1 if the last turn failed."""
    history: list[Message] = []
    status = 0
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text == "/reset":
            history.clear()
            print("(conversation cleared)", file=err)
            continue
        history.append(UserMessage(text))
        final = await _turn(agent, history, out, err)
        if final.error is None:
            history.append(AssistantMessage(final.content))
            status = 0
        else:
            history.pop()  # a failed turn leaves no half-answer in the conversation
            status = 1
    return status


async def _turn(agent: Agent, history: list[Message], out: TextIO, err: TextIO) -> TurnFinished:
    final: TurnFinished | None = None
    async for event in agent.run_turn(list(history), RequestContext(session_id="cs_terminal")):
        if isinstance(event, TextDelta):
            out.write(event.text)
            out.flush()
        elif isinstance(event, ToolRequested):
            print(f"\n[tool] {event.call.name}({event.call.arguments})", file=err, flush=True)
        elif isinstance(event, ToolCompleted):
            outcome = "error" if event.result.is_error else "ok"
            print(f"[tool] {event.call.name}: {outcome} in {event.duration_ms} ms", file=err, flush=True)
        elif isinstance(event, TurnFinished):
            final = event
    assert final is not None
    if final.error is not None:
        out.write(("\n" if final.content else "") + final.error.message)
    out.write("\n")
    out.flush()
    return final
