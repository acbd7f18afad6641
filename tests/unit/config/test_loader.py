"""Loading a file or a directory, `.env` files, and choosing the default agent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aura.entrypoints.config import ConfigError, export_dotenv, load_config
from tests.unit.config.helpers import OPENAI_LLM


def agent_file(directory: Path, filename: str, name: str, alias: str | None = None, llm: str = OPENAI_LLM) -> Path:
    alias_line = f'alias = "{alias}"\n' if alias else ""
    path = directory / filename
    path.write_text(llm + f'[agent]\nname = "{name}"\n{alias_line}system_prompt = "x"\n')
    return path


def test_single_file_gives_one_agent(tmp_path: Path) -> None:
    path = agent_file(tmp_path, "agent.toml", "Solo")
    loaded = load_config(path, environ={}, dotenv=False)
    assert loaded.ids == ("Solo",)
    assert loaded.agents[0].source == path
    assert loaded.path == path


def test_directory_loads_only_toml_files_sorted_by_name(tmp_path: Path) -> None:
    agent_file(tmp_path, "b.toml", "Bravo")
    agent_file(tmp_path, "a.toml", "Alpha")
    agent_file(tmp_path, "c.TOML", "Ignored")
    (tmp_path / "readme.md").write_text("# not a config")
    (tmp_path / "sub").mkdir()
    agent_file(tmp_path / "sub", "d.toml", "NotRecursive")
    loaded = load_config(tmp_path, environ={}, dotenv=False)
    assert loaded.ids == ("Alpha", "Bravo")
    assert [agent.source.name for agent in loaded.agents] == ["a.toml", "b.toml"]


def test_all_files_of_a_directory_share_one_load_time(tmp_path: Path) -> None:
    agent_file(tmp_path, "a.toml", "A")
    agent_file(tmp_path, "b.toml", "B")
    loaded = load_config(tmp_path, environ={}, dotenv=False)
    assert loaded.agents[0].loaded_at_ms == loaded.agents[1].loaded_at_ms


def test_find_by_id(tmp_path: Path) -> None:
    agent_file(tmp_path, "a.toml", "Alpha", alias="a")
    loaded = load_config(tmp_path, environ={}, dotenv=False)
    assert loaded.find("a") is loaded.agents[0]
    assert loaded.find("Alpha") is loaded.agents[0]  # the id is the alias; the unambiguous name works too
    assert loaded.find("b") is None


KEYED_LLM = OPENAI_LLM.replace('"sk-test"', '"{{ env.OPENAI_API_KEY }}"')


def test_dotenv_next_to_the_config_supplies_missing_variables(tmp_path: Path) -> None:
    path = agent_file(tmp_path, "agent.toml", "A", llm=KEYED_LLM)
    (tmp_path / ".env").write_text("OPENAI_API_KEY=from-dotenv\n")
    loaded = load_config(path, environ={})
    assert loaded.agents[0].config.llm.api_key.reveal() == "from-dotenv"  # type: ignore[union-attr]
    assert loaded.env_files == (tmp_path / ".env",)


def test_real_environment_wins_over_dotenv(tmp_path: Path) -> None:
    path = agent_file(tmp_path, "agent.toml", "A", llm=KEYED_LLM)
    (tmp_path / ".env").write_text("OPENAI_API_KEY=from-dotenv\n")
    loaded = load_config(path, environ={"OPENAI_API_KEY": "from-env"})
    assert loaded.agents[0].config.llm.api_key.reveal() == "from-env"  # type: ignore[union-attr]


def test_dotenv_in_working_directory_is_read_and_config_dir_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    configs = tmp_path / "configs"
    work.mkdir()
    configs.mkdir()
    monkeypatch.chdir(work)
    (work / ".env").write_text("OPENAI_API_KEY=from-cwd\nMODEL_OWNER=cwd-owner\n")
    path = configs / "agent.toml"
    path.write_text(KEYED_LLM + '[agent]\nname = "A"\nsystem_prompt = "x"\nmodel_owner = "{{ env.MODEL_OWNER }}"\n')
    assert load_config(path, environ={}).agents[0].config.llm.api_key.reveal() == "from-cwd"  # type: ignore[union-attr]
    (configs / ".env").write_text("OPENAI_API_KEY=from-config-dir\n")
    loaded = load_config(path, environ={})
    assert loaded.agents[0].config.llm.api_key.reveal() == "from-config-dir"  # type: ignore[union-attr]
    assert loaded.agents[0].config.agent.model_owner == "cwd-owner"


def test_dotenv_can_be_turned_off(tmp_path: Path) -> None:
    path = agent_file(tmp_path, "agent.toml", "A", llm=KEYED_LLM)
    (tmp_path / ".env").write_text("OPENAI_API_KEY=from-dotenv\n")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        load_config(path, environ={}, dotenv=False)


def test_loading_does_not_change_os_environ(tmp_path: Path) -> None:
    path = agent_file(tmp_path, "agent.toml", "A", llm=KEYED_LLM)
    (tmp_path / ".env").write_text("AURA_TEST_ONLY_VARIABLE=1\nOPENAI_API_KEY=k\n")
    load_config(path, environ={})
    assert "AURA_TEST_ONLY_VARIABLE" not in os.environ


def test_export_dotenv_never_overrides_set_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AURA_TEST_SET=from-file\nAURA_TEST_UNSET=from-file\n")
    monkeypatch.setenv("AURA_TEST_SET", "from-shell")
    monkeypatch.delenv("AURA_TEST_UNSET", raising=False)
    try:
        assert export_dotenv(tmp_path / "agent.toml") == [tmp_path / ".env"]
        assert os.environ["AURA_TEST_SET"] == "from-shell"
        assert os.environ["AURA_TEST_UNSET"] == "from-file"
    finally:
        os.environ.pop("AURA_TEST_UNSET", None)


def test_default_agent_rules(tmp_path: Path) -> None:
    single = load_config(agent_file(tmp_path, "solo.toml", "Solo"), environ={}, dotenv=False)
    assert single.default_agent(None) is single.agents[0]

    many_dir = tmp_path / "many"
    many_dir.mkdir()
    agent_file(many_dir, "a.toml", "Alpha", alias="alpha")
    agent_file(many_dir, "b.toml", "Bravo")
    many = load_config(many_dir, environ={}, dotenv=False)
    assert many.default_agent(None) is None
    assert many.default_agent("Bravo") is many.agents[1]
    assert many.default_agent("alpha") is many.agents[0]
    assert many.default_agent("Alpha") is many.agents[0]  # a name is accepted when it is unambiguous
    with pytest.raises(ConfigError, match="DEFAULT_AGENT 'alph' does not match"):
        many.default_agent("alph")


def test_default_agent_by_ambiguous_name_is_rejected(tmp_path: Path) -> None:
    agent_file(tmp_path, "a.toml", "Same", alias="one")
    agent_file(tmp_path, "b.toml", "Same", alias="two")
    loaded = load_config(tmp_path, environ={}, dotenv=False)
    with pytest.raises(ConfigError, match="loaded: 'one', 'two'"):
        loaded.default_agent("Same")


def test_environ_defaults_to_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-process")
    path = agent_file(tmp_path, "agent.toml", "A", llm=KEYED_LLM)
    loaded = load_config(path, dotenv=False)
    assert loaded.agents[0].config.llm.api_key.reveal() == "from-process"  # type: ignore[union-attr]
