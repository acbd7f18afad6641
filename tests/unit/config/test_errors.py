"""Every kind of config error: it names the file, the key path and what was expected, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.entrypoints.config import ConfigError, load_config
from tests.unit.config.helpers import MINIMAL_AGENT, OPENAI_LLM, config_error, with_openai


def test_unknown_key_names_file_path_and_suggests_the_right_key() -> None:
    error = config_error(OPENAI_LLM.replace('model = "gpt-4o"', 'model = "gpt-4o"\nmodle = "x"') + MINIMAL_AGENT)
    message = str(error)
    assert message.startswith("agent.toml: llm.modle: unknown key for provider 'openai'")
    assert "did you mean 'model'?" in message
    assert "allowed keys: provider, api_key, base_url" in message
    assert error.source == Path("agent.toml")
    assert [problem.path for problem in error.problems] == [("llm", "modle")]


def test_unknown_section_is_an_error_with_suggestion() -> None:
    message = str(config_error(with_openai('[vector_store]\nname = "docs"\n')))
    assert "vector_store: unknown key; did you mean 'vector_stores'?" in message
    assert "allowed keys: a2a, agent, approval, llm, mcp, tools, vector_stores" in message


def test_key_valid_for_another_provider_is_unknown_for_this_one() -> None:
    text = '[llm]\nprovider = "bedrock"\nmodel = "m"\nregion = "r"\napi_key = "sk-should-not-be-here"\n' + MINIMAL_AGENT
    message = str(config_error(text))
    assert "llm.api_key: unknown key for provider 'bedrock'" in message
    assert "sk-should-not-be-here" not in message


def test_unknown_key_deep_in_mcp_server_has_full_path() -> None:
    text = with_openai('[mcp.servers.github]\ntransport = "http_streamable"\nurl = "http://x/mcp"\nheader = {}\n')
    message = str(config_error(text))
    assert "mcp.servers.github.header: unknown key for transport 'http_streamable'; did you mean 'headers'?" in message


def test_wrong_type_says_what_was_expected_without_echoing_the_value() -> None:
    text = OPENAI_LLM.replace('api_key = "sk-test"', 'api_key = ["sk-secret-in-array"]') + MINIMAL_AGENT
    error = config_error(text)
    assert str(error) == "agent.toml: llm.api_key: expected a string, got an array"
    assert "sk-secret-in-array" not in str(error)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('temperature = "0.5"', "agent.temperature: expected a number, got a string"),
        ("name = 42", "agent.name: expected a string, got an integer"),
        ('context = "one string"', "agent.context: expected an array of strings, got a string"),
        ("created_at = 1.5", "agent.created_at: expected an integer, got a float"),
    ],
)
def test_wrong_types_in_agent(line: str, expected: str) -> None:
    key = line.split(" = ")[0]
    agent = "\n".join(x for x in MINIMAL_AGENT.splitlines() if not x.startswith(f"{key} ="))
    assert expected in str(config_error(OPENAI_LLM + agent + "\n" + line + "\n"))


def test_stdio_cmd_must_be_an_array() -> None:
    text = with_openai('[mcp.servers.files]\ntransport = "stdio"\ncmd = "npx"\n')
    assert "mcp.servers.files.cmd: expected an array of strings, got a string" in str(config_error(text))


def test_table_expected_but_scalar_given() -> None:
    assert "agent.toml: agent: expected a table, got a string" in str(config_error('agent = "x"\n' + OPENAI_LLM))


def test_missing_required_key() -> None:
    error = config_error('[llm]\nprovider = "openai"\napi_key = "k"\n' + MINIMAL_AGENT)
    assert str(error) == "agent.toml: llm.model: missing required key (expected a string)"


def test_missing_required_table() -> None:
    message = str(config_error(MINIMAL_AGENT))
    assert "llm: missing required key (expected a table with provider = " in message


def test_missing_env_vars_are_all_listed_with_file_and_keys() -> None:
    text = """
[llm]
provider = "openai"
api_key = "{{ env.OPENAI_KEY }}"
model = "{{ env.MODEL_NAME }}"

[agent]
name = "A"
system_prompt = "Uses {{ env.OPENAI_KEY }} twice"

[mcp.servers.gh]
transport = "http_streamable"
url = "http://{{ env.MCP_HOST | default: 'localhost' }}/mcp"
headers = { Authorization = "Bearer {{ env.GH_TOKEN }}" }
"""
    error = config_error(text, {"UNRELATED": "1"})
    message = str(error)
    assert message.startswith("agent.toml: missing environment variable(s): OPENAI_KEY, MODEL_NAME, GH_TOKEN")
    assert "OPENAI_KEY (used at llm.api_key, agent.system_prompt)" in message
    assert "GH_TOKEN (used at mcp.servers.gh.headers.Authorization)" in message
    assert "export MODEL_NAME=your_value" in message
    assert "MCP_HOST" not in message  # defaulted placeholders never fail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[llm]\nprovider = "openia"\nmodel = "x"\n' + MINIMAL_AGENT,
            "llm.provider: unknown provider 'openia'; expected one of 'openai', 'anthropic', 'bedrock', 'gemini', "
            "'ollama', 'llamacpp'; did you mean 'openai'?",
        ),
        ('[llm]\nmodel = "x"\n' + MINIMAL_AGENT, "llm.provider: missing required key (expected one of 'openai'"),
        ('[llm]\nprovider = 3\nmodel = "x"\n' + MINIMAL_AGENT, "llm.provider: expected one of 'openai'"),
        (
            with_openai('[mcp.servers.x]\ntransport = "websocket"\nurl = "ws://x"\n'),
            "mcp.servers.x.transport: unknown transport 'websocket'; expected one of 'http_streamable', 'sse', 'stdio'",
        ),
        (
            with_openai('[[vector_stores]]\ntype = "pinecone"\nname = "n"\n'),
            "vector_stores[0].type: unknown vector store type 'pinecone'; expected one of 'in_memory', 'qdrant', "
            "'bedrock_kb'",
        ),
        (
            with_openai(
                '[[vector_stores]]\ntype = "in_memory"\nname = "n"\nembedding_model = { provider = "cohere" }\n'
            ),
            "vector_stores[0].embedding_model.provider: unknown embedding provider 'cohere'",
        ),
    ],
)
def test_unknown_or_missing_tags(text: str, expected: str) -> None:
    assert expected in str(config_error(text))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "agent.turn_depth: expected non-negative number for u32, got -1"),
        ("-1.0", "agent.turn_depth: expected non-negative number for u32, got -1"),
        ("3.14", "agent.turn_depth: expected whole number for u32, got 3.14"),
        ("5000000000", "agent.turn_depth: 5e+09 out of range for u32"),
        ("true", "agent.turn_depth: expected a non-negative whole number (u32), got a boolean"),
        ('"five"', "agent.turn_depth: expected a non-negative whole number (u32), got a string that is not a number"),
        ('"-2"', "agent.turn_depth: expected non-negative number for u32, got -2"),
        ("nan", "agent.turn_depth: expected a non-negative whole number (u32), got nan"),
    ],
)
def test_lenient_integer_errors(value: str, expected: str) -> None:
    assert expected in str(config_error(with_openai(f"turn_depth = {value}\n").replace("[agent]\n", "[agent]\n")))


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_empty_api_key_is_rejected(provider: str) -> None:
    text = f'[llm]\nprovider = "{provider}"\napi_key = ""\nmodel = "m"\n' + MINIMAL_AGENT
    assert f"llm.api_key: an API key is required for provider '{provider}'" in str(config_error(text))


def test_api_key_from_an_empty_env_var_is_rejected() -> None:
    text = '[llm]\nprovider = "openai"\napi_key = "{{ env.OPENAI_API_KEY }}"\nmodel = "m"\n' + MINIMAL_AGENT
    assert "llm.api_key: an API key is required" in str(config_error(text, {"OPENAI_API_KEY": ""}))


def test_empty_embedding_key_and_region_are_rejected() -> None:
    text = with_openai(
        """
[[vector_stores]]
type = "in_memory"
name = "a"
embedding_model = { provider = "openai", model = "text-embedding-3-small", api_key = "" }

[[vector_stores]]
type = "qdrant"
name = "b"
collection_name = "c"
embedding_model = { provider = "bedrock", model = "amazon.titan-embed-text-v2:0", region = "" }
"""
    )
    error = config_error(text)
    message = str(error)
    assert "2 problems" in message
    assert "vector_stores[0].embedding_model.api_key: an API key is required for vector store 'a'" in message
    assert "vector_stores[1].embedding_model.region: an AWS region is required for vector store 'b'" in message


def test_missing_embedding_key_is_a_missing_key() -> None:
    text = with_openai(
        '[[vector_stores]]\ntype = "in_memory"\nname = "a"\nembedding_model = { provider = "openai", model = "m" }\n'
    )
    assert "vector_stores[0].embedding_model.api_key: missing required key (expected a string)" in str(
        config_error(text)
    )


@pytest.mark.parametrize("missing", ["knowledge_base_id", "region"])
def test_bedrock_kb_missing_key_names_the_field(missing: str) -> None:
    keys = {"knowledge_base_id": '"KB1"', "region": '"us-east-1"'}
    del keys[missing]
    body = "".join(f"{key} = {value}\n" for key, value in keys.items())
    text = with_openai(f'[[vector_stores]]\ntype = "bedrock_kb"\nname = "kb"\n{body}')
    assert f"vector_stores[0].{missing}: missing required key" in str(config_error(text))


def test_stdio_needs_exactly_one_of_cmd_and_command() -> None:
    neither = with_openai('[mcp.servers.x]\ntransport = "stdio"\nargs = ["a"]\n')
    both = with_openai('[mcp.servers.x]\ntransport = "stdio"\ncmd = ["a"]\ncommand = "a"\n')
    empty = with_openai('[mcp.servers.x]\ntransport = "stdio"\ncmd = []\n')
    assert "mcp.servers.x: a stdio server needs `cmd`" in str(config_error(neither))
    assert "mcp.servers.x: give either `cmd` (an array) or `command` (a string), not both" in str(config_error(both))
    assert "mcp.servers.x.cmd: expected a non-empty array" in str(config_error(empty))


def test_bad_reasoning_effort_lists_the_choices() -> None:
    message = str(config_error(with_openai('reasoning_effort = "maximal"\n')))
    assert "agent.reasoning_effort: expected one of 'minimal', 'low', 'medium', 'high', got 'maximal'" in message


def test_filesystem_root_without_filesystem_is_reported() -> None:
    message = str(config_error(with_openai('[tools]\nfilesystem_root = "/srv"\n')))
    assert "tools.filesystem_root: only meaningful with `filesystem = true`" in message


def test_duplicate_vector_store_names() -> None:
    store = '[[vector_stores]]\ntype = "in_memory"\nname = "docs"\n'
    message = str(config_error(with_openai(store + store)))
    assert "vector_stores[1].name: duplicate vector store name 'docs' (also vector_stores[0])" in message


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = '[llm]\nprovider = "ollama"\nmodel = 1\nnum_ctx = -2\n[agent]\nsystem_prompt = "x"\nturn_dept = 3\n'
    error = config_error(text)
    assert {problem.path for problem in error.problems} == {
        ("llm", "model"),
        ("llm", "num_ctx"),
        ("agent", "name"),
        ("agent", "turn_dept"),
    }
    assert str(error).startswith("agent.toml: 4 problems:\n  - ")


def test_bad_toml_syntax_reports_the_line() -> None:
    message = str(config_error('[llm]\nprovider = "openai"\nmodel = gpt-4o\n'))
    assert message.startswith("agent.toml: invalid TOML: ")
    assert "line 3" in message


def test_placeholder_in_a_number_position_is_a_toml_error() -> None:
    message = str(config_error(with_openai("turn_depth = {{ env.DEPTH }}\n")))
    assert "invalid TOML" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", environ={}, dotenv=False)
    assert str(caught.value).startswith(f"{tmp_path / 'nope.toml'}: config file not found")


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("not a config")
    (tmp_path / "upper.TOML").write_text("")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, dotenv=False)
    assert str(caught.value) == f"{tmp_path}: no .toml configuration files found in directory"


def test_directory_named_like_a_toml_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.toml").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, dotenv=False)
    assert str(caught.value) == f"{tmp_path / 'a.toml'}: is a directory, expected a TOML file"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b'[agent]\nname = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, dotenv=False)
    assert "not UTF-8 text" in str(caught.value)


def write(directory: Path, name: str, agent_name: str, alias: str | None = None) -> Path:
    alias_line = f'alias = "{alias}"\n' if alias else ""
    path = directory / name
    path.write_text(OPENAI_LLM + f'[agent]\nname = "{agent_name}"\n{alias_line}system_prompt = "x"\n')
    return path


def test_duplicate_alias_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", "One", alias="sre")
    second = write(tmp_path, "b.toml", "Two", alias="sre")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, dotenv=False)
    message = str(caught.value)
    assert f"duplicate alias 'sre' in {first} and {second}" in message
    assert "unique alias" in message


def test_duplicate_name_across_files_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", "Assistant")
    second = write(tmp_path, "b.toml", "Assistant")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, dotenv=False)
    message = str(caught.value)
    assert f"agent id 'Assistant' is used by both {first} and {second}" in message
    assert "same agent name" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [(("One", "shared"), ("shared", None)), (("shared", None), ("Two", "shared"))],
)
def test_alias_colliding_with_another_name(
    tmp_path: Path, first: tuple[str, str | None], second: tuple[str, str | None]
) -> None:
    write(tmp_path, "a.toml", *first)
    write(tmp_path, "b.toml", *second)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, dotenv=False)
    assert "agent id 'shared' is used by both" in str(caught.value)
    assert "same agent name" in str(caught.value)


def test_same_name_with_different_aliases_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", "Assistant", alias="one")
    write(tmp_path, "b.toml", "Assistant", alias="two")
    assert load_config(tmp_path, environ={}, dotenv=False).ids == ("one", "two")


def test_first_bad_file_stops_loading_and_is_named(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", "One")
    (tmp_path / "b.toml").write_text(OPENAI_LLM + "[agent]\nname = 1\n")
    write(tmp_path, "c.toml", "Three")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, dotenv=False)
    assert caught.value.source == tmp_path / "b.toml"
    assert str(caught.value).startswith(f"{tmp_path / 'b.toml'}: ")


def test_default_agent_mismatch(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", "One", alias="one")
    write(tmp_path, "b.toml", "Two")
    loaded = load_config(tmp_path, environ={}, dotenv=False)
    with pytest.raises(ConfigError) as caught:
        loaded.default_agent("three")
    assert str(caught.value) == (
        "DEFAULT_AGENT 'three' does not match any loaded agent name or alias (loaded: 'one', 'Two')"
    )


def test_errors_never_contain_secret_values() -> None:
    secret = "sk-live-abcdef123456"
    text = f"""
[llm]
provider = "openai"
api_key = "{secret}"
model = 7

[agent]
name = "A"
system_prompt = "x"

[mcp.servers.gh]
transport = "http_streamable"
url = 5
headers = {{ Authorization = "Bearer {secret}", Other = 1 }}
"""
    error = config_error(text)
    assert secret not in str(error)
    assert secret not in repr(error.problems)
    assert "mcp.servers.gh.headers.Other: expected a string, got an integer" in str(error)


def test_quoted_numbers_from_env_templating_are_accepted() -> None:
    from aura.entrypoints.config.loader import parse_agent_config

    text = (
        '[llm]\nprovider = "ollama"\nmodel = "qwen3"\nnum_ctx = "{{ env.NUM_CTX }}"\nnum_predict = "256"\n'
        '[agent]\nname = "a"\nsystem_prompt = "p"\nturn_depth = "3.0"\n'
    )
    config = parse_agent_config(text, source=Path("quoted.toml"), environ={"NUM_CTX": "16384"}).config
    assert config.llm.num_ctx == 16384  # type: ignore[union-attr]
    assert config.llm.num_predict == 256  # type: ignore[union-attr]
    assert config.agent.turn_depth == 3


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("max_tokens = 0\n", "agent.max_tokens: expected at least 1 output token"),
        (
            '[mcp.servers.k8s]\ntransport = "sse"\nurl = "not a url"\n',
            "mcp.servers.k8s.url: expected an http:// or https:// URL",
        ),
    ],
)
def test_values_that_cannot_work_are_refused(extra: str, expected: str) -> None:
    assert expected in str(config_error(with_openai(extra)))


def test_llm_base_url_must_be_http() -> None:
    text = with_openai().replace('model = "gpt-4o"', 'model = "gpt-4o"\nbase_url = "localhost:8000/v1"')
    assert "llm.base_url: expected an http:// or https:// URL" in str(config_error(text))


def test_openai_base_url_is_the_api_root_without_query() -> None:
    text = with_openai().replace(
        'model = "gpt-4o"', 'model = "gpt-4o"\nbase_url = "https://gw.example/v1?api-version=2"'
    )
    assert "llm.base_url: expected the API root without query or fragment" in str(config_error(text))
