"""A2A (Agent2Agent): each agent as an A2A server, over the same domain turn as chat completions.

Importing this package does not import `a2a-sdk` (an optional extra, `pip install 'aura[a2a]'`): only
`aura.adapters.a2a.routes`, which `create_app` imports when A2A is on for at least one agent, does.
"""

from aura.adapters.a2a.options import A2A_PREFIX, A2AAgentOptions, a2a_base_path

__all__ = ["A2A_PREFIX", "A2AAgentOptions", "a2a_base_path"]
