"""The OpenAI-compatible HTTP + SSE server (aiohttp).

It receives built `Agent`s and encodes the `TurnEvent`s of `Agent.run_turn` as OpenAI chunks and
`aura.*` events; it never sees configuration, providers or MCP.
"""

from aura.adapters.http.agent_directory import UnknownDefaultAgent
from aura.adapters.http.app import create_app
from aura.adapters.http.observer import NoopObserver, ServerObserver
from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.adapters.http.readiness import DependencyCheck, ReadinessProbe, ReadinessReport
from aura.adapters.http.request_scope import RequestScope, no_request_scope
from aura.adapters.http.server import run_server, start_app

__all__ = [
    "DependencyCheck",
    "NoopObserver",
    "ReadinessProbe",
    "ReadinessReport",
    "RequestScope",
    "ServerObserver",
    "ServerOptions",
    "ToolResultMode",
    "UnknownDefaultAgent",
    "create_app",
    "no_request_scope",
    "run_server",
    "start_app",
]
