"""The `aura` command line: `serve`, `check`, `ingest`, `chat`, `eval`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from aura import __version__

# subcommand -> module with `add_arguments(parser)` and `run(args) -> int`
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "aura.entrypoints.serve_command",
        "Serve every configured agent over the OpenAI-compatible API",
    ),
    "check": ("aura.entrypoints.check_command", "Load a config file or directory and print each agent"),
    "ingest": ("aura.entrypoints.ingest_command", "Chunk, embed and index documents into a vector store"),
    "chat": ("aura.entrypoints.chat_command", "Chat with one configured agent in the terminal"),
    "eval": ("aura.entrypoints.eval_command", "Score an agent on frozen incidents with replayed tool outputs"),
}


def _command(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name][0])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aura", description="Aura: declarative LLM agents served over HTTP")
    parser.add_argument("--version", action="version", version=f"aura {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        _command(name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = _command(args.command).run(args)
    except BrokenPipeError:
        # the reader went away (`aura check | head`): stop quietly, as shell tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


def serve_main(argv: Sequence[str] | None = None) -> int:
    """`aura-web-server`: the same as `aura serve`, named like the original binary."""
    return main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
