"""Which agents are served over A2A, and how; free of `a2a-sdk` so the server can decide without importing it."""

from __future__ import annotations

import attrs

A2A_PREFIX = "/a2a/"
"""Each agent's A2A endpoint is `/a2a/{agent_id}/`; its card is `/a2a/{agent_id}/.well-known/agent-card.json`."""


@attrs.frozen(kw_only=True)
class A2AAgentOptions:
    """One agent's A2A settings (its `[a2a]` table)."""

    #: the agent card's description; None: the first line of the system prompt
    description: str | None = None


def a2a_base_path(agent_id: str) -> str:
    """The path of an agent's A2A JSON-RPC endpoint (with its trailing slash)."""
    return f"{A2A_PREFIX}{agent_id}/"
