"""Parsing valid configs: every section, defaults, tags and lenient numbers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aura.entrypoints.config import (
    AnthropicConfig,
    BedrockConfig,
    BedrockEmbeddingConfig,
    BedrockKbStoreConfig,
    GeminiConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    LocalEmbeddingConfig,
    OllamaConfig,
    OpenAIConfig,
    OpenAIEmbeddingConfig,
    QdrantStoreConfig,
    Secret,
    SseServerConfig,
    StdioServerConfig,
    parse_agent_config,
)
from tests.unit.config.helpers import MINIMAL_AGENT, parse, with_openai

FULL = """
[llm]
provider = "openai"
api_key = "{{ env.OPENAI_API_KEY }}"
model = "gpt-4o"
base_url = "https://openrouter.ai/api/v1"

[agent]
name = "Full"
alias = "full/agent"
system_prompt = "You help."
context = ["Cluster: prod", "Be brief."]
temperature = 0.7
max_tokens = 1000
reasoning_effort = "low"
turn_depth = 3
context_window = 128000

[mcp]
sanitize_schemas = false

[mcp.servers.mezmo]
transport = "http_streamable"
url = "http://localhost:9999/mcp"
description = "Logs"
headers = { Authorization = "Bearer static", "x-Static-Header" = "v" }
headers_from_request = { Authorization = "authorization", "X-Trace" = "x-trace" }
timeout_secs = 30
required = true

[mcp.servers.local]
transport = "stdio"
cmd = ["npx", "-y", "@modelcontextprotocol/server-everything"]
args = ["stdio"]
env = { DEBUG = "1" }

[[vector_stores]]
type = "in_memory"
name = "test_docs"
context_prefix = "Test documentation"
embedding_model = { provider = "openai", model = "text-embedding-ada-002", api_key = "{{ env.OPENAI_API_KEY }}" }

[tools]
filesystem = false
custom_tools = []
"""


def test_full_config() -> None:
    config = parse(FULL, {"OPENAI_API_KEY": "sk-full"})
    llm = config.llm
    assert isinstance(llm, OpenAIConfig)
    assert (llm.model, llm.api_key, llm.base_url) == ("gpt-4o", Secret("sk-full"), "https://openrouter.ai/api/v1")
    assert (llm.request_timeout_secs, llm.max_retries) == (600.0, 3)
    agent = config.agent
    assert config.id == "full/agent"
    assert agent.context == ("Cluster: prod", "Be brief.")
    assert (agent.temperature, agent.max_tokens, agent.reasoning_effort) == (0.7, 1000, "low")
    assert (agent.turn_depth, agent.context_window) == (3, 128000)
    assert config.mcp is not None
    assert config.mcp.sanitize_schemas is False
    assert list(config.mcp.servers) == ["mezmo", "local"]
    http = config.mcp.servers["mezmo"]
    assert isinstance(http, HttpStreamableServerConfig)
    assert http.transport == "http_streamable"
    assert {key: value.reveal() for key, value in http.headers.items()} == {
        "Authorization": "Bearer static",
        "x-Static-Header": "v",
    }
    assert dict(http.headers_from_request) == {"Authorization": "authorization", "X-Trace": "x-trace"}
    assert (http.timeout_secs, http.connect_timeout_secs, http.required, http.description) == (30.0, 10.0, True, "Logs")
    stdio = config.mcp.servers["local"]
    assert isinstance(stdio, StdioServerConfig)
    assert stdio.argv == ("npx", "-y", "@modelcontextprotocol/server-everything", "stdio")
    assert stdio.env == {"DEBUG": Secret("1")}
    store = config.vector_stores[0]
    assert isinstance(store, InMemoryStoreConfig)
    assert (store.name, store.context_prefix, store.path) == ("test_docs", "Test documentation", None)
    assert store.embedding_model == OpenAIEmbeddingConfig(model="text-embedding-ada-002", api_key=Secret("sk-full"))
    assert config.tools is not None
    assert config.tools.custom_tools == ()


def test_minimal_anthropic() -> None:
    config = parse('[llm]\nprovider = "anthropic"\napi_key = "k"\nmodel = "claude-sonnet-4-5"\n' + MINIMAL_AGENT)
    assert isinstance(config.llm, AnthropicConfig)
    assert config.mcp is None
    assert config.tools is None
    assert config.vector_stores == ()
    assert config.agent.temperature is None
    assert config.agent.alias is None
    assert config.id == "Assistant"
    assert config.model_string == "anthropic/claude-sonnet-4-5"


def test_gemini_and_bedrock() -> None:
    gemini = parse('[llm]\nprovider = "gemini"\napi_key = "k"\nmodel = "gemini-2.5-flash"\n' + MINIMAL_AGENT).llm
    assert isinstance(gemini, GeminiConfig)
    bedrock = parse(
        '[llm]\nprovider = "bedrock"\nmodel = "m"\nregion = "eu-west-1"\nprofile = "p"\n' + MINIMAL_AGENT
    ).llm
    assert bedrock == BedrockConfig(model="m", region="eu-west-1", profile="p")


def test_ollama_minimal_has_default_url_and_no_options() -> None:
    llm = parse('[llm]\nprovider = "ollama"\nmodel = "qwen3:8b"\n' + MINIMAL_AGENT).llm
    assert isinstance(llm, OllamaConfig)
    assert llm.base_url == "http://localhost:11434"
    assert (llm.fallback_tool_parsing, llm.num_ctx, llm.num_predict, llm.additional_params) == (False, None, None, {})
    assert llm.options == {}


def test_ollama_all_params_merge_into_options_with_additional_params_last() -> None:
    text = """
[llm]
provider = "ollama"
model = "qwen3:30b-a3b"
base_url = "http://gpu-box:11434"
fallback_tool_parsing = true
num_ctx = 32000.0
num_predict = 512

[llm.additional_params]
mirostat = 2
seed = 7
top_k = 20
top_p = 0.95
num_predict = 1024
"""
    llm = parse(text + MINIMAL_AGENT).llm
    assert isinstance(llm, OllamaConfig)
    assert llm.base_url == "http://gpu-box:11434"
    assert llm.fallback_tool_parsing is True
    assert llm.num_ctx == 32000
    assert isinstance(llm.num_ctx, int)
    assert llm.options == {"num_ctx": 32000, "num_predict": 1024, "mirostat": 2, "seed": 7, "top_k": 20, "top_p": 0.95}


def test_llamacpp_defaults_and_model_path() -> None:
    llm = parse('[llm]\nprovider = "llamacpp"\n' + MINIMAL_AGENT).llm
    assert isinstance(llm, LlamaCppConfig)
    assert (llm.model_name, llm.n_ctx, llm.n_threads, llm.tool_calling) == ("smollm2-135m", 4096, None, "native")
    llm = parse(
        '[llm]\nprovider = "llamacpp"\nmodel_path = "/m/qwen.gguf"\ntool_calling = "fallback"\n' + MINIMAL_AGENT
    ).llm
    assert isinstance(llm, LlamaCppConfig)
    assert (llm.model_name, llm.tool_calling) == ("qwen", "fallback")


def test_common_llm_keys() -> None:
    extra = 'model = "gpt-4o"\nmax_tokens = 99\nrequest_timeout_secs = 30\nmax_retries = 0'
    text = with_openai().replace('model = "gpt-4o"', extra)
    llm = parse(text).llm
    assert (llm.max_tokens, llm.request_timeout_secs, llm.max_retries) == (99, 30.0, 0)


@pytest.mark.parametrize(("value", "expected"), [("8000", 8000), ("8000.0", 8000), ("0.0", 0), ("0", 0)])
def test_lenient_integers_accept_whole_floats(value: str, expected: int) -> None:
    config = parse(with_openai(f"context_window = {value}\nturn_depth = {value}\n"))
    assert (config.agent.context_window, config.agent.turn_depth) == (expected,) * 2
    assert all(isinstance(n, int) for n in (config.agent.context_window, config.agent.turn_depth))


def test_context_window_absent_is_none_and_large_float_is_accepted() -> None:
    assert parse(with_openai()).agent.context_window is None
    assert parse(with_openai("context_window = 200000.0\n")).agent.context_window == 200000


def test_agent_defaults() -> None:
    agent = parse(with_openai()).agent
    assert (agent.alias, agent.context, agent.turn_depth, agent.reasoning_effort) == (None, (), 5, None)
    assert (agent.created_at, agent.model_owner, agent.tool_timeout_secs, agent.max_tool_result_chars) == (
        None,
        None,
        300.0,
        100_000,
    )


def test_temperature_accepts_an_integer() -> None:
    temperature = parse(with_openai("temperature = 1\n")).agent.temperature
    assert temperature == 1.0
    assert isinstance(temperature, float)


def test_created_at_defaults_to_load_time_and_can_be_set() -> None:
    before = int(time.time() * 1000)
    loaded = parse_agent_config(with_openai(), environ={})
    after = int(time.time() * 1000)
    assert before <= loaded.created_at_ms <= after
    explicit = parse_agent_config(with_openai("created_at = 1700000000123\n"), environ={})
    assert explicit.created_at_ms == 1700000000123


def test_model_owner_default_and_explicit() -> None:
    assert parse(with_openai()).agent.model_owner is None
    assert parse(with_openai('model_owner = "mezmo"\n')).agent.model_owner == "mezmo"


def test_mcp_without_servers_defaults_to_none() -> None:
    config = parse(with_openai("[mcp]\nsanitize_schemas = true\n"))
    assert config.mcp is not None
    assert config.mcp.servers == {}


def test_sse_transport_and_stdio_command_form() -> None:
    text = with_openai(
        '[mcp.servers.old]\ntransport = "sse"\nurl = "http://localhost:8081/sse"\n'
        '[mcp.servers.tool]\ntransport = "stdio"\ncommand = "uvx"\nargs = ["mcp-server-time"]\ncwd = "/srv"\n'
        "connect_timeout_secs = 2.5\n"
    )
    servers = parse(text).mcp_servers
    assert servers["old"] == SseServerConfig(url="http://localhost:8081/sse")
    tool = servers["tool"]
    assert isinstance(tool, StdioServerConfig)
    assert (tool.argv, tool.cwd, tool.connect_timeout_secs) == (("uvx", "mcp-server-time"), "/srv", 2.5)


def test_bedrock_embedding_with_and_without_profile() -> None:
    store = """
[[vector_stores]]
type = "in_memory"
name = "n"
[vector_stores.embedding_model]
provider = "bedrock"
model = "amazon.titan-embed-text-v2:0"
region = "us-east-1"
"""
    without = parse(with_openai(store)).vector_stores[0]
    with_profile = parse(with_openai(store + 'profile = "dev"\n')).vector_stores[0]
    assert isinstance(without, InMemoryStoreConfig)
    assert isinstance(with_profile, InMemoryStoreConfig)
    assert without.embedding_model == BedrockEmbeddingConfig(model="amazon.titan-embed-text-v2:0", region="us-east-1")
    assert isinstance(with_profile.embedding_model, BedrockEmbeddingConfig)
    assert with_profile.embedding_model.profile == "dev"


def test_bedrock_kb_store() -> None:
    text = with_openai(
        '[[vector_stores]]\ntype = "bedrock_kb"\nname = "kb"\nknowledge_base_id = "KB1"\nregion = "us-west-2"\n'
        'context_prefix = "Based on the following information from the handbook:"\n'
    )
    store = parse(text).vector_stores[0]
    assert store == BedrockKbStoreConfig(
        name="kb",
        knowledge_base_id="KB1",
        region="us-west-2",
        context_prefix="Based on the following information from the handbook:",
    )
    assert store.type == "bedrock_kb"


def test_qdrant_store_defaults_to_local_embeddings_and_keeps_order() -> None:
    text = with_openai(
        '[[vector_stores]]\ntype = "qdrant"\nname = "a"\ncollection_name = "c"\nurl = "http://q:6334"\napi_key = "qk"\n'
        '[[vector_stores]]\ntype = "qdrant"\nname = "b"\ncollection_name = "c2"\npath = "/data/q"\n'
        '[[vector_stores]]\ntype = "in_memory"\nname = "c"\npath = "idx.json"\n'
    )
    first, second, third = parse(text).vector_stores
    assert isinstance(first, QdrantStoreConfig)
    assert (first.url, first.api_key, first.embedding_model) == ("http://q:6334", Secret("qk"), LocalEmbeddingConfig())
    assert isinstance(second, QdrantStoreConfig)
    assert (second.url, second.path) == (None, "/data/q")
    assert isinstance(third, InMemoryStoreConfig)
    assert third.embedding_model.model == "all-MiniLM-L6-v2"


def test_templated_provider_with_api_key_also_loads_for_ollama() -> None:
    text = (
        '[llm]\nprovider = "{{ env.LLM_PROVIDER }}"\nmodel = "m"\napi_key = "{{ env.LLM_API_KEY }}"\n' + MINIMAL_AGENT
    )
    loaded = parse_agent_config(text, source=Path("q.toml"), environ={"LLM_PROVIDER": "ollama", "LLM_API_KEY": "x"})
    assert isinstance(loaded.config.llm, OllamaConfig)
    assert loaded.warnings == ("q.toml: llm.api_key is ignored for provider 'ollama' (Ollama takes no API key)",)
    openai = parse_agent_config(text, environ={"LLM_PROVIDER": "openai", "LLM_API_KEY": "sk"})
    assert openai.config.llm.provider == "openai"
    assert openai.warnings == ()


def test_custom_tools_produce_a_warning_naming_the_file() -> None:
    loaded = parse_agent_config(with_openai('[tools]\ncustom_tools = ["my_tool"]\n'), source=Path("x.toml"), environ={})
    assert loaded.warnings == ("x.toml: tools.custom_tools is not supported and is ignored (my_tool)",)


def test_quickstart_example_loads() -> None:
    path = Path(__file__).parents[3] / "examples" / "quickstart.toml"
    config = parse(path.read_text())
    assert config.id == "sre"
    assert config.model_string == "llamacpp/smollm2-135m"
    server = config.mcp_servers["sre_tools"]
    assert isinstance(server, StdioServerConfig)
    assert server.argv == ("python", "examples/sre_tools/server.py")
    # OpenWebUI's title/tags/follow-up requests stay cheap on the single local model
    assert (config.agent.background_tasks.tools, config.agent.background_tasks.max_tokens) == (False, 64)
