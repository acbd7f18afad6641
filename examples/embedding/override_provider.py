"""Build an agent with the DI container from a config made in code, then override its providers.

`AgentContainer` is how `aura serve`, `aura chat` and `open_agents` assemble every agent:
`config` -> `chat_model`, `toolsets`, `settings` -> `agent`. Each provider can be overridden before
`container.agent()` is called, which is how you plug in a custom model adapter, extra tools or a
tracer while keeping the rest of the configuration. Here the config asks for OpenAI, but the
`chat_model` provider is overridden with a scripted model, so no OpenAI client is ever created and
nothing touches the network. The `[agent]` settings (name, alias, prompt, turn depth) still come
from the config, and so would MCP servers and vector stores.

Run: `python examples/embedding/override_provider.py`
"""

from __future__ import annotations

import asyncio
import sys

from aura import AgentContainer, FunctionToolset, ScriptedChatModel, call_tool, config, reply

UNUSED_API_KEY = "sk-never-used-in-this-example"


def deploy_config() -> config.AgentConfig:
    """The same config a TOML file would give (`dump_config` prints that file)."""
    return config.AgentConfig(
        llm=config.OpenAIConfig(model="gpt-4o", api_key=config.Secret(UNUSED_API_KEY)),
        agent=config.AgentSection(
            name="Deploy Assistant",
            alias="deploy",
            system_prompt="You help with deployments. Check the pipeline before answering.",
            turn_depth=3,
        ),
    )


def latest_pipeline() -> dict[str, object]:
    """The latest deployment pipeline and its current stage."""
    return {"pipeline": "web#1423", "stage": "canary", "healthy": True}


async def main() -> int:
    agent_config = deploy_config()
    # `dump_config` writes the file itself, secrets in clear: mask the key before printing it.
    toml_text = config.dump_config(agent_config).replace(UNUSED_API_KEY, "***")
    print(f"config as TOML:\n{toml_text}")

    container = AgentContainer(config=agent_config)
    # Swap the model: any `ChatModel` works (your adapter, a scripted one for tests).
    container.chat_model.override(
        ScriptedChatModel(
            [call_tool("latest_pipeline"), reply("Pipeline web#1423 is in canary and healthy; safe to proceed.")],
            provider="scripted",
            model_name="deploy-script",
        )
    )
    # Swap the tools too (the config has no MCP servers; with some, this would replace them).
    container.toolsets.override([FunctionToolset("ci", [latest_pipeline])])

    async with container.agent() as agent:
        final = await agent.run("Can I promote the web release?")
    if final.error is not None:
        print(f"error: {final.error.message}", file=sys.stderr)
        return 1
    print(f"agent: {agent.id} ({agent.settings.name}), turn_depth {agent.settings.turn_depth}")
    print(f"model: {agent.model_string} (the config said {agent_config.model_string})")
    print(f"answer: {final.content}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
