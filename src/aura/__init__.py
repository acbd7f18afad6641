"""Aura: declarative LLM agents with MCP tools and RAG, served over an OpenAI-compatible API.

Everything a program needs is importable from here:

    from aura import Agent, AgentSettings, FunctionToolset, OpenAIChatModel

    tools = FunctionToolset("ops")

    @tools.tool
    def load_average() -> float:
        \"\"\"The host's one-minute load average.\"\"\"
        return 0.42

    settings = AgentSettings(name="sre", system_prompt="You are an SRE.")
    async with Agent(settings, OpenAIChatModel("gpt-4o", api_key="sk-..."), [tools]) as agent:
        print((await agent.run("What is the load?")).content)

Names are imported on first use (PEP 562), so `import aura` stays fast and a program that never
touches MCP or a provider SDK does not import it. `docs/library.md` describes every name of `__all__`;
the scripted model for tests is here too (`ScriptedChatModel`, `reply`, `call_tool`, from `aura.testing`).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("aura-agents")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

#: public name -> module defining it, read by `__getattr__`; equal to `__all__` (tests/unit/test_public_api.py).
_EXPORTS: dict[str, str] = {
    # the agent
    "Agent": "aura.domain.agent",
    "AgentSettings": "aura.domain.agent",
    "RequestContext": "aura.domain.tools",
    # conversation and turn events
    "Message": "aura.domain.messages",
    "SystemMessage": "aura.domain.messages",
    "UserMessage": "aura.domain.messages",
    "AssistantMessage": "aura.domain.messages",
    "ToolResultMessage": "aura.domain.messages",
    "ToolCall": "aura.domain.messages",
    "TurnEvent": "aura.domain.events",
    "TextDelta": "aura.domain.events",
    "ReasoningDelta": "aura.domain.events",
    "ToolRequested": "aura.domain.events",
    "ToolStarted": "aura.domain.events",
    "ToolProgress": "aura.domain.events",
    "ToolCompleted": "aura.domain.events",
    "RoundUsage": "aura.domain.events",
    "TurnFinished": "aura.domain.events",
    "TurnError": "aura.domain.events",
    "TurnErrorKind": "aura.domain.events",
    "FinishReason": "aura.domain.events",
    "Usage": "aura.domain.usage",
    # writing a model adapter: what `ChatModel.stream` yields
    "ModelEvent": "aura.domain.events",
    "ToolCallReady": "aura.domain.events",
    "UsageReported": "aura.domain.events",
    "ModelFinished": "aura.domain.events",
    # tools
    "FunctionToolset": "aura.adapters.tools.python_functions",
    "ToolSpec": "aura.domain.tools",
    "ToolResult": "aura.domain.tools",
    "ToolCallContext": "aura.domain.tools",
    "ProgressUpdate": "aura.domain.tools",
    "ClientToolPolicy": "aura.domain.tools",
    "McpToolset": "aura.adapters.mcp",
    "StdioTransport": "aura.adapters.mcp",
    "StreamableHttpTransport": "aura.adapters.mcp",
    "SseTransport": "aura.adapters.mcp",
    "VectorSearchToolset": "aura.domain.vector_search",
    "Document": "aura.ports.vector_store",
    "SearchHit": "aura.ports.vector_store",
    # ports: what you implement to plug in your own adapter
    "ChatModel": "aura.ports.chat_model",
    "ChatRequest": "aura.ports.chat_model",
    "GenerationSettings": "aura.ports.chat_model",
    "Toolset": "aura.ports.toolset",
    "StartableToolset": "aura.ports.toolset",
    "VectorStore": "aura.ports.vector_store",
    "Embedder": "aura.ports.vector_store",
    "SupportsCheck": "aura.ports.vector_store",
    "SessionStore": "aura.ports.session_store",
    "Tracer": "aura.ports.tracer",
    "Span": "aura.ports.tracer",
    "SpanKind": "aura.ports.tracer",
    "NoopTracer": "aura.ports.tracer",
    "Clock": "aura.ports.clock",
    "SystemClock": "aura.ports.clock",
    # model adapters
    "OpenAIChatModel": "aura.adapters.llm.openai",
    "AnthropicChatModel": "aura.adapters.llm.anthropic",
    "BedrockChatModel": "aura.adapters.llm.bedrock",
    "GeminiChatModel": "aura.adapters.llm.gemini",
    "OllamaChatModel": "aura.adapters.llm.ollama",
    "RetryPolicy": "aura.adapters.llm.retry",
    # vector stores and embedders
    "InMemoryVectorStore": "aura.adapters.vectors.in_memory",
    "QdrantVectorStore": "aura.adapters.vectors.qdrant",
    "OpenAIEmbedder": "aura.adapters.embeddings.openai",
    "InMemorySessionStore": "aura.adapters.sessions.in_memory",
    "RedisSessionStore": "aura.adapters.sessions.redis",
    # human approval of tool calls
    "ApprovalPolicy": "aura.domain.approval_policy",
    "ApprovalOverride": "aura.domain.approval_policy",
    "ApprovalRule": "aura.domain.approval_policy",
    "ToolAnnotations": "aura.domain.approval_policy",
    "ApprovalGate": "aura.domain.approvals",
    "ApprovalDecision": "aura.domain.approvals",
    "Decision": "aura.domain.approvals",
    "DecisionSource": "aura.domain.approvals",
    "ApprovalRequested": "aura.domain.events",
    "ApprovalDecided": "aura.domain.events",
    # from configuration: the one assembly point
    "AgentContainer": "aura.entrypoints.container",
    "build_agents": "aura.entrypoints.container",
    "open_agents": "aura.entrypoints.container",
    "load_config": "aura.entrypoints.config",
    "AgentConfig": "aura.entrypoints.config",
    # serving over the OpenAI-compatible API
    "ServerOptions": "aura.adapters.http",
    "create_app": "aura.adapters.http",
    "start_app": "aura.adapters.http",
    "serve": "aura.adapters.http",
    # test doubles (the rest of `aura.testing` stays there)
    "ScriptedChatModel": "aura.testing",
    "ScriptedRound": "aura.testing",
    "reply": "aura.testing",
    "call_tool": "aura.testing",
    "call_tools": "aura.testing",
    # errors you may catch
    "AuraError": "aura.domain.errors",
    "AgentClosedError": "aura.domain.errors",
    "ProviderError": "aura.domain.errors",
    "ProviderErrorKind": "aura.domain.errors",
    "ConfigError": "aura.entrypoints.config",
    "McpServerUnavailable": "aura.adapters.mcp",
    "VectorStoreError": "aura.domain.vector_search",
}

#: public names whose attribute in the defining module is spelled differently
_RENAMED = {"serve": "run_server"}

__all__ = [
    "Agent",
    "AgentClosedError",
    "AgentConfig",
    "AgentContainer",
    "AgentSettings",
    "AnthropicChatModel",
    "ApprovalDecided",
    "ApprovalDecision",
    "ApprovalGate",
    "ApprovalOverride",
    "ApprovalPolicy",
    "ApprovalRequested",
    "ApprovalRule",
    "AssistantMessage",
    "AuraError",
    "BedrockChatModel",
    "ChatModel",
    "ChatRequest",
    "ClientToolPolicy",
    "Clock",
    "ConfigError",
    "Decision",
    "DecisionSource",
    "Document",
    "Embedder",
    "FinishReason",
    "FunctionToolset",
    "GeminiChatModel",
    "GenerationSettings",
    "InMemorySessionStore",
    "InMemoryVectorStore",
    "McpServerUnavailable",
    "McpToolset",
    "Message",
    "ModelEvent",
    "ModelFinished",
    "NoopTracer",
    "OllamaChatModel",
    "OpenAIChatModel",
    "OpenAIEmbedder",
    "ProgressUpdate",
    "ProviderError",
    "ProviderErrorKind",
    "QdrantVectorStore",
    "ReasoningDelta",
    "RedisSessionStore",
    "RequestContext",
    "RetryPolicy",
    "RoundUsage",
    "ScriptedChatModel",
    "ScriptedRound",
    "SearchHit",
    "ServerOptions",
    "SessionStore",
    "Span",
    "SpanKind",
    "SseTransport",
    "StartableToolset",
    "StdioTransport",
    "StreamableHttpTransport",
    "SupportsCheck",
    "SystemClock",
    "SystemMessage",
    "TextDelta",
    "ToolAnnotations",
    "ToolCall",
    "ToolCallContext",
    "ToolCallReady",
    "ToolCompleted",
    "ToolProgress",
    "ToolRequested",
    "ToolResult",
    "ToolResultMessage",
    "ToolSpec",
    "ToolStarted",
    "Toolset",
    "Tracer",
    "TurnError",
    "TurnErrorKind",
    "TurnEvent",
    "TurnFinished",
    "Usage",
    "UsageReported",
    "UserMessage",
    "VectorSearchToolset",
    "VectorStore",
    "VectorStoreError",
    "__version__",
    "build_agents",
    "call_tool",
    "call_tools",
    "create_app",
    "load_config",
    "open_agents",
    "reply",
    "serve",
    "start_app",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aura' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), _RENAMED.get(name, name))
    globals()[name] = value  # the next lookup is a plain attribute read
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and IDEs see; kept equal to `_EXPORTS` by tests/unit/test_public_api.py
    from aura.adapters.embeddings.openai import OpenAIEmbedder
    from aura.adapters.http import ServerOptions, create_app, start_app
    from aura.adapters.http import run_server as serve
    from aura.adapters.llm.anthropic import AnthropicChatModel
    from aura.adapters.llm.bedrock import BedrockChatModel
    from aura.adapters.llm.gemini import GeminiChatModel
    from aura.adapters.llm.ollama import OllamaChatModel
    from aura.adapters.llm.openai import OpenAIChatModel
    from aura.adapters.llm.retry import RetryPolicy
    from aura.adapters.mcp import (
        McpServerUnavailable,
        McpToolset,
        SseTransport,
        StdioTransport,
        StreamableHttpTransport,
    )
    from aura.adapters.sessions.in_memory import InMemorySessionStore
    from aura.adapters.sessions.redis import RedisSessionStore
    from aura.adapters.tools.python_functions import FunctionToolset
    from aura.adapters.vectors.in_memory import InMemoryVectorStore
    from aura.adapters.vectors.qdrant import QdrantVectorStore
    from aura.domain.agent import Agent, AgentSettings
    from aura.domain.approval_policy import ApprovalOverride, ApprovalPolicy, ApprovalRule, ToolAnnotations
    from aura.domain.approvals import ApprovalDecision, ApprovalGate, Decision, DecisionSource
    from aura.domain.errors import AgentClosedError, AuraError, ProviderError, ProviderErrorKind
    from aura.domain.events import (
        ApprovalDecided,
        ApprovalRequested,
        FinishReason,
        ModelEvent,
        ModelFinished,
        ReasoningDelta,
        RoundUsage,
        TextDelta,
        ToolCallReady,
        ToolCompleted,
        ToolProgress,
        ToolRequested,
        ToolStarted,
        TurnError,
        TurnErrorKind,
        TurnEvent,
        TurnFinished,
        UsageReported,
    )
    from aura.domain.messages import (
        AssistantMessage,
        Message,
        SystemMessage,
        ToolCall,
        ToolResultMessage,
        UserMessage,
    )
    from aura.domain.tools import (
        ClientToolPolicy,
        ProgressUpdate,
        RequestContext,
        ToolCallContext,
        ToolResult,
        ToolSpec,
    )
    from aura.domain.usage import Usage
    from aura.domain.vector_search import VectorSearchToolset, VectorStoreError
    from aura.entrypoints.config import AgentConfig, ConfigError, load_config
    from aura.entrypoints.container import AgentContainer, build_agents, open_agents
    from aura.ports.chat_model import ChatModel, ChatRequest, GenerationSettings
    from aura.ports.clock import Clock, SystemClock
    from aura.ports.session_store import SessionStore
    from aura.ports.toolset import StartableToolset, Toolset
    from aura.ports.tracer import NoopTracer, Span, SpanKind, Tracer
    from aura.ports.vector_store import Document, Embedder, SearchHit, SupportsCheck, VectorStore
    from aura.testing import ScriptedChatModel, ScriptedRound, call_tool, call_tools, reply
