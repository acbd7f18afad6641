"""From config to objects: chat models, toolsets and agent settings.

Adapter modules are imported inside the functions, so a build without a provider's SDK (or an
optional extra such as llama.cpp) still loads configs that do not use it, and one missing adapter
is reported as a `ConfigError` naming the provider instead of an import traceback at startup.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from aura.adapters.llm.retry import RetryPolicy
from aura.domain.agent import AgentSettings
from aura.domain.approval_policy import ApprovalOverride, ApprovalPolicy, ApprovalRule
from aura.domain.approvals import ApprovalGate
from aura.domain.errors import ProviderError
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

#: provider tag -> (adapter module, class name, pip hint for its optional dependency)
LLM_ADAPTERS: dict[str, tuple[str, str, str]] = {
    "openai": ("aura.adapters.llm.openai", "OpenAIChatModel", ""),
    "anthropic": ("aura.adapters.llm.anthropic", "AnthropicChatModel", ""),
    "bedrock": ("aura.adapters.llm.bedrock", "BedrockChatModel", ""),
    "gemini": ("aura.adapters.llm.gemini", "GeminiChatModel", ""),
    "ollama": ("aura.adapters.llm.ollama", "OllamaChatModel", ""),
    "llamacpp": ("aura.adapters.llm.llamacpp", "LlamaCppChatModel", "pip install 'aura-agents[local]'"),
}
MCP_MODULE = "aura.adapters.mcp"
STORE_ADAPTERS: dict[str, tuple[str, str]] = {
    "in_memory": ("aura.adapters.vectors.in_memory", "InMemoryVectorStore"),
    "qdrant": ("aura.adapters.vectors.qdrant", "QdrantVectorStore"),
    "bedrock_kb": ("aura.adapters.vectors.bedrock_kb", "BedrockKnowledgeBaseStore"),
}
EMBEDDER_ADAPTERS: dict[str, tuple[str, str, str]] = {
    "openai": ("aura.adapters.embeddings.openai", "OpenAIEmbedder", ""),
    "bedrock": ("aura.adapters.embeddings.bedrock", "BedrockEmbedder", ""),
    "local": ("aura.adapters.embeddings.local", "LocalEmbedder", "pip install 'aura-agents[embeddings]'"),
}


def _adapter_module(module_name: str, what: str, path: KeyPath, install_hint: str = "") -> ModuleType:
    """Import an adapter module, or raise a `ConfigError` saying what is missing from this build."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise ConfigError(f"{what} is not available in this build", problems=[ConfigProblem(path, what)]) from None
        hint = f" ({install_hint})" if install_hint else ""
        raise ConfigError(
            f"{what} needs the Python package '{missing}', which is not installed{hint}",
            problems=[ConfigProblem(path, what)],
        ) from None


def _adapter(module_name: str, class_name: str, what: str, path: KeyPath, install_hint: str = "") -> Any:
    """An adapter class, or a `ConfigError` saying what is missing from this build."""
    module = _adapter_module(module_name, what, path, install_hint)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ConfigError(f"{what} is not available in this build ({module_name} has no {class_name})") from None


def _construct(what: str, key_path: KeyPath, factory: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Call an adapter constructor; its refusal of a value becomes a `ConfigError` at that key path."""
    try:
        return factory(*args, **kwargs)
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
    needed: list[tuple[str, str, str, KeyPath, str]] = []
    module, cls, hint = LLM_ADAPTERS[config.llm.provider]
    needed.append((module, cls, f"provider '{config.llm.provider}'", ("llm", "provider"), hint))
    if config.mcp_servers:
        needed.append((MCP_MODULE, "McpToolset", "MCP support", ("mcp",), ""))
    for index, store in enumerate(config.vector_stores):
        module, cls = STORE_ADAPTERS[store.type]
        needed.append((module, cls, f"vector store type '{store.type}'", ("vector_stores", index, "type"), ""))
        embedding = getattr(store, "embedding_model", None)
        if embedding is not None:
            module, cls, hint = EMBEDDER_ADAPTERS[embedding.provider]
            what = f"embedding provider '{embedding.provider}'"
            needed.append((module, cls, what, ("vector_stores", index, "embedding_model", "provider"), hint))
    problems: list[str] = []
    for module, cls, what, path, hint in needed:
        try:
            _adapter(module, cls, what, path, hint)
        except ConfigError as error:
            problems.append(error.detail)
    return problems


# ------------------------------------------------------------------------------------------ chat model


def build_chat_model(llm: LlmConfig) -> ChatModel:
    """The `ChatModel` adapter for an `[llm]` table. Creates the SDK client; makes no network call."""
    module, class_name, hint = LLM_ADAPTERS[llm.provider]
    what = f"provider '{llm.provider}'"
    adapter = _adapter(module, class_name, what, ("llm", "provider"), hint)
    timeout = llm.request_timeout_secs
    model: ChatModel
    if isinstance(llm, OpenAIConfig | GeminiConfig):
        pool: dict[str, Any] = {}
        if isinstance(llm, OpenAIConfig):
            pool = {"max_connections": llm.max_connections, "pool_timeout": llm.pool_timeout_secs}
        model = _construct(
            what,
            ("llm",),
            adapter,
            llm.model,
            llm.api_key.reveal(),
            llm.base_url,
            request_timeout=timeout,
            retry=retry_policy(llm),
            **pool,
        )
    elif isinstance(llm, AnthropicConfig):
        kwargs: dict[str, Any] = {"request_timeout": timeout, "retry": retry_policy(llm)}
        if llm.max_tokens is not None:
            kwargs["default_max_tokens"] = llm.max_tokens
        model = _construct(what, ("llm",), adapter, llm.model, llm.api_key.reveal(), llm.base_url, **kwargs)
    elif isinstance(llm, BedrockConfig):
        model = _construct(
            what,
            ("llm",),
            adapter,
            llm.model,
            llm.region,
            llm.profile,
            endpoint_url=llm.endpoint_url,
            request_timeout=timeout,
            retry=retry_policy(llm),
        )
    elif isinstance(llm, OllamaConfig):
        model = _construct(
            what,
            ("llm",),
            adapter,
            llm.model,
            llm.base_url,
            fallback_tool_parsing=llm.fallback_tool_parsing,
            options=llm.options or None,
            request_timeout=timeout,
            retry=retry_policy(llm),
        )
    elif isinstance(llm, LlamaCppConfig):
        kwargs = {"n_ctx": llm.n_ctx, "n_threads": llm.n_threads, "tool_calling": llm.tool_calling}
        model = _construct(what, ("llm",), adapter, llm.model, llm.model_path, **kwargs)
    else:  # pragma: no cover - the union is exhaustive
        raise ConfigError(f"provider '{llm.provider}' is not available in this build")
    return model


# -------------------------------------------------------------------------------------------- toolsets


def build_toolsets(config: AgentConfig) -> list[Toolset]:
    """Every toolset of an agent, in config order: MCP servers, then one search tool per vector store.

    MCP toolsets are created unconnected; the caller starts them (`await toolset.start()`).
    """
    toolsets: list[Toolset] = []
    if config.mcp is not None:
        for server_id, server in config.mcp.servers.items():
            toolsets.append(build_mcp_toolset(server_id, server, sanitize_schemas=config.mcp.sanitize_schemas))
    for index, store in enumerate(config.vector_stores):
        toolsets.append(build_vector_search_toolset(store, path=("vector_stores", index)))
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
    path: KeyPath = ("mcp", "servers", server_id)
    module = _adapter_module(MCP_MODULE, "MCP support", path)
    what = f"MCP server '{server_id}'"
    transport: Any
    pool: dict[str, Any] = {}
    if isinstance(server, StdioServerConfig):
        argv = server.argv
        env = {key: value.reveal() for key, value in server.env.items()}
        transport = _construct(what, path, module.StdioTransport, argv[0], argv[1:], env, server.cwd)
    elif isinstance(server, HttpStreamableServerConfig | SseServerConfig):
        transport_class = module.SseTransport if isinstance(server, SseServerConfig) else module.StreamableHttpTransport
        # An empty value (say, an unset variable with `default: ''`) means "do not send this header".
        headers = {key: value.reveal() for key, value in server.headers.items() if value.reveal()}
        transport = _construct(what, path, transport_class, server.url, headers, dict(server.headers_from_request))
        pool = {"pool_max_idle": server.pool_max_idle, "pool_idle_secs": server.pool_idle_secs}
    else:  # pragma: no cover - the union is exhaustive
        raise ConfigError(f"{what}: transport '{server.transport}' is not available in this build")
    toolset: Toolset = _construct(
        what,
        path,
        module.McpToolset,
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
    return toolset


def build_embedder(embedding: EmbeddingModelConfig, *, path: KeyPath = ("embedding_model",)) -> Embedder:
    module, class_name, hint = EMBEDDER_ADAPTERS[embedding.provider]
    what = f"embedding provider '{embedding.provider}'"
    adapter = _adapter(module, class_name, what, (*path, "provider"), hint)
    embedder: Embedder
    if isinstance(embedding, OpenAIEmbeddingConfig):
        embedder = _construct(what, path, adapter, embedding.model, embedding.api_key.reveal(), embedding.base_url)
    elif isinstance(embedding, BedrockEmbeddingConfig):
        embedder = _construct(
            what,
            path,
            adapter,
            embedding.model,
            embedding.region,
            embedding.profile,
            endpoint_url=embedding.endpoint_url,
        )
    elif isinstance(embedding, LocalEmbeddingConfig):
        embedder = _construct(what, path, adapter, embedding.model)
    else:  # pragma: no cover - the union is exhaustive
        raise ConfigError(f"{what} is not available in this build")
    return embedder


def build_vector_store(store: VectorStoreConfig, *, path: KeyPath = ("vector_stores",)) -> VectorStore:
    module, class_name = STORE_ADAPTERS[store.type]
    what = f"vector store '{store.name}'"
    adapter = _adapter(module, class_name, f"vector store type '{store.type}'", (*path, "type"))
    vector_store: VectorStore
    if isinstance(store, InMemoryStoreConfig):
        embedder = build_embedder(store.embedding_model, path=(*path, "embedding_model"))
        vector_store = _construct(what, path, adapter, embedder, store.path)
    elif isinstance(store, QdrantStoreConfig):
        embedder = build_embedder(store.embedding_model, path=(*path, "embedding_model"))
        api_key = (store.api_key.reveal() if store.api_key is not None else "") or None
        vector_store = _construct(
            what, path, adapter, embedder, store.collection_name, url=store.url, path=store.path, api_key=api_key
        )
    elif isinstance(store, BedrockKbStoreConfig):
        vector_store = _construct(
            what, path, adapter, store.knowledge_base_id, store.region, store.profile, endpoint_url=store.endpoint_url
        )
    else:  # pragma: no cover - the union is exhaustive
        raise ConfigError(f"vector store type '{store.type}' is not available in this build")
    return vector_store


def build_vector_search_toolset(store: VectorStoreConfig, *, path: KeyPath = ("vector_stores",)) -> Toolset:
    return VectorSearchToolset(store.name, build_vector_store(store, path=path), store.context_prefix)


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
