"""`aura check [PATH]`: load a config file or directory and print what each agent resolves to.

Nothing is connected and no model is called: this checks the files (syntax, types, unknown keys,
environment variables, unique ids, `DEFAULT_AGENT`) and says which adapters this build lacks.
Secrets are shown as `***`. Exit status: 0 when the config loads, 1 when it does not.

With `--tools` it also connects: it lists each agent's tools and asks each vector store whether it can be
reached (as `GET /ready` does), with the reason when not; exit 1 when a server or a required store fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from dotenv import dotenv_values

from aura.adapters.telemetry.logging import mask_secrets, secret_env_values
from aura.entrypoints.config.errors import ConfigError
from aura.entrypoints.config.loader import DEFAULT_CONFIG_PATH, AgentFile, LoadedConfig, load_config
from aura.entrypoints.config.schema import (
    BedrockConfig,
    BedrockEmbeddingConfig,
    BedrockKbStoreConfig,
    EmbeddingModelConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    LlmConfig,
    OllamaConfig,
    QdrantStoreConfig,
    SseServerConfig,
    StdioServerConfig,
    VectorStoreConfig,
)

if TYPE_CHECKING:
    from aura.domain.agent import Agent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        default=None,
        help=f"config file or directory (default: $CONFIG_PATH, else {DEFAULT_CONFIG_PATH})",
    )
    parser.add_argument(
        "-c", "--config", dest="config_option", metavar="PATH", help="the same as PATH, spelled like `aura serve`"
    )
    parser.add_argument(
        "--default-agent",
        default=None,
        help="agent id that requests without `model` go to; checked against the loaded agents (env DEFAULT_AGENT)",
    )
    parser.add_argument("--no-dotenv", action="store_true", help="do not read .env files for {{ env.X }} values")
    parser.add_argument(
        "--tools",
        action="store_true",
        help="also connect to the MCP servers and list every tool with whether a call waits for approval, and why; "
        "and ask every vector store whether it can be reached (exit 1 when a required one cannot)",
    )


def run(args: argparse.Namespace) -> int:
    path = args.path or args.config_option or os.environ.get("CONFIG_PATH") or DEFAULT_CONFIG_PATH
    default_agent = args.default_agent or os.environ.get("DEFAULT_AGENT") or None
    try:
        loaded = load_config(path, dotenv=not args.no_dotenv)
        default = loaded.default_agent(default_agent)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    environ = dict(os.environ)
    for env_file in loaded.env_files:
        environ.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    print_summary(loaded, default, sys.stdout, secrets=secret_env_values(environ))
    if args.tools:
        return asyncio.run(print_tools(loaded, _Scrubbed(sys.stdout, secret_env_values(environ))))
    return 0


async def print_tools(loaded: LoadedConfig, out: TextIO | _Scrubbed) -> int:
    """Connect every agent's toolsets and print its tools with their approval requirement (exit 1 if one fails)."""
    from aura.entrypoints.container import build_agents, close_agents, start_agents

    agents = []
    try:
        agents = build_agents(loaded)
        await start_agents(agents)
        for agent in agents:
            print(file=out)
            print(f"tools of agent {agent.id!r}:", file=out)
            registry = await agent.tool_registry()
            if not registry.tools:
                print("  (none)", file=out)
            gate = agent.approval_gate
            for name, tool in registry.tools.items():
                if gate is None:
                    verdict = "runs (approvals not enabled)"
                else:
                    requirement = gate.policy.requirement(
                        tool.toolset.name,
                        tool.original_name,
                        tool.spec.annotations,
                        builtin_read_only=tool.spec.builtin_read_only,
                    )
                    verdict = ("ASKS" if requirement.needs_approval else "runs") + f": {requirement.reason}"
                print(f"  {name:<32} {verdict}", file=out)
        unreachable = await print_vector_stores(agents, out)
    except Exception as error:  # a server that does not start is reported, not raised
        print(f"Tool discovery failed: {error}", file=sys.stderr)
        return 1
    finally:
        await close_agents(agents)
    return 1 if unreachable else 0


STORE_CHECK_TIMEOUT_SECS = 10.0


async def print_vector_stores(agents: Sequence[Agent], out: TextIO | _Scrubbed) -> int:
    """Ask every vector store of every agent whether it can be reached; returns how many required ones cannot."""
    from aura.domain.vector_search import VectorSearchToolset
    from aura.ports.vector_store import SupportsCheck

    unreachable = 0
    for agent in agents:
        stores = [toolset for toolset in agent.toolsets if isinstance(toolset, VectorSearchToolset)]
        if not stores:
            continue
        print(file=out)
        print(f"vector stores of agent {agent.id!r}:", file=out)
        for toolset in stores:
            kind = "required" if toolset.required else "optional"
            if not isinstance(toolset.store, SupportsCheck):
                print(f"  {toolset.name:<32} not checked", file=out)
                continue
            try:
                async with asyncio.timeout(STORE_CHECK_TIMEOUT_SECS):
                    await toolset.store.check()
            except TimeoutError:
                reason = f"no answer within {STORE_CHECK_TIMEOUT_SECS:g} s"
            except Exception as error:
                reason = " ".join((str(error) or type(error).__name__).split())
            else:
                print(f"  {toolset.name:<32} reachable ({kind})", file=out)
                continue
            if toolset.required:
                unreachable += 1
            print(f"  {toolset.name:<32} UNREACHABLE ({kind}): {reason}", file=out)
    return unreachable


def print_summary(loaded: LoadedConfig, default: AgentFile | None, out: TextIO, *, secrets: Sequence[str] = ()) -> None:
    """Print every agent; lines are scrubbed of secret env values, credential-shaped text and URL credentials."""
    sink = _Scrubbed(out, secrets)
    count = len(loaded.agents)
    print(f"{loaded.path}: {count} agent{'s' if count != 1 else ''} OK", file=sink)
    for env_file in loaded.env_files:
        print(f"  (read {env_file})", file=sink)
    for agent_file in loaded.agents:
        print(file=sink)
        for line in describe_agent(agent_file, is_default=agent_file is default):
            print(line, file=sink)
    if loaded.warnings:
        print(file=sink)
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sink)


class _Scrubbed:
    """A text stream that masks secrets (a templated token can sit inside a URL or a stdio argument)."""

    def __init__(self, out: TextIO, secrets: Sequence[str]) -> None:
        # Imported here, not at the top: `aura serve` imports this module to build the CLI parser, and the
        # MCP adapter brings the MCP SDK (about 1 s of imports) that a config without MCP servers never needs.
        from aura.adapters.mcp.connection import redact_url

        self._redact_url = redact_url
        self._out = out
        self._secrets = secrets

    def write(self, text: str) -> int:
        return self._out.write(self._redact_url(mask_secrets(text, self._secrets)))

    def flush(self) -> None:
        self._out.flush()


def describe_agent(agent_file: AgentFile, *, is_default: bool = False) -> list[str]:
    """A human-readable summary of one agent's resolved config, secrets masked."""
    config = agent_file.config
    agent = config.agent
    default_mark = "  (default agent)" if is_default else ""
    lines = [f"agent {agent.id!r}{default_mark}", _row("file", agent_file.source)]
    if agent.alias is not None:
        lines.append(_row("name", agent.name))
    lines.append(_row("model", config.model_string))
    lines.extend(_describe_llm(config.llm))
    prompt_lines = agent.system_prompt.count("\n") + 1
    plural = "s" if prompt_lines != 1 else ""
    lines.append(_row("system_prompt", f"{len(agent.system_prompt)} chars, {prompt_lines} line{plural}"))
    if agent.context:
        lines.append(_row("context", f"{len(agent.context)} extra paragraph(s) appended to the system prompt"))
    lines.append(_row("turn_depth", agent.turn_depth))
    optional = {
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens if agent.max_tokens is not None else config.llm.max_tokens,
        "reasoning_effort": agent.reasoning_effort,
        "context_window": agent.context_window,
    }
    lines.extend(_row(key, value) for key, value in optional.items() if value is not None)
    lines.append(_row("owned_by", f"{agent.model_owner or config.llm.provider}"))
    lines.append(_row("created", f"{agent_file.created_at_ms // 1000}"))
    tool_timeout = f"{agent.tool_timeout_secs:g} s" if agent.tool_timeout_secs else "none"
    result_limit = agent.max_tool_result_chars or "no limit"
    lines.append(_row("tool timeout", f"{tool_timeout}; results cut at {result_limit} chars"))

    servers = config.mcp_servers
    if servers:
        sanitize = "on" if config.mcp is None or config.mcp.sanitize_schemas else "off"
        lines.append(f"  mcp servers ({len(servers)}, schema sanitizing {sanitize}):")
        for server_id, server in servers.items():
            lines.append(f"    {server_id}: {_describe_server(server)}")
    else:
        lines.append(_row("mcp servers", "none"))
    if config.vector_stores:
        lines.append(f"  vector stores ({len(config.vector_stores)}):")
        lines.extend(f"    {_describe_store(store)}" for store in config.vector_stores)
    else:
        lines.append(_row("vector stores", "none"))
    tools = config.tools
    if tools is not None and tools.custom_tools:
        lines.append(_row("custom_tools", f"{', '.join(tools.custom_tools)} (not supported, ignored)"))
    approval = config.approval
    if approval is not None and approval.enabled:
        webhook = f", webhook {approval.webhook.url}" if approval.webhook is not None else ""
        lines.append(
            _row("approval", f"default {approval.default}, decisions awaited {approval.timeout_secs:g} s{webhook}")
        )
        lines.extend(
            f"    rule {index}: server {rule.server!r} tool {rule.tool!r} -> {rule.ask}"
            for index, rule in enumerate(approval.rules)
        )
        lines.append("    (`aura check --tools` lists which tools will ask, and why)")
    else:
        lines.append(_row("approval", "off (every tool call runs without asking)"))
    # imported here: the container pulls in dependency_injector, which `aura serve` keeps out of its imports
    from aura.entrypoints.container import check_available

    for problem in check_available(config):
        lines.append(_row("not in this build", problem))
    return lines


def _row(key: str, value: object) -> str:
    return f"  {key + ':':<19}{value}"


def _describe_llm(llm: LlmConfig) -> list[str]:
    if isinstance(llm, BedrockConfig):
        profile = f" (profile {llm.profile})" if llm.profile else ""
        return [_row("region", llm.region + profile)]
    if isinstance(llm, OllamaConfig):
        rows = [_row("base_url", llm.base_url)]
        if llm.fallback_tool_parsing:
            rows.append(_row("tool parsing", "fallback (tool calls written as text are recognised)"))
        if llm.options:
            rows.append(_row("options", ", ".join(f"{key}={value}" for key, value in llm.options.items())))
        return rows
    if isinstance(llm, LlamaCppConfig):
        where = llm.model_path or "(bundled)"
        return [_row("model_path", f"{where}; n_ctx={llm.n_ctx}; tool_calling={llm.tool_calling}")]
    rows = [_row("api_key", llm.api_key)]
    if llm.base_url:
        rows.append(_row("base_url", llm.base_url))
    return rows


def _describe_server(server: StdioServerConfig | HttpStreamableServerConfig | SseServerConfig) -> str:
    if isinstance(server, StdioServerConfig):
        text = f"stdio  {' '.join(server.argv)}"
        if server.env:
            text += "  env: " + ", ".join(f"{key}=***" for key in server.env)
        if server.cwd:
            text += f"  cwd: {server.cwd}"
    else:
        text = f"{server.transport}  {server.url}"
        if server.headers:
            text += "  headers: " + ", ".join(f"{key}=***" for key in server.headers)
        if server.headers_from_request:
            forwarded = server.headers_from_request.items()
            text += "  forwarded: " + ", ".join(f"{out}<-{incoming}" for out, incoming in forwarded)
    flags = ["required" if server.required else "optional"]
    if server.timeout_secs:
        flags.append(f"timeout {server.timeout_secs:g} s")
    return f"{text}  ({', '.join(flags)})"


def _describe_embedding(embedding: EmbeddingModelConfig) -> str:
    if isinstance(embedding, BedrockEmbeddingConfig):
        return f"bedrock/{embedding.model} in {embedding.region}"
    return f"{embedding.provider}/{embedding.model}"


def _describe_store(store: VectorStoreConfig) -> str:
    if isinstance(store, InMemoryStoreConfig):
        where = f"file {store.path}" if store.path else "not persisted"
        detail = f"in_memory ({where}), embeddings {_describe_embedding(store.embedding_model)}"
    elif isinstance(store, QdrantStoreConfig):
        where = store.url or (f"embedded at {store.path}" if store.path else "embedded in memory")
        key = ", api_key ***" if store.api_key is not None else ""
        detail = (
            f"qdrant collection '{store.collection_name}' at {where}{key}, "
            f"embeddings {_describe_embedding(store.embedding_model)}"
        )
    elif isinstance(store, BedrockKbStoreConfig):
        detail = f"bedrock_kb {store.knowledge_base_id} in {store.region}"
    else:  # pragma: no cover - the union is exhaustive
        detail = store.type
    if isinstance(store, InMemoryStoreConfig | QdrantStoreConfig) and not store.required:
        detail += " (optional: /ready stays 200 while it is down)"
    return f"{store.name}: {detail}"
