"""The container's provider factories: from config to objects (chat models, toolsets, stores, settings).

Only `aura.entrypoints.container` calls these; everything else asks the container. Each factory calls its
adapter's constructor directly, so mypy checks every argument against the adapter's signature. Adapter
modules are imported inside the factories: a build without a provider's SDK (or an optional extra such as
llama.cpp) still loads configs that do not use it, `aura serve` imports `mcp` only when an agent has an MCP
server, and one missing adapter is reported as a `ConfigError` naming the provider instead of an import
traceback at startup.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aura.adapters.llm.retry import RetryPolicy
from aura.domain.agent import AgentSettings, BackgroundTaskPolicy
from aura.domain.approval_policy import ApprovalOverride, ApprovalPolicy, ApprovalRule
from aura.domain.approvals import ApprovalGate
from aura.domain.errors import ProviderError
from aura.domain.tools import ClientToolPolicy
from aura.domain.vector_search import VectorSearchToolset
from aura.entrypoints.config.errors import ConfigError, ConfigProblem, KeyPath
from aura.entrypoints.config.schema import (
    AgentConfig,
    AnthropicConfig,
    BedrockConfig,
    BedrockEmbeddingConfig,
    BedrockKbStoreConfig,
    EmbeddingModelConfig,
    GeminiConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    LlmConfig,
    LocalEmbeddingConfig,
    McpServerConfig,
    OllamaConfig,
    OpenAIConfig,
    OpenAIEmbeddingConfig,
    QdrantStoreConfig,
    SseServerConfig,
    StdioServerConfig,
    VectorStoreConfig,
    validate_config,
)
from aura.ports.chat_model import ChatModel
from aura.ports.clock import Clock, SystemClock
from aura.ports.session_store import SessionStore, SessionStoreError
from aura.ports.toolset import Toolset
from aura.ports.vector_store import Embedder, VectorStore

LOCAL_HINT = "pip install 'aura-agents[local]'"
EMBEDDINGS_HINT = "pip install 'aura-agents[embeddings]'"

#: provider tag -> (adapter module, pip hint for its optional dependency). Read by `check_available` and
#: before every build, so a missing module is named the same way in both.
LLM_ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("aura.adapters.llm.openai", ""),
    "anthropic": ("aura.adapters.llm.anthropic", ""),
    "bedrock": ("aura.adapters.llm.bedrock", ""),
    "gemini": ("aura.adapters.llm.gemini", ""),
    "ollama": ("aura.adapters.llm.ollama", ""),
    "llamacpp": ("aura.adapters.llm.llamacpp", LOCAL_HINT),
}
MCP_MODULE = "aura.adapters.mcp"
STORE_ADAPTERS: dict[str, str] = {
    "in_memory": "aura.adapters.vectors.in_memory",
    "qdrant": "aura.adapters.vectors.qdrant",
    "bedrock_kb": "aura.adapters.vectors.bedrock_kb",
}
EMBEDDER_ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("aura.adapters.embeddings.openai", ""),
    "bedrock": ("aura.adapters.embeddings.bedrock", ""),
    "local": ("aura.adapters.embeddings.local", EMBEDDINGS_HINT),
}


def require_adapter(module_name: str, what: str, path: KeyPath, install_hint: str = "") -> None:
    """Import an adapter module, or raise a `ConfigError` saying what this build lacks."""
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise ConfigError(f"{what} is not available in this build", problems=[ConfigProblem(path, what)]) from None
        hint = f" ({install_hint})" if install_hint else ""
        raise ConfigError(
            f"{what} needs the Python package '{missing}', which is not installed{hint}",
            problems=[ConfigProblem(path, what)],
        ) from None


@contextmanager
def building(what: str, key_path: KeyPath) -> Iterator[None]:
    """An adapter constructor's refusal of a value becomes a `ConfigError` at that key path."""
    try:
        yield
    except ProviderError as error:
        raise ConfigError(f"{what}: {error.message}", problems=[ConfigProblem(key_path, error.message)]) from None
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{what}: {error}", problems=[ConfigProblem(key_path, str(error))]) from None


def retry_policy(llm: LlmConfig) -> RetryPolicy:
    """`max_retries` counts retries, so attempts = retries + 1."""
    return RetryPolicy(max_attempts=llm.max_retries + 1)


def check_available(config: AgentConfig) -> list[str]:
    """What this build lacks to run a config (adapter modules, optional packages), without connecting.

    Used by `aura check`; an empty list means every adapter the config names can be imported.
    """
    needed: list[tuple[str, str, KeyPath, str]] = []
    module, hint = LLM_ADAPTERS[config.llm.provider]
    needed.append((module, f"provider '{config.llm.provider}'", ("llm", "provider"), hint))
    if config.mcp_servers:
        needed.append((MCP_MODULE, "MCP support", ("mcp",), ""))
    for index, store in enumerate(config.vector_stores):
        what = f"vector store type '{store.type}'"
        needed.append((STORE_ADAPTERS[store.type], what, ("vector_stores", index, "type"), ""))
        embedding = getattr(store, "embedding_model", None)
        if embedding is not None:
            module, hint = EMBEDDER_ADAPTERS[embedding.provider]
            what = f"embedding provider '{embedding.provider}'"
            needed.append((module, what, ("vector_stores", index, "embedding_model", "provider"), hint))
    problems: list[str] = []
    for module, what, path, hint in needed:
        try:
            require_adapter(module, what, path, hint)
        except ConfigError as error:
            problems.append(error.detail)
    return problems


# ------------------------------------------------------------------------------------------ chat model


def build_chat_model(llm: LlmConfig) -> ChatModel:
    """The `ChatModel` adapter for an `[llm]` table. Creates the SDK client; makes no network call."""
    module, hint = LLM_ADAPTERS[llm.provider]
    what = f"provider '{llm.provider}'"
    require_adapter(module, what, ("llm", "provider"), hint)
    with building(what, ("llm",)):
        if isinstance(llm, OpenAIConfig):
            return openai_chat_model(llm)
        if isinstance(llm, AnthropicConfig):
            return anthropic_chat_model(llm)
        if isinstance(llm, BedrockConfig):
            return bedrock_chat_model(llm)
        if isinstance(llm, GeminiConfig):
            return gemini_chat_model(llm)
        if isinstance(llm, OllamaConfig):
            return ollama_chat_model(llm)
        if isinstance(llm, LlamaCppConfig):
            return llamacpp_chat_model(llm)
    raise ConfigError(f"{what} is not available in this build")  # pragma: no cover - the union is exhaustive


def openai_chat_model(llm: OpenAIConfig) -> ChatModel:
    from aura.adapters.llm.openai import OpenAIChatModel

    return OpenAIChatModel(
        llm.model,
        llm.api_key.reveal(),
        llm.base_url,
        request_timeout=llm.request_timeout_secs,
        retry=retry_policy(llm),
        max_connections=llm.max_connections,
        pool_timeout=llm.pool_timeout_secs,
    )


def anthropic_chat_model(llm: AnthropicConfig) -> ChatModel:
    from aura.adapters.llm.anthropic import DEFAULT_MAX_TOKENS, AnthropicChatModel

    return AnthropicChatModel(
        llm.model,
        llm.api_key.reveal(),
        llm.base_url,
        default_max_tokens=llm.max_tokens if llm.max_tokens is not None else DEFAULT_MAX_TOKENS,
        request_timeout=llm.request_timeout_secs,
        retry=retry_policy(llm),
    )


def bedrock_chat_model(llm: BedrockConfig) -> ChatModel:
    from aura.adapters.llm.bedrock import BedrockChatModel

    return BedrockChatModel(
        llm.model,
        llm.region,
        llm.profile,
        endpoint_url=llm.endpoint_url,
        request_timeout=llm.request_timeout_secs,
        retry=retry_policy(llm),
    )


def gemini_chat_model(llm: GeminiConfig) -> ChatModel:
    from aura.adapters.llm.gemini import GeminiChatModel

    return GeminiChatModel(
        llm.model,
        llm.api_key.reveal(),
        llm.base_url,
        request_timeout=llm.request_timeout_secs,
        retry=retry_policy(llm),
    )


def ollama_chat_model(llm: OllamaConfig) -> ChatModel:
    from aura.adapters.llm.ollama import OllamaChatModel

    return OllamaChatModel(
        llm.model,
        llm.base_url,
        fallback_tool_parsing=llm.fallback_tool_parsing,
        options=llm.options or None,
        request_timeout=llm.request_timeout_secs,
        retry=retry_policy(llm),
    )


def llamacpp_chat_model(llm: LlamaCppConfig) -> ChatModel:
    from aura.adapters.llm.llamacpp import LlamaCppChatModel

    return LlamaCppChatModel(
        llm.model,
        llm.model_path,
        n_ctx=llm.n_ctx,
        n_threads=llm.n_threads,
        tool_calling=llm.tool_calling,
        max_tools_offered=llm.max_tools_offered,
    )


# -------------------------------------------------------------------------------------------- toolsets


def build_toolsets(config: AgentConfig, vector_stores: Mapping[str, VectorStore] | None = None) -> list[Toolset]:
    """Every toolset of an agent, in config order: MCP servers, one search tool per vector store, files.

    `vector_stores` are the stores to search, by name (the container's `vector_stores`); built from the
    config when not given. MCP toolsets are created unconnected; the agent's `start()` connects them.
    """
    stores = build_vector_stores(config) if vector_stores is None else vector_stores
    toolsets: list[Toolset] = []
    if config.mcp is not None:
        for server_id, server in config.mcp.servers.items():
            toolsets.append(build_mcp_toolset(server_id, server, sanitize_schemas=config.mcp.sanitize_schemas))
    for store in config.vector_stores:
        # a knowledge base is not checked by readiness (see BedrockKnowledgeBaseStore), so it has no `required`
        required = store.required if isinstance(store, InMemoryStoreConfig | QdrantStoreConfig) else True
        toolsets.append(VectorSearchToolset(store.name, stores[store.name], store.context_prefix, required=required))
    if config.tools is not None and config.tools.filesystem:
        toolsets.append(build_filesystem_toolset(config.tools.filesystem_root))
    return toolsets


def build_filesystem_toolset(root: str | None) -> Toolset:
    """`read_file` / `list_directory` below `filesystem_root` (default: the working directory)."""
    from aura.adapters.tools.filesystem import FilesystemToolset

    try:
        return FilesystemToolset(root or ".")
    except ValueError as error:
        raise ConfigError(
            f"tools.filesystem_root: {error}",
            problems=[ConfigProblem(("tools", "filesystem_root"), "expected an existing directory")],
        ) from error


def build_mcp_toolset(server_id: str, server: McpServerConfig, *, sanitize_schemas: bool = True) -> Toolset:
    """An unconnected MCP toolset (it is a `StartableToolset`: the agent's `start()` connects it)."""
    path: KeyPath = ("mcp", "servers", server_id)
    require_adapter(MCP_MODULE, "MCP support", path)
    from aura.adapters.mcp import McpToolset, SseTransport, StdioTransport, StreamableHttpTransport

    with building(f"MCP server '{server_id}'", path):
        transport: StdioTransport | StreamableHttpTransport | SseTransport
        if isinstance(server, StdioServerConfig):
            argv = server.argv
            env = {key: value.reveal() for key, value in server.env.items()}
            transport = StdioTransport(argv[0], argv[1:], env, server.cwd)
        else:
            # An empty value (say, an unset variable with `default: ''`) means "do not send this header".
            headers = {key: value.reveal() for key, value in server.headers.items() if value.reveal()}
            forwarded = dict(server.headers_from_request)
            if isinstance(server, SseServerConfig):
                transport = SseTransport(server.url, headers, forwarded)
            else:
                assert isinstance(server, HttpStreamableServerConfig)
                transport = StreamableHttpTransport(server.url, headers, forwarded)
        pool: dict[str, Any] = {}
        if not isinstance(server, StdioServerConfig):
            pool = {"pool_max_idle": server.pool_max_idle, "pool_idle_secs": server.pool_idle_secs}
        return McpToolset(
            server_id,
            transport,
            sanitize_schemas=sanitize_schemas,
            call_timeout=server.timeout_secs or None,
            connect_timeout=server.connect_timeout_secs,
            required=server.required,
            description=server.description,
            max_result_bytes=server.max_result_bytes,
            **pool,
        )


def build_embedder(embedding: EmbeddingModelConfig, *, path: KeyPath = ("embedding_model",)) -> Embedder:
    module, hint = EMBEDDER_ADAPTERS[embedding.provider]
    what = f"embedding provider '{embedding.provider}'"
    require_adapter(module, what, (*path, "provider"), hint)
    with building(what, path):
        if isinstance(embedding, OpenAIEmbeddingConfig):
            from aura.adapters.embeddings.openai import OpenAIEmbedder

            return OpenAIEmbedder(embedding.model, embedding.api_key.reveal(), embedding.base_url)
        if isinstance(embedding, BedrockEmbeddingConfig):
            from aura.adapters.embeddings.bedrock import BedrockEmbedder

            return BedrockEmbedder(
                embedding.model, embedding.region, embedding.profile, endpoint_url=embedding.endpoint_url
            )
        if isinstance(embedding, LocalEmbeddingConfig):
            from aura.adapters.embeddings.local import LocalEmbedder

            return LocalEmbedder(embedding.model)
    raise ConfigError(f"{what} is not available in this build")  # pragma: no cover - the union is exhaustive


def build_vector_store(store: VectorStoreConfig, *, path: KeyPath = ("vector_stores",)) -> VectorStore:
    require_adapter(STORE_ADAPTERS[store.type], f"vector store type '{store.type}'", (*path, "type"))
    what = f"vector store '{store.name}'"
    if isinstance(store, InMemoryStoreConfig):
        from aura.adapters.vectors.in_memory import InMemoryVectorStore

        embedder = build_embedder(store.embedding_model, path=(*path, "embedding_model"))
        with building(what, path):
            return InMemoryVectorStore(embedder, store.path)
    if isinstance(store, QdrantStoreConfig):
        from aura.adapters.vectors.qdrant import QdrantVectorStore

        embedder = build_embedder(store.embedding_model, path=(*path, "embedding_model"))
        api_key = (store.api_key.reveal() if store.api_key is not None else "") or None
        with building(what, path):
            return QdrantVectorStore(embedder, store.collection_name, url=store.url, path=store.path, api_key=api_key)
    if isinstance(store, BedrockKbStoreConfig):
        from aura.adapters.vectors.bedrock_kb import BedrockKnowledgeBaseStore

        with building(what, path):
            return BedrockKnowledgeBaseStore(
                store.knowledge_base_id, store.region, store.profile, endpoint_url=store.endpoint_url
            )
    raise ConfigError(f"vector store type '{store.type}' is not available in this build")  # pragma: no cover


def build_vector_stores(config: AgentConfig) -> dict[str, VectorStore]:
    """Every `[[vector_stores]]` entry of an agent by name, in config order."""
    return {
        store.name: build_vector_store(store, path=("vector_stores", index))
        for index, store in enumerate(config.vector_stores)
    }


# ------------------------------------------------------------------------------------------- settings


def build_agent_settings(config: AgentConfig, *, default_created_at_ms: int | None = None) -> AgentSettings:
    """The domain's `AgentSettings` from `[agent]` (plus `[llm] max_tokens` as the default output cap)."""
    problems = validate_config(config)
    if problems:
        raise ConfigError.from_problems(None, problems)
    agent = config.agent
    return AgentSettings(
        name=agent.name,
        system_prompt=agent.system_prompt,
        alias=agent.alias,
        context=agent.context,
        temperature=agent.temperature,
        max_tokens=agent.max_tokens if agent.max_tokens is not None else config.llm.max_tokens,
        reasoning_effort=agent.reasoning_effort,
        turn_depth=agent.turn_depth,
        context_window=agent.context_window,
        model_owner=agent.model_owner,
        created_at_ms=agent.created_at if agent.created_at is not None else default_created_at_ms,
        tool_timeout_secs=agent.tool_timeout_secs or None,
        max_tool_result_chars=agent.max_tool_result_chars,
        client_tools=ClientToolPolicy(agent.client_tools.enabled, agent.client_tools.allow),
        background_tasks=BackgroundTaskPolicy(
            agent.background_tasks.agent, agent.background_tasks.tools, agent.background_tasks.max_tokens
        ),
    )


def build_approval_policy(config: AgentConfig) -> ApprovalPolicy:
    """The `[approval]` table as the domain's policy (disabled when the table is absent or `enabled = false`)."""
    approval = config.approval
    if approval is None:
        return ApprovalPolicy()
    return ApprovalPolicy(
        enabled=approval.enabled,
        default=ApprovalRule(approval.default),
        overrides=tuple(ApprovalOverride(ApprovalRule(rule.ask), rule.server, rule.tool) for rule in approval.rules),
        timeout_secs=approval.timeout_secs,
    )


def build_approval_gate(
    config: AgentConfig, settings: AgentSettings, store: SessionStore | None, clock: Clock | None
) -> ApprovalGate | None:
    """The agent's approval gate, or None when it asks for nothing (no `[approval]` or `enabled = false`)."""
    policy = build_approval_policy(config)
    if not policy.enabled:
        return None
    if store is None:
        from aura.adapters.sessions.in_memory import InMemorySessionStore

        store = InMemorySessionStore()
    webhook = config.approval.webhook if config.approval is not None else None
    notifier = None
    secret = None
    if webhook is not None:
        from aura.adapters.approvals.webhook import ApprovalWebhook

        secret = webhook.secret.reveal() if webhook.secret is not None else None
        notifier = ApprovalWebhook(
            webhook.url,
            secret=secret,
            forward_headers=webhook.forward_headers,
            timeout_secs=webhook.timeout_secs,
            decide_base_url=webhook.decide_base_url,
        )
    return ApprovalGate(
        policy, store, clock or SystemClock(), agent_id=settings.id, notifier=notifier, decision_secret=secret
    )


def build_session_store(url: str | None) -> SessionStore | None:
    """`SESSION_STORE_URL`: a Redis store for a `redis://` / `rediss://` URL, None (in-process) when unset."""
    if url is None:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            "SESSION_STORE_URL: expected a redis://, rediss:// or unix:// URL",
            problems=[ConfigProblem(("SESSION_STORE_URL",), "expected a redis://, rediss:// or unix:// URL")],
        )
    from aura.adapters.sessions.redis import RedisSessionStore

    try:
        return RedisSessionStore(url)
    except SessionStoreError as error:
        raise ConfigError(f"SESSION_STORE_URL: {error}") from None


async def check_session_store(store: SessionStore | None) -> None:
    """Fail the start when a configured shared store cannot be reached (one clear line, not a traceback)."""
    ping = getattr(store, "ping", None)
    if ping is not None:
        try:
            await ping()
        except SessionStoreError as error:
            raise ConfigError(f"SESSION_STORE_URL: {error}") from None
