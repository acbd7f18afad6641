"""Serve agents built in code over the OpenAI-compatible HTTP API, without a config file.

`create_app(agents, options)` gives the aiohttp application `aura serve` runs; `serve` serves
it until SIGTERM/SIGINT with the graceful shutdown of the CLI. By default this example starts the
app on a free loopback port, asks each agent one question with the official `openai` SDK and
stops, so it runs offline in a second. With `--serve` it serves until Ctrl+C on
http://127.0.0.1:8080 (try `curl http://127.0.0.1:8080/v1/models`).

Run: `python examples/embedding/serve_in_code.py [--serve]`
"""

from __future__ import annotations

import asyncio
import logging
import sys

from openai import AsyncOpenAI

from aura import (
    Agent,
    AgentSettings,
    ChatRequest,
    ScriptedChatModel,
    ScriptedRound,
    ServerOptions,
    create_app,
    reply,
    serve,
    start_app,
)


def echo_last_question(request: ChatRequest) -> ScriptedRound:
    """A stand-in model: answers every turn by quoting the question (replace with a real adapter)."""
    question = request.messages[-1]
    return reply(f"You asked: {getattr(question, 'text', '')}")


def build_agents() -> list[Agent]:
    triage = Agent(
        AgentSettings(name="Triage", alias="triage", system_prompt="Classify incidents.", model_owner="sre-team"),
        ScriptedChatModel([], then=echo_last_question, model_name="triage-script"),
    )
    scribe = Agent(
        AgentSettings(name="Scribe", system_prompt="Write incident timelines."),
        ScriptedChatModel([], then=lambda _: reply("Timeline: 10:02 alert, 10:05 ack, 10:20 mitigated.")),
    )
    return [triage, scribe]  # load order = /v1/models order


async def demo() -> int:
    """Serve on a free port, call each agent once with the openai SDK, stop."""
    agents = build_agents()
    app = create_app(agents, ServerOptions(tool_result_mode="none"), default_agent="triage")
    runner, port = await start_app(app, "127.0.0.1", 0)
    try:
        client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=30)
        models = await client.models.list()
        print("models:", ", ".join(f"{model.id} (owned by {model.owned_by})" for model in models.data))
        for model in models.data:
            stream = await client.chat.completions.create(
                model=model.id, messages=[{"role": "user", "content": "What broke at 10:02?"}], stream=True
            )
            text = ""
            async for chunk in stream:
                if chunk.choices:  # with AURA_CUSTOM_EVENTS on, aura.* events arrive without choices
                    text += chunk.choices[0].delta.content or ""
            print(f"{model.id}: {text}")
        await client.close()
    finally:
        await runner.cleanup()
        for agent in agents:
            await agent.aclose()
    return 0


async def serve_forever() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return await serve(build_agents(), ServerOptions(host="127.0.0.1", port=8080), default_agent="triage")


if __name__ == "__main__":
    sys.exit(asyncio.run(serve_forever() if "--serve" in sys.argv[1:] else demo()))
