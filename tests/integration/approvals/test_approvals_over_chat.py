"""Approvals through `aura serve`: the openai SDK, a chat UI that re-sends history, the decision API and expiry."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import openai

from tests.integration.approvals.serving import answer, approval_server, tool_call
from tests.integration.http.support import events, stream_frames

DECISION_ID = re.compile(r"apr_[0-9a-f]{24}")


async def stream_text(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], session: str | None
) -> tuple[str, str | None]:
    headers = {"X-Chat-Session-Id": session} if session else {}
    stream = await client.chat.completions.create(
        model="ops",
        messages=messages,
        stream=True,
        extra_headers=headers,  # type: ignore[arg-type]
    )
    text, finish = "", None
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return text, finish


def sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


async def test_a_destructive_call_parks_and_the_api_decision_resumes_it_once(tmp_path: Path) -> None:
    async with approval_server(tmp_path) as server:
        server.upstream.then(tool_call("restart_deployment", name="api"), answer("Restarted api."))
        client = sdk(server.url)
        question = [{"role": "user", "content": "restart api"}]

        text, finish = await stream_text(client, question, "s-api")

        assert finish == "stop"
        assert "Approval needed" in text
        assert "`restart_deployment`" in text
        decision_id = DECISION_ID.search(text)
        assert decision_id is not None
        assert server.ran("restart_deployment") == 0

        async with aiohttp.ClientSession() as http:
            path = f"{server.url}/v1/approvals/{decision_id.group()}"
            async with http.get(path) as response:
                assert (response.status, (await response.json())["status"]) == (200, "pending")
            body = {"decision": "approve", "reason": "change CHG-1"}
            headers = {"X-Aura-Approver": "alice@example.com"}
            async with http.post(path, json=body, headers=headers) as response:
                assert response.status == 200
                recorded = await response.json()
            async with http.post(path, json={"decision": "deny"}) as response:
                assert response.status == 409
                assert (await response.json())["error"]["code"] == "already_decided"
        assert recorded["decision"]["approver"] == "alice@example.com"

        history = [*question, {"role": "assistant", "content": text}, {"role": "user", "content": "go ahead"}]
        resumed, finish = await stream_text(client, history, "s-api")

        assert "Restarted api." in resumed
        assert finish == "stop"
        assert server.ran("restart_deployment") == 1
        last_upstream_messages = server.upstream.requests[-1]["messages"]
        assert last_upstream_messages[-1]["role"] == "tool"
        assert "restarted" in last_upstream_messages[-1]["content"]
        await server.process.wait_for_line("approval approved")
        assert "alice@example.com" in server.process.log
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as response:
            metrics = await response.text()
        assert 'aura_approvals_total{agent="ops",outcome="requested"} 1.0' in metrics
        assert 'aura_approvals_total{agent="ops",outcome="approved"} 1.0' in metrics


async def test_deny_in_the_api_reaches_the_model_as_the_tool_result(tmp_path: Path) -> None:
    async with approval_server(tmp_path) as server:
        server.upstream.then(tool_call("restart_deployment", name="db"), answer("OK, I will not restart db."))
        client = sdk(server.url)
        question = [{"role": "user", "content": "restart db"}]
        text, _ = await stream_text(client, question, "s-db")
        decision_id = DECISION_ID.search(text)
        assert decision_id is not None
        async with aiohttp.ClientSession() as http:
            body = {"decision": "deny", "reason": "peak hour"}
            async with http.post(f"{server.url}/v1/approvals/{decision_id.group()}", json=body) as response:
                assert response.status == 200

        resumed, _ = await stream_text(
            client, [*question, {"role": "assistant", "content": text}, {"role": "user", "content": "well?"}], "s-db"
        )

        assert "OK, I will not restart db." in resumed
        assert server.ran("restart_deployment") == 0
        tool_message = server.upstream.requests[-1]["messages"][-1]
        assert tool_message["role"] == "tool"
        assert "Denied" in tool_message["content"]
        assert "peak hour" in tool_message["content"]


async def test_an_expired_approval_is_a_denial_and_a_late_decision_a_409(tmp_path: Path) -> None:
    async with approval_server(tmp_path, timeout_secs=1) as server:
        server.upstream.then(tool_call("restart_deployment", name="web"), answer("It expired, nothing done."))
        client = sdk(server.url)
        question = [{"role": "user", "content": "restart web"}]
        text, _ = await stream_text(client, question, "s-web")
        decision_id = DECISION_ID.search(text)
        assert decision_id is not None
        await asyncio.sleep(1.5)
        async with aiohttp.ClientSession() as http:
            path = f"{server.url}/v1/approvals/{decision_id.group()}"
            async with http.post(path, json={"decision": "approve"}) as response:
                assert response.status == 409
                assert (await response.json())["error"]["code"] == "approval_expired"

        resumed, _ = await stream_text(
            client, [*question, {"role": "assistant", "content": text}, {"role": "user", "content": "approve"}], "s-web"
        )

        assert "It expired, nothing done." in resumed
        assert server.ran("restart_deployment") == 0
        assert "expired" in server.upstream.requests[-1]["messages"][-1]["content"]


async def test_a_chat_ui_that_resends_history_approves_by_typing_approve(tmp_path: Path) -> None:
    """No session id, no custom events, no decision id in headers: the OpenWebUI way."""
    async with approval_server(tmp_path) as server:
        server.upstream.then(tool_call("restart_deployment", name="api"), answer("Restarted api for you."))
        client = sdk(server.url)
        question = [{"role": "user", "content": "please restart api"}]
        text, _ = await stream_text(client, question, None)
        assert "Approval needed" in text

        history = [*question, {"role": "assistant", "content": text}, {"role": "user", "content": "approve"}]
        resumed, _ = await stream_text(client, history, None)

        assert "Restarted api for you." in resumed
        assert server.ran("restart_deployment") == 1


async def test_read_only_runs_and_overrides_and_missing_annotations_ask(tmp_path: Path) -> None:
    async with approval_server(tmp_path) as server:
        server.upstream.then(
            tool_call("get_pods", namespace="prod"),
            answer("Pods listed."),
            tool_call("scale_deployment", name="api", replicas=0),
            tool_call("describe_node", name="n1"),
        )
        client = sdk(server.url)

        listed, _ = await stream_text(client, [{"role": "user", "content": "list pods"}], "s-1")
        scaled, _ = await stream_text(client, [{"role": "user", "content": "scale api to 0"}], "s-2")
        described, _ = await stream_text(client, [{"role": "user", "content": "describe n1"}], "s-3")

        assert "Pods listed." in listed
        assert server.ran("get_pods") == 1
        assert "Approval needed" in scaled  # labelled read-only, forced to ask by the rule
        assert server.ran("scale_deployment") == 0
        assert "Approval needed" in described  # no annotations: the MCP defaults say it may be destructive
        assert "no annotations" in described


async def test_custom_events_carry_the_approval_request(tmp_path: Path) -> None:
    async with approval_server(tmp_path, env={"AURA_CUSTOM_EVENTS": "true"}) as server:
        server.upstream.then(tool_call("restart_deployment", name="api"))
        async with aiohttp.ClientSession() as http:
            body = {"model": "ops", "stream": True, "messages": [{"role": "user", "content": "restart api"}]}
            frames = await stream_frames(http, server.url, body)
        requested = events(frames, "aura.approval_requested")
        assert len(requested) == 1
        data = requested[0].data
        assert isinstance(data, dict)
        assert data["tool"] == "restart_deployment"
        assert data["agent"] == "ops"
        assert DECISION_ID.fullmatch(data["decision_id"])
        assert data["reason"].endswith("destructiveHint: true")
        assert frames[-1].kind == "done"


async def test_the_model_entry_lists_each_tool_with_its_approval_rule(tmp_path: Path) -> None:
    async with (
        approval_server(tmp_path) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/v1/models/ops") as response,
    ):
        assert response.status == 200
        tools = {tool["name"]: tool for tool in (await response.json())["tools"]}
    assert tools["get_pods"]["annotations"] == {"readOnlyHint": True}
    assert tools["get_pods"]["approval"]["required"] is False
    assert tools["restart_deployment"]["approval"]["required"] is True
    assert tools["scale_deployment"]["approval"] == {
        "required": True,
        "rule": "always",
        "reason": "rule server='kube' tool='scale_*' → always",
    }
    assert tools["describe_node"]["approval"]["required"] is True
