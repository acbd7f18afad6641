"""A tiny server program for the shutdown tests: scripted agents built in code, served by `run_server`.

    python -m tests.integration.http.shutdown_server PORT GRACE_SECS

Agents: `slow` streams 400 words, one every 50 ms (20 s); `short` streams 10 words in about 1 s.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aura.adapters.http import ServerOptions, run_server
from aura.domain.agent import Agent, AgentSettings
from aura.testing import ScriptedChatModel, ScriptedRound


def agent(name: str, words: int, delay: float) -> Agent:
    round_ = ScriptedRound(text=tuple(f"w{i} " for i in range(words)), delay=delay)
    return Agent(AgentSettings(name=name, system_prompt="x"), ScriptedChatModel([], then=round_))


def main() -> int:
    port, grace = int(sys.argv[1]), float(sys.argv[2])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    agents = [agent("slow", 400, 0.05), agent("short", 10, 0.1)]
    options = ServerOptions(host="127.0.0.1", port=port, shutdown_timeout_secs=grace, heartbeat_interval_secs=0.5)
    return asyncio.run(run_server(agents, options))


if __name__ == "__main__":
    sys.exit(main())
