"""The composition root: the one place that assembles agents (and the stores `aura ingest` fills).

`aura serve`, `aura chat`, `aura ingest`, `aura check` and library code all go through here:

    agents = build_agents("configs/")             # every agent of a config file or directory
    async with open_agents("configs/") as agents:  # ... built, started (MCP connected) and closed on exit
        ...

One agent's parts are the providers of an `AgentContainer`; override any of them before `.agent()` is
called to plug in your own adapter while keeping the rest of the configuration:

    container = AgentContainer(config=agent_config)
    container.chat_model.override(MyModel())
    agent = container.agent()

    # no config at all: give the settings, the model and the tools directly
    container = AgentContainer(
        settings=AgentSettings(name="bot", system_prompt="Be brief."),
        chat_model=ScriptedChatModel([reply("hi")]),
        toolsets=[],
    )

Every provider is a singleton within its container: one container, one agent. The providers call the
typed factories of `aura.entrypoints.factories`, which import each adapter module only when a config
uses it. `aura ingest` builds a single store with `build_vector_store` (no model client, no MCP).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from dependency_injector import containers, providers

from aura.domain.agent import Agent, AgentSettings, close_agents, start_agents
from aura.domain.approvals import ApprovalGate
from aura.entrypoints.config.errors import ConfigError
from aura.entrypoints.config.loader import AgentFile, LoadedConfig, load_config
from aura.entrypoints.config.schema import AgentConfig
from aura.entrypoints.factories import (
    build_agent_settings,
    build_approval_gate,
    build_chat_model,
    build_toolsets,
    build_vector_store,
    build_vector_stores,
    check_available,
)
from aura.ports.chat_model import ChatModel
from aura.ports.clock import Clock
from aura.ports.session_store import SessionStore
from aura.ports.toolset import Toolset
from aura.ports.tracer import Tracer
from aura.ports.vector_store import VectorStore

__all__ = [
    "AgentContainer",
    "build_agent",
    "build_agents",
    "build_vector_store",
    "check_available",
    "close_agents",
    "container_for",
    "open_agents",
    "start_agents",
]


class AgentContainer(containers.DeclarativeContainer):
    """Providers for one agent: `config`, `tracer`, `clock`, `chat_model`, `vector_stores`, `toolsets`,
    `settings`, `agent`.

    `config` has no default; give it, or override every provider that needs it (`chat_model`,
    `toolsets`, `settings`). `vector_stores` (name -> store) feeds the search tools in `toolsets`, so
    overriding it swaps a store and keeps the tool. `created_at_ms` is the `/v1/models` `created`
    fallback when the config has no `created_at` (the loader passes the load time).
    """

    config = providers.Dependency(instance_of=AgentConfig)
    created_at_ms: providers.Provider[int | None] = providers.Object(None)
    tracer: providers.Provider[Tracer | None] = providers.Object(None)
    clock: providers.Provider[Clock | None] = providers.Object(None)
    #: where parked turns wait for approval; one store shared by every agent of the process
    session_store: providers.Provider[SessionStore | None] = providers.Object(None)

    chat_model: providers.Provider[ChatModel] = providers.Singleton(build_chat_model, config.provided.llm)
    vector_stores: providers.Provider[dict[str, VectorStore]] = providers.Singleton(build_vector_stores, config)
    toolsets: providers.Provider[Sequence[Toolset]] = providers.Singleton(build_toolsets, config, vector_stores)
    settings: providers.Provider[AgentSettings] = providers.Singleton(
        build_agent_settings, config, default_created_at_ms=created_at_ms
    )
    #: None from code (no approvals); a config-built container asks the `[approval]` table (see `container_for`)
    approval_gate: providers.Provider[ApprovalGate | None] = providers.Object(None)
    agent: providers.Provider[Agent] = providers.Singleton(
        Agent, settings, chat_model, toolsets, tracer=tracer, clock=clock, approval_gate=approval_gate
    )


def container_for(
    agent_file: AgentFile, *, tracer: Tracer | None = None, session_store: SessionStore | None = None
) -> AgentContainer:
    """A container for one loaded agent file (not built yet: override providers before calling `.agent()`)."""
    container = AgentContainer(
        config=providers.Object(agent_file.config),
        created_at_ms=providers.Object(agent_file.created_at_ms),
        tracer=providers.Object(tracer),
        session_store=providers.Object(session_store),
    )
    container.approval_gate.override(
        providers.Singleton(
            build_approval_gate, container.config, container.settings, container.session_store, container.clock
        )
    )
    return container


def build_agent(
    agent_file: AgentFile, *, tracer: Tracer | None = None, session_store: SessionStore | None = None
) -> Agent:
    """Build one agent; a failure is a `ConfigError` that names the agent's file."""
    try:
        agent: Agent = container_for(agent_file, tracer=tracer, session_store=session_store).agent()
    except ConfigError as error:
        raise _naming_file(error, agent_file) from None
    return agent


def _naming_file(error: ConfigError, agent_file: AgentFile) -> ConfigError:
    if error.source is not None:
        return error
    return ConfigError(error.detail, source=agent_file.source, problems=error.problems)


def build_agents(
    config: LoadedConfig | str | Path, *, tracer: Tracer | None = None, session_store: SessionStore | None = None
) -> list[Agent]:
    """Every agent of a config (a `LoadedConfig`, or a file or directory to load), in load order.

    Clients are created but nothing is connected yet: start them with `start_agents` (or each agent's
    `start()` / `async with agent`), as `open_agents` does. Agents with an `[approval]` table park turns in
    `session_store` (a per-process in-memory store when None). Raises `ConfigError`.
    """
    loaded = config if isinstance(config, LoadedConfig) else load_config(config)
    if session_store is None and any(agent_file.config.approval is not None for agent_file in loaded.agents):
        from aura.adapters.sessions.in_memory import InMemorySessionStore

        session_store = InMemorySessionStore()
    return [build_agent(agent_file, tracer=tracer, session_store=session_store) for agent_file in loaded.agents]


@asynccontextmanager
async def open_agents(
    config: LoadedConfig | str | Path, *, tracer: Tracer | None = None, session_store: SessionStore | None = None
) -> AsyncIterator[list[Agent]]:
    """Build every agent of a config, start their toolsets, and close them all on exit.

    async with open_agents("configs/") as agents:
        final = await agents[0].run("Is checkout healthy?")
    """
    agents = build_agents(config, tracer=tracer, session_store=session_store)
    try:
        await start_agents(agents)
        yield agents
    finally:
        await close_agents(agents)
