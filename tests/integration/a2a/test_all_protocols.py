"""`aura serve` with examples/all-protocols.toml answers over chat completions, Responses and A2A (the real SDKs)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import openai
import pytest

from tests.integration.a2a.support import a2a_client, collect, text_of, user_message
from tests.integration.faults.upstream import Behaviour, FakeOpenAI, Step
from tests.integration.http.support import free_port, wait_until_healthy
from tests.integration.http.test_serve_metrics_and_workers import aura_serve

pytestmark = pytest.mark.timeout(90)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "all-protocols.toml"


async def test_the_example_serves_one_agent_over_all_three_protocols() -> None:
    async with FakeOpenAI(default=Step(Behaviour.STREAM, ("Hello ", "from upstream."))) as upstream:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "CONFIG_PATH": str(EXAMPLE),
            "PORT": str(port),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": upstream.url,
        }
        async with aura_serve(env=env) as serving, aiohttp.ClientSession() as http:
            await wait_until_healthy(http, url, serving.process, log=serving.current_log)
            sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            chat = await sdk.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "hi"}])
            response = await sdk.responses.create(model="assistant", input="hi")
            async with a2a_client(url, "assistant") as client:
                events = await collect(client, user_message("hi"))
            async with http.get(f"{url}/a2a/assistant/.well-known/agent-card.json") as card_response:
                card = await card_response.json()
    assert chat.choices[0].message.content == "Hello from upstream."
    assert response.output_text == "Hello from upstream."
    assert text_of(events) == "Hello from upstream."
    assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (card["name"], card["description"]) == (
        "Assistant",
        "A concise general-purpose assistant, reachable over chat completions, Responses and A2A",
    )
