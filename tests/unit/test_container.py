"""The DI container: an agent from a config or from code, with any provider overridden."""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers
from dependency_injector.errors import Error as DependencyError

from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import ToolCompleted
from aura.domain.messages import SystemMessage
from aura.entrypoints.config import (
    AgentConfig,
    AgentSection,
    ConfigError,
    OpenAIConfig,
    Secret,
    load_config,
)
from aura.entrypoints.container import AgentContainer, build_agents, container_for
from aura.ports.tracer import NoopTracer
from aura.testing import FunctionToolset, ScriptedChatModel, call_tool, reply

CONFIG = AgentConfig(
    llm=OpenAIConfig(model="gpt-4o", api_key=Secret("sk-test")),
    agent=AgentSection(name="Ops", alias="ops", system_prompt="Be careful.", context=("Cluster: prod",), turn_depth=2),
)


def weather_tools() -> FunctionToolset:
    tools = FunctionToolset("weather")
    tools.add(
        lambda city: f"Sunny in {city}",
        name="get_weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    return tools


async def test_agent_from_code_without_any_config() -> None:
    model = ScriptedChatModel([call_tool("get_weather", {"city": "Paris"}), reply("It is sunny in Paris.")])
    container = AgentContainer(
        settings=providers.Object(AgentSettings(name="bot", system_prompt="Be brief.")),
        chat_model=providers.Object(model),
        toolsets=providers.Object([weather_tools()]),
    )
    agent = container.agent()
    final = await agent.run("Weather in Paris?")
    assert final.content == "It is sunny in Paris."
    assert final.error is None
    assert model.requests[1].messages[-1].content == "Sunny in Paris"  # type: ignore[union-attr]
    assert agent.id == "bot"


async def test_agent_from_config_with_the_model_overridden() -> None:
    container = AgentContainer(config=providers.Object(CONFIG))
    model = ScriptedChatModel([reply("Done.")], provider="openai", model_name="gpt-4o")
    container.chat_model.override(providers.Object(model))
    agent = container.agent()
    assert agent.id == "ops"
    assert agent.model_string == "openai/gpt-4o"
    assert agent.settings.turn_depth == 2
    final = await agent.run("status?")
    assert final.content == "Done."
    assert model.requests[0].messages[0] == SystemMessage("Be careful.\n\nCluster: prod")


async def test_toolsets_and_tracer_can_be_overridden() -> None:
    tracer = NoopTracer()
    container = AgentContainer(config=providers.Object(CONFIG), tracer=providers.Object(tracer))
    container.chat_model.override(
        providers.Object(ScriptedChatModel([call_tool("get_weather", {"city": "Oslo"}), reply("ok")]))
    )
    container.toolsets.override(providers.Object([weather_tools()]))
    agent = container.agent()
    assert agent.tracer is tracer
    events = [event async for event in agent.run_turn("Oslo?")]
    completed = [event for event in events if isinstance(event, ToolCompleted)]
    assert [event.result.content for event in completed] == ["Sunny in Oslo"]


def test_one_container_builds_one_agent() -> None:
    container = AgentContainer(config=providers.Object(CONFIG))
    container.chat_model.override(providers.Object(ScriptedChatModel([])))
    assert container.agent() is container.agent()


def test_missing_config_is_reported() -> None:
    container = AgentContainer(chat_model=providers.Object(ScriptedChatModel([])))
    with pytest.raises(DependencyError, match="config"):
        container.agent()


def test_config_of_the_wrong_type_is_rejected() -> None:
    container = AgentContainer(config=providers.Object({"llm": {}}))
    with pytest.raises(DependencyError):
        container.settings()


async def test_build_agents_from_loaded_files_uses_real_adapters(tmp_path: Path) -> None:
    pytest.importorskip("aura.adapters.llm.openai")
    (tmp_path / "a.toml").write_text(
        '[llm]\nprovider = "openai"\napi_key = "{{ env.KEY }}"\nmodel = "gpt-4o-mini"\n'
        '[agent]\nname = "Alpha"\nsystem_prompt = "A"\n'
    )
    (tmp_path / "b.toml").write_text(
        '[llm]\nprovider = "ollama"\nmodel = "qwen3:8b"\n[agent]\nname = "Bravo"\nalias = "b"\nsystem_prompt = "B"\n'
    )
    loaded = load_config(tmp_path, environ={"KEY": "sk-1"}, dotenv=False)
    agents = build_agents(loaded)
    try:
        assert [agent.id for agent in agents] == ["Alpha", "b"]
        assert [agent.model_string for agent in agents] == ["openai/gpt-4o-mini", "ollama/qwen3:8b"]
        assert all(isinstance(agent, Agent) for agent in agents)
        assert agents[0].settings.created_at_ms == loaded.agents[0].created_at_ms
    finally:
        for agent in agents:
            await agent.aclose()


def test_build_agents_errors_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aura.entrypoints import factories

    path = tmp_path / "agent.toml"
    path.write_text(
        '[llm]\nprovider = "gemini"\napi_key = "k"\nmodel = "m"\n[agent]\nname = "G"\nsystem_prompt = "x"\n'
    )
    monkeypatch.setitem(factories.LLM_ADAPTERS, "gemini", ("aura.adapters.llm.not_built", ""))
    loaded = load_config(path, environ={}, dotenv=False)
    with pytest.raises(ConfigError) as caught:
        build_agents(loaded)
    assert str(caught.value) == f"{path}: provider 'gemini' is not available in this build"


async def test_container_for_lets_the_server_override_before_building(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[llm]\nprovider = "llamacpp"\nmodel_path = "/nowhere.gguf"\n[agent]\nname = "L"\nsystem_prompt = "x"\n'
    )
    loaded = load_config(path, environ={}, dotenv=False)
    container = container_for(loaded.agents[0])
    container.chat_model.override(providers.Object(ScriptedChatModel([reply("local answer")])))
    final = await container.agent().run("hi")
    assert final.content == "local answer"
