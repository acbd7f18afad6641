"""The typed shape of one agent config file (one TOML file = one `AgentConfig`).

Every TOML table is a frozen attrs class; tagged tables (`[llm]` by `provider`, MCP servers by
`transport`, vector stores by `type`, embedding models by `provider`) are unions of classes whose
`TAG` class variable is the tag value. The same classes can be built in code:

    AgentConfig(
        llm=OpenAIConfig(model="gpt-4o", api_key=Secret("sk-...")),
        agent=AgentSection(name="Assistant", system_prompt="You are helpful."),
    )

Defaults here are the documented defaults; `loader.py` turns TOML into these classes and
`validate_config` applies the checks a type cannot express (non-empty keys, `cmd` xor `command`...).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs

from aura.entrypoints.config.errors import ConfigProblem, KeyPath

REASONING_EFFORTS = ("minimal", "low", "medium", "high")
ReasoningEffort = Literal["minimal", "low", "medium", "high"]
LlamaCppToolCalling = Literal["fallback", "native"]

#: attrs field metadata key marking a "lenient unsigned integer": an integer, or a float with
#: no fractional part (Helm renders `8000` as `8000.0`). The value is the bit width of the range.
LENIENT_UINT = "aura_lenient_uint_bits"

DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_LLAMACPP_MODEL = "smollm2-135m"
DEFAULT_LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class Secret:
    """A secret string (API key, header value, env value) that never shows itself by accident.

    `str()` and `repr()` are masked; `.reveal()` returns the value for the one place that needs it
    (the SDK client). `dump_config` writes the real value back.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a string, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))


def lenient_uint(default: int | None = None, *, bits: int = 32) -> Any:
    """An attrs field for a lenient unsigned integer (see `LENIENT_UINT`)."""
    return attrs.field(default=default, metadata={LENIENT_UINT: bits})


# ---------------------------------------------------------------------------------------------- [llm]


@attrs.frozen(kw_only=True)
class _LlmCommon:
    """Keys every `[llm]` provider accepts."""

    TAG: ClassVar[str]

    #: Default output cap per LLM call when `[agent] max_tokens` is not set.
    max_tokens: int | None = lenient_uint()
    request_timeout_secs: float = 600.0
    #: Retries of a failed call before its first token (so `max_retries + 1` attempts in all).
    max_retries: int = lenient_uint(3)

    @property
    def provider(self) -> str:
        return self.TAG


@attrs.frozen(kw_only=True)
class OpenAIConfig(_LlmCommon):
    """OpenAI Chat Completions, or any OpenAI-compatible endpoint through `base_url`."""

    TAG: ClassVar[str] = "openai"
    model: str
    api_key: Secret
    base_url: str | None = None
    #: Model requests of this agent in flight at once, each on its own connection.
    max_connections: int = lenient_uint(10_000)
    #: How long a request beyond `max_connections` waits for one before it fails with 503 (the model not called).
    pool_timeout_secs: float = 10.0


@attrs.frozen(kw_only=True)
class AnthropicConfig(_LlmCommon):
    TAG: ClassVar[str] = "anthropic"
    model: str
    api_key: Secret
    base_url: str | None = None


@attrs.frozen(kw_only=True)
class GeminiConfig(_LlmCommon):
    TAG: ClassVar[str] = "gemini"
    model: str
    api_key: Secret
    base_url: str | None = None


@attrs.frozen(kw_only=True)
class BedrockConfig(_LlmCommon):
    """AWS Bedrock ConverseStream; credentials from `profile` or the default AWS chain."""

    TAG: ClassVar[str] = "bedrock"
    model: str
    region: str
    profile: str | None = None
    #: Override of the Bedrock runtime endpoint (VPC endpoints, local fakes).
    endpoint_url: str | None = None


@attrs.frozen(kw_only=True)
class OllamaConfig(_LlmCommon):
    TAG: ClassVar[str] = "ollama"
    model: str
    base_url: str = DEFAULT_OLLAMA_URL
    fallback_tool_parsing: bool = False
    num_ctx: int | None = lenient_uint()
    num_predict: int | None = lenient_uint()
    #: Passed through as Ollama `options` (after `num_ctx`/`num_predict`, so these keys win).
    additional_params: Mapping[str, Any] = attrs.field(factory=dict)
    #: Accepted and ignored (with a warning) so one templated file can switch providers.
    api_key: Secret | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The Ollama request `options`: `num_ctx`, `num_predict`, then every `additional_params` key."""
        options: dict[str, Any] = {}
        if self.num_ctx is not None:
            options["num_ctx"] = self.num_ctx
        if self.num_predict is not None:
            options["num_predict"] = self.num_predict
        options.update(self.additional_params)
        return options


@attrs.frozen(kw_only=True)
class LlamaCppConfig(_LlmCommon):
    """A GGUF model run in-process by llama.cpp (needs the `aura-agents[local]` extra).

    `model` names a model bundled in an installed package (default `smollm2-135m` when neither
    `model` nor `model_path` is set); `model_path` points at any GGUF file instead.
    """

    TAG: ClassVar[str] = "llamacpp"
    model: str | None = None
    model_path: str | None = None
    n_ctx: int = lenient_uint(4096)
    n_threads: int | None = lenient_uint()
    tool_calling: LlamaCppToolCalling = "native"
    #: Native mode: offer only the tools (at most this many) that share words with the question; 0 = all.
    max_tools_offered: int = lenient_uint(0)

    @property
    def model_name(self) -> str:
        if self.model:
            return self.model
        if self.model_path:
            return Path(self.model_path).stem
        return DEFAULT_LLAMACPP_MODEL


LlmConfig = OpenAIConfig | AnthropicConfig | GeminiConfig | BedrockConfig | OllamaConfig | LlamaCppConfig
LLM_PROVIDERS: dict[str, type[LlmConfig]] = {
    cls.TAG: cls for cls in (OpenAIConfig, AnthropicConfig, BedrockConfig, GeminiConfig, OllamaConfig, LlamaCppConfig)
}


def llm_model_name(llm: LlmConfig) -> str:
    return llm.model_name if isinstance(llm, LlamaCppConfig) else llm.model


# -------------------------------------------------------------------------------------------- [agent]


@attrs.frozen(kw_only=True)
class ClientToolsSection:
    """`[agent.client_tools]`: offer the request's own `tools` to the model; the client runs them."""

    enabled: bool = False
    #: Shell-style patterns (`*`, `?`, `[abc]`) of client tool names that may be offered.
    allow: tuple[str, ...] = ("*",)


@attrs.frozen(kw_only=True)
class BackgroundTasksSection:
    """`[agent.background_tasks]`: how a chat UI's title / tags / follow-up / autocomplete requests are answered."""

    #: Another agent (id or name) that answers them; default: this agent.
    agent: str | None = None
    #: False: answered without tools.
    tools: bool = True
    #: Output cap for them (the lower of this and the answering agent's own cap).
    max_tokens: int | None = lenient_uint()


@attrs.frozen(kw_only=True)
class AgentSection:
    """The `[agent]` table: identity, prompt and runtime behaviour."""

    name: str
    system_prompt: str
    #: Client-facing id (the request's `model`); the name is the id when unset.
    alias: str | None = None
    #: Extra system-prompt paragraphs, appended after `system_prompt`.
    context: tuple[str, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = lenient_uint()
    reasoning_effort: ReasoningEffort | None = None
    #: Tool-calling rounds allowed per user turn (0 = no tools offered).
    turn_depth: int = lenient_uint(5)
    #: Context window in tokens, echoed for usage percentages in `aura.session_info`.
    context_window: int | None = lenient_uint()
    #: `/v1/models` `created` in milliseconds since the epoch; default: when the config was loaded.
    created_at: int | None = None
    #: `/v1/models` `owned_by`; default: the provider tag.
    model_owner: str | None = None
    #: Per tool call; 0 = no limit.
    tool_timeout_secs: float = 300.0
    #: Tool results longer than this are cut (with a marker) before the model sees them; 0 = no limit.
    max_tool_result_chars: int = lenient_uint(100_000)
    client_tools: ClientToolsSection = attrs.field(factory=ClientToolsSection)
    background_tasks: BackgroundTasksSection = attrs.field(factory=BackgroundTasksSection)

    @property
    def id(self) -> str:
        return self.alias if self.alias is not None else self.name


# ---------------------------------------------------------------------------------------------- [mcp]


@attrs.frozen(kw_only=True)
class _McpServerCommon:
    TAG: ClassVar[str]

    description: str | None = None
    #: Per tool call; 0 = no limit.
    timeout_secs: float = 300.0
    connect_timeout_secs: float = 10.0
    #: True: the server must be reachable at startup. False: a down server is reported and retried later.
    required: bool = False
    #: A tool result longer than this (UTF-8 bytes) is cut, with a note to the model; same on every transport.
    max_result_bytes: int = lenient_uint(8 * 1024 * 1024)

    @property
    def transport(self) -> str:
        return self.TAG


@attrs.frozen(kw_only=True)
class StdioServerConfig(_McpServerCommon):
    """A local MCP server process. Give `cmd` (array) or `command` (string), plus optional `args`.

    The process runs `cmd[0]` with `cmd[1:] + args` (or `command` with `args`); `env` is added on top
    of the inherited environment.
    """

    TAG: ClassVar[str] = "stdio"
    cmd: tuple[str, ...] | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, Secret] = attrs.field(factory=dict)
    cwd: str | None = None

    @property
    def argv(self) -> tuple[str, ...]:
        """The full command line: executable first."""
        if self.cmd:
            return (*self.cmd, *self.args)
        if self.command:
            return (self.command, *self.args)
        return tuple(self.args)


@attrs.frozen(kw_only=True)
class _HttpServerCommon(_McpServerCommon):
    url: str
    #: Static headers on every request to the server (values are secrets: often tokens).
    headers: Mapping[str, Secret] = attrs.field(factory=dict)
    #: Outgoing header name -> incoming request header name, copied per request.
    headers_from_request: Mapping[str, str] = attrs.field(factory=dict)
    #: Idle per-header-set connections kept (least recently used beyond this are closed).
    pool_max_idle: int = lenient_uint(32)
    #: A per-header-set connection idle this long is closed.
    pool_idle_secs: float = 300.0


@attrs.frozen(kw_only=True)
class HttpStreamableServerConfig(_HttpServerCommon):
    TAG: ClassVar[str] = "http_streamable"


@attrs.frozen(kw_only=True)
class SseServerConfig(_HttpServerCommon):
    """The legacy MCP HTTP+SSE transport."""

    TAG: ClassVar[str] = "sse"


McpServerConfig = HttpStreamableServerConfig | SseServerConfig | StdioServerConfig
MCP_TRANSPORTS: dict[str, type[McpServerConfig]] = {
    cls.TAG: cls for cls in (HttpStreamableServerConfig, SseServerConfig, StdioServerConfig)
}


@attrs.frozen(kw_only=True)
class McpConfig:
    sanitize_schemas: bool = True
    #: Server id (the TOML key) -> server, in file order.
    servers: Mapping[str, McpServerConfig] = attrs.field(factory=dict)


# ------------------------------------------------------------------------------------- [[vector_stores]]


@attrs.frozen(kw_only=True)
class OpenAIEmbeddingConfig:
    TAG: ClassVar[str] = "openai"
    model: str
    api_key: Secret
    base_url: str | None = None

    @property
    def provider(self) -> str:
        return self.TAG


@attrs.frozen(kw_only=True)
class BedrockEmbeddingConfig:
    TAG: ClassVar[str] = "bedrock"
    model: str
    region: str
    profile: str | None = None
    endpoint_url: str | None = None

    @property
    def provider(self) -> str:
        return self.TAG


@attrs.frozen(kw_only=True)
class LocalEmbeddingConfig:
    """A sentence-transformers style model run in-process (the `aura-agents[embeddings]` extra)."""

    TAG: ClassVar[str] = "local"
    model: str = DEFAULT_LOCAL_EMBEDDING_MODEL

    @property
    def provider(self) -> str:
        return self.TAG


EmbeddingModelConfig = OpenAIEmbeddingConfig | BedrockEmbeddingConfig | LocalEmbeddingConfig
EMBEDDING_PROVIDERS: dict[str, type[EmbeddingModelConfig]] = {
    cls.TAG: cls for cls in (OpenAIEmbeddingConfig, BedrockEmbeddingConfig, LocalEmbeddingConfig)
}


@attrs.frozen(kw_only=True)
class _VectorStoreCommon:
    TAG: ClassVar[str]

    #: Becomes the tool name `vector_search_<name>`.
    name: str
    #: Describes the store's content to the model (in the tool description and before results).
    context_prefix: str | None = None

    @property
    def type(self) -> str:
        return self.TAG


@attrs.frozen(kw_only=True)
class InMemoryStoreConfig(_VectorStoreCommon):
    """An in-process store with cosine search, filled by `aura ingest`; `path` persists it to a file."""

    TAG: ClassVar[str] = "in_memory"
    path: str | None = None
    embedding_model: EmbeddingModelConfig = LocalEmbeddingConfig()
    #: True: the server is not ready (`GET /ready` answers 503) while the index file cannot be read.
    required: bool = True


@attrs.frozen(kw_only=True)
class QdrantStoreConfig(_VectorStoreCommon):
    """A Qdrant collection: a server at `url`, or embedded mode in directory `path` (`:memory:` if neither)."""

    TAG: ClassVar[str] = "qdrant"
    collection_name: str
    url: str | None = None
    path: str | None = None
    api_key: Secret | None = None
    embedding_model: EmbeddingModelConfig = LocalEmbeddingConfig()
    #: True: the server is not ready (`GET /ready` answers 503) while Qdrant cannot be reached.
    required: bool = True


@attrs.frozen(kw_only=True)
class BedrockKbStoreConfig(_VectorStoreCommon):
    """An AWS Bedrock Knowledge Base (managed retrieval; no embedding model here)."""

    TAG: ClassVar[str] = "bedrock_kb"
    knowledge_base_id: str
    region: str
    profile: str | None = None
    endpoint_url: str | None = None


VectorStoreConfig = InMemoryStoreConfig | QdrantStoreConfig | BedrockKbStoreConfig
VECTOR_STORE_TYPES: dict[str, type[VectorStoreConfig]] = {
    cls.TAG: cls for cls in (InMemoryStoreConfig, QdrantStoreConfig, BedrockKbStoreConfig)
}


# -------------------------------------------------------------------------------------------- [tools]


@attrs.frozen(kw_only=True)
class ToolsConfig:
    #: Built-in `read_file` / `list_directory` tools, confined to `filesystem_root`.
    filesystem: bool = False
    filesystem_root: str | None = None
    #: Reserved: parsed and reported, not supported (a warning names the file).
    custom_tools: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------- [approval]

ApprovalAsk = Literal["always", "never", "by-annotation"]


@attrs.frozen(kw_only=True)
class ApprovalRuleConfig:
    """One `[[approval.rules]]` entry: tools whose server and tool names match these globs ask (or not) as `ask` says.

    Rules are tried in order and the first match decides; put specific patterns first.
    """

    ask: ApprovalAsk
    server: str = "*"
    tool: str = "*"


@attrs.frozen(kw_only=True)
class ApprovalWebhookConfig:
    """`[approval.webhook]`: POST each approval request to `url`, signed with `secret` (HMAC-SHA256).

    With a secret, decisions posted back to `/v1/approvals/{id}` must be signed with it too.
    """

    url: str
    secret: Secret | None = None
    #: request headers copied from the chat request onto the webhook request (e.g. a user id set by the chat UI)
    forward_headers: tuple[str, ...] = ()
    timeout_secs: float = 10.0
    #: this server's public base URL, so the webhook's `decide_url` is absolute (optional)
    decide_base_url: str | None = None


@attrs.frozen(kw_only=True)
class ApprovalConfig:
    """`[approval]`: which tool calls wait for a person's decision.

    The default rule follows the MCP annotations (read-only tools run, others ask unless `destructiveHint: false`).
    """

    enabled: bool = True
    default: ApprovalAsk = "by-annotation"
    #: seconds a decision is awaited; an undecided call is then denied
    timeout_secs: float = 300.0
    rules: tuple[ApprovalRuleConfig, ...] = ()
    webhook: ApprovalWebhookConfig | None = None


# ---------------------------------------------------------------------------------------------- [a2a]


@attrs.frozen(kw_only=True)
class A2ASection:
    """`[a2a]`: serve this agent over A2A (Agent2Agent) at `/a2a/<agent id>/`, whatever `aura serve --a2a` says."""

    #: `false` keeps this agent off A2A even when the server serves every agent over it
    enabled: bool = True
    #: the agent card's description; default: the first line of the system prompt
    description: str | None = None


# ------------------------------------------------------------------------------------------ the file


@attrs.frozen(kw_only=True)
class AgentConfig:
    """One agent config file."""

    llm: LlmConfig
    agent: AgentSection
    mcp: McpConfig | None = None
    vector_stores: tuple[VectorStoreConfig, ...] = ()
    tools: ToolsConfig | None = None
    approval: ApprovalConfig | None = None
    a2a: A2ASection | None = None

    @property
    def id(self) -> str:
        """The agent id clients use as `model`: the alias if set, else the name."""
        return self.agent.id

    @property
    def model_string(self) -> str:
        """`<provider>/<model>`, as the running agent reports it."""
        return f"{self.llm.provider}/{llm_model_name(self.llm)}"

    @property
    def mcp_servers(self) -> Mapping[str, McpServerConfig]:
        return self.mcp.servers if self.mcp is not None else {}


# ----------------------------------------------------------------------------------- semantic checks


def validate_config(config: AgentConfig) -> list[ConfigProblem]:
    """Checks a type cannot express (ranges, exclusive keys, unique names). Returns every problem, in file order."""
    problems: list[ConfigProblem] = []

    def problem(path: KeyPath, message: str) -> None:
        problems.append(ConfigProblem(path, message))

    llm = config.llm
    if isinstance(llm, OpenAIConfig | AnthropicConfig | GeminiConfig) and not llm.api_key.reveal().strip():
        problem(("llm", "api_key"), f"an API key is required for provider '{llm.provider}' (got an empty string)")
    if isinstance(llm, BedrockConfig) and not llm.region.strip():
        problem(("llm", "region"), "an AWS region is required for provider 'bedrock' (got an empty string)")
    if not llm_model_name(llm).strip():
        problem(("llm", "model"), "expected a non-empty model name")
    if llm.request_timeout_secs <= 0:
        problem(("llm", "request_timeout_secs"), "expected a positive number of seconds")
    if llm.max_tokens == 0:
        problem(("llm", "max_tokens"), "expected at least 1 output token (leave the key out for the default)")
    if isinstance(llm, OpenAIConfig) and llm.max_connections == 0:
        problem(("llm", "max_connections"), "expected at least 1 connection")
    if isinstance(llm, OpenAIConfig) and not llm.pool_timeout_secs > 0:
        problem(("llm", "pool_timeout_secs"), "expected a positive number of seconds")
    base_url = getattr(llm, "base_url", None)
    if isinstance(base_url, str) and not _is_http_url(base_url):
        problem(("llm", "base_url"), "expected an http:// or https:// URL")
    elif isinstance(llm, OpenAIConfig) and isinstance(base_url, str) and _has_query_or_fragment(base_url):
        problem(
            ("llm", "base_url"),
            "expected the API root without query or fragment, e.g. https://api.openai.com/v1 "
            "(`/chat/completions` is appended to it)",
        )

    agent = config.agent
    if not agent.name.strip():
        problem(("agent", "name"), "expected a non-empty name")
    if agent.alias is not None and not agent.alias.strip():
        problem(("agent", "alias"), "expected a non-empty alias (leave the key out to use the name)")
    if agent.temperature is not None and agent.temperature < 0:
        problem(("agent", "temperature"), f"expected a number >= 0, got {agent.temperature:g}")
    if agent.created_at is not None and agent.created_at < 0:
        problem(("agent", "created_at"), "expected milliseconds since the Unix epoch (a non-negative integer)")
    if agent.max_tokens == 0:
        problem(("agent", "max_tokens"), "expected at least 1 output token (leave the key out for no limit)")
    if agent.tool_timeout_secs < 0:
        problem(("agent", "tool_timeout_secs"), "expected a number of seconds >= 0 (0 = no limit)")

    for server_id, server in config.mcp_servers.items():
        _validate_mcp_server(("mcp", "servers", server_id), server, problem)

    approval = config.approval
    if approval is not None:
        if approval.timeout_secs <= 0:
            problem(("approval", "timeout_secs"), "expected a positive number of seconds")
        for index, rule in enumerate(approval.rules):
            for key in ("server", "tool"):
                if not getattr(rule, key).strip():
                    problem(("approval", "rules", index, key), "expected a non-empty glob pattern ('*' matches all)")
        webhook = approval.webhook
        if webhook is not None:
            if not _is_http_url(webhook.url):
                problem(("approval", "webhook", "url"), "expected an http:// or https:// URL")
            if webhook.timeout_secs <= 0:
                problem(("approval", "webhook", "timeout_secs"), "expected a positive number of seconds")
            if webhook.secret is not None and len(webhook.secret.reveal()) < 16:
                problem(("approval", "webhook", "secret"), "expected a secret of at least 16 characters")
            if webhook.decide_base_url is not None and not _is_http_url(webhook.decide_base_url):
                problem(("approval", "webhook", "decide_base_url"), "expected an http:// or https:// URL")

    seen_stores: dict[str, int] = {}
    for index, store in enumerate(config.vector_stores):
        path: KeyPath = ("vector_stores", index)
        if not store.name.strip():
            problem((*path, "name"), "expected a non-empty store name")
        elif store.name in seen_stores:
            first = seen_stores[store.name]
            problem((*path, "name"), f"duplicate vector store name '{store.name}' (also vector_stores[{first}])")
        else:
            seen_stores[store.name] = index
        embedding = getattr(store, "embedding_model", None)
        if isinstance(embedding, OpenAIEmbeddingConfig) and not embedding.api_key.reveal().strip():
            problem((*path, "embedding_model", "api_key"), f"an API key is required for vector store '{store.name}'")
        if isinstance(embedding, BedrockEmbeddingConfig) and not embedding.region.strip():
            problem((*path, "embedding_model", "region"), f"an AWS region is required for vector store '{store.name}'")
        if isinstance(store, BedrockKbStoreConfig):
            if not store.knowledge_base_id.strip():
                problem((*path, "knowledge_base_id"), "expected a non-empty knowledge base id")
            if not store.region.strip():
                problem((*path, "region"), f"an AWS region is required for vector store '{store.name}'")
        if isinstance(store, QdrantStoreConfig):
            if not store.collection_name.strip():
                problem((*path, "collection_name"), "expected a non-empty collection name")
            if store.url is not None and store.path is not None:
                problem((*path, "path"), "give either `url` (a Qdrant server) or `path` (embedded mode), not both")

    tools = config.tools
    if tools is not None and tools.filesystem_root is not None and not tools.filesystem:
        problem(("tools", "filesystem_root"), "only meaningful with `filesystem = true`")
    return problems


def _has_query_or_fragment(text: str) -> bool:
    parsed = urllib.parse.urlsplit(text.strip())
    return bool(parsed.query or parsed.fragment)


def _is_http_url(text: str) -> bool:
    parsed = urllib.parse.urlsplit(text.strip())
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _validate_mcp_server(path: KeyPath, server: McpServerConfig, problem: Any) -> None:
    if server.timeout_secs < 0:
        problem((*path, "timeout_secs"), "expected a number of seconds >= 0 (0 = no limit)")
    if server.connect_timeout_secs <= 0:
        problem((*path, "connect_timeout_secs"), "expected a positive number of seconds")
    if server.max_result_bytes < 1024:
        problem((*path, "max_result_bytes"), "expected at least 1024 bytes")
    if isinstance(server, StdioServerConfig):
        if server.cmd is not None and server.command is not None:
            problem(path, "give either `cmd` (an array) or `command` (a string), not both")
        elif server.cmd is None and server.command is None:
            problem(path, 'a stdio server needs `cmd` (an array, e.g. ["npx", "-y", "pkg"]) or `command` (a string)')
        elif server.cmd is not None and (not server.cmd or not server.cmd[0].strip()):
            problem((*path, "cmd"), "expected a non-empty array whose first item is the program to run")
        elif server.command is not None and not server.command.strip():
            problem((*path, "command"), "expected the program to run (a non-empty string)")
    elif not server.pool_idle_secs > 0:
        problem((*path, "pool_idle_secs"), "expected a positive number of seconds")
    elif not server.url.strip():
        problem((*path, "url"), "expected the server URL (a non-empty string)")
    elif not _is_http_url(server.url):
        problem((*path, "url"), "expected an http:// or https:// URL (e.g. http://localhost:8081/mcp)")
