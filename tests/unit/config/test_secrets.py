"""Secrets stay masked everywhere except where they are used (`.reveal()`) and in the dumped file itself."""

from __future__ import annotations

from pathlib import Path

from aura.entrypoints.check_command import describe_agent
from aura.entrypoints.config import Secret, dump_config, parse_agent_config
from tests.unit.config.helpers import parse

SECRET = "sk-very-secret-0123456789"

TEXT = f"""
[llm]
provider = "openai"
api_key = "{SECRET}"
model = "gpt-4o"

[agent]
name = "A"
system_prompt = "x"

[mcp.servers.gh]
transport = "http_streamable"
url = "http://localhost/mcp"
headers = {{ Authorization = "Bearer {SECRET}" }}

[mcp.servers.local]
transport = "stdio"
cmd = ["python", "server.py"]
env = {{ TOKEN = "{SECRET}" }}

[[vector_stores]]
type = "qdrant"
name = "docs"
collection_name = "docs"
url = "http://localhost:6334"
api_key = "{SECRET}"
embedding_model = {{ provider = "openai", model = "text-embedding-3-small", api_key = "{SECRET}" }}
"""


def test_secret_masks_repr_and_str_and_reveals_on_request() -> None:
    secret = Secret("hunter2")
    assert str(secret) == "***"
    assert repr(secret) == "Secret('***')"
    assert f"{secret}" == "***"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")
    assert secret != "hunter2"
    assert len({Secret("a"), Secret("a")}) == 1


def test_repr_of_a_whole_config_shows_no_secret() -> None:
    config = parse(TEXT)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert "Secret('***')" in repr(config.llm)


def test_dump_writes_the_real_values() -> None:
    config = parse(TEXT)
    dumped = dump_config(config)
    assert dumped.count(SECRET) == 5
    assert parse(dumped) == config


def test_check_summary_masks_every_secret() -> None:
    agent = parse_agent_config(TEXT, source=Path("a.toml"), environ={})
    summary = "\n".join(describe_agent(agent))
    assert SECRET not in summary
    assert "api_key:" in summary
    assert "Authorization=***" in summary
    assert "TOKEN=***" in summary
    assert "api_key ***" in summary
