"""The approval webhook (signed both ways) and approvals shared by several workers through Redis."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from aura.domain.approvals import approval_signature, signature_matches
from tests.integration.approvals.serving import WEBHOOK_SECRET, agent_config, answer, approval_server, tool_call
from tests.integration.http.support import free_port
from tests.integration.http.test_serve_metrics_and_workers import aura_serve
from tests.redis_server import redis_server_binary, running_redis_server

DECISION_ID = re.compile(r"apr_[0-9a-f]{24}")


class FakeApprover:
    """A local approver service: records every webhook request it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[CIMultiDict[str], bytes]] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeApprover:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append((CIMultiDict(request.headers), await request.read()))
        self.arrived.set()
        return web.json_response({"ok": True})


def signed(
    body: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    timestamp = str(at if at is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Aura-Timestamp": timestamp,
        "X-Aura-Signature": approval_signature(secret, timestamp, raw),
        "X-Aura-Approver": "oncall-bot",
    }
    return raw, headers


async def chat(http: aiohttp.ClientSession, url: str, messages: list[dict[str, str]], session: str) -> str:
    body = {"model": "ops", "messages": messages}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers={"X-Chat-Session-Id": session}) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["choices"][0]["message"]["content"])


async def test_the_webhook_is_signed_and_only_signed_fresh_decisions_count(tmp_path: Path) -> None:
    async with FakeApprover() as approver, approval_server(tmp_path, webhook_url=approver.url) as server:
        server.upstream.then(tool_call("restart_deployment", name="api"), answer("Restarted by the bot's approval."))
        async with aiohttp.ClientSession() as http:
            question = [{"role": "user", "content": "restart api"}]
            body = {"model": "ops", "messages": question}
            headers = {"X-Chat-Session-Id": "s-hook", "X-Team": "payments"}
            async with http.post(f"{server.url}/v1/chat/completions", json=body, headers=headers) as response:
                text = (await response.json())["choices"][0]["message"]["content"]
            await asyncio.wait_for(approver.arrived.wait(), 10)

            hook_headers, hook_body = approver.received[0]
            assert signature_matches(
                WEBHOOK_SECRET, hook_headers["X-Aura-Timestamp"], hook_body, hook_headers["X-Aura-Signature"]
            )
            assert hook_headers["X-Aura-Agent"] == "ops"
            assert hook_headers["X-Team"] == "payments"  # a configured forwarded header
            document = json.loads(hook_body)
            assert document["tool"] == "restart_deployment"
            assert document["decide_url"].endswith(f"/v1/approvals/{document['decision_id']}")
            assert document["decision_id"] in text
            path = f"{server.url}/v1/approvals/{document['decision_id']}"

            unsigned = {"decision": "approve"}
            async with http.post(path, json=unsigned) as response:
                assert response.status == 401
            raw, forged = signed(unsigned, secret="not-the-secret-at-all")
            async with http.post(path, data=raw, headers=forged) as response:
                assert response.status == 401
            raw, stale = signed(unsigned, at=int(time.time()) - 3600)
            async with http.post(path, data=raw, headers=stale) as response:
                assert response.status == 401
            raw, good = signed(unsigned)
            async with http.post(path, data=raw, headers=good) as response:
                assert response.status == 200, await response.text()
                assert (await response.json())["decision"]["approver"] == "oncall-bot"
            async with http.post(path, data=raw, headers=good) as response:  # the same request again: a replay
                assert response.status == 401
                assert "already used" in (await response.json())["error"]["message"]

            resumed = await chat(
                http,
                server.url,
                [*question, {"role": "assistant", "content": text}, {"role": "user", "content": "?"}],
                "s-hook",
            )
        assert resumed == "Restarted by the bot's approval."
        assert server.ran("restart_deployment") == 1
        log = server.process.log
        assert log.count("refused") >= 4
        assert "replayed decision refused" in log
        assert "by=oncall-bot via=webhook" in log
        assert WEBHOOK_SECRET not in log


async def park_and_decide(
    http: aiohttp.ClientSession, url: str, session: str, decision: str = "approve"
) -> tuple[int, str, str]:
    """Park a turn, then decide it through a fresh connection (so possibly another worker); return the status."""
    question = [{"role": "user", "content": f"restart {session}"}]
    text = await chat(http, url, question, session)
    found = DECISION_ID.search(text)
    assert found is not None, text
    async with http.post(f"{url}/v1/approvals/{found.group()}", json={"decision": decision}) as response:
        return response.status, text, (await response.text())


@pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed (Debian package redis-server)")
async def test_two_workers_share_approvals_through_redis(tmp_path: Path) -> None:
    rounds = 8
    with running_redis_server() as redis_url:
        async with approval_server(tmp_path, "--workers", "2", env={"SESSION_STORE_URL": redis_url}) as server:
            await server.process.wait_for_line(") listening on port", count=2)
            for i in range(rounds):
                server.upstream.then(tool_call("restart_deployment", name=f"svc{i}"), answer(f"done {i}"))
            connector = aiohttp.TCPConnector(force_close=True)  # a new connection, so a worker picked anew, each time
            async with aiohttp.ClientSession(connector=connector) as http:
                for i in range(rounds):
                    session = f"svc{i}"
                    status, text, detail = await park_and_decide(http, server.url, session)
                    assert status == 200, detail
                    # the resume can land on either worker too
                    history = [
                        {"role": "user", "content": f"restart {session}"},
                        {"role": "assistant", "content": text},
                        {"role": "user", "content": "continue"},
                    ]
                    assert await chat(http, server.url, history, session) == f"done {i}"
            assert server.ran("restart_deployment") == rounds
            pids = {call["pid"] for call in server.calls()}
            assert len(pids) == 2, "every restart ran on the MCP server of one worker: the test proved nothing"


async def test_two_workers_with_memory_stores_say_a_shared_store_is_needed(tmp_path: Path) -> None:
    async with approval_server(tmp_path, "--workers", "2") as server:
        await server.process.wait_for_line(") listening on port", count=2)
        await server.process.wait_for_line("Set SESSION_STORE_URL=redis://")
        for i in range(12):
            server.upstream.then(tool_call("restart_deployment", name=f"svc{i}"))
        connector = aiohttp.TCPConnector(force_close=True)
        misses: list[str] = []
        async with aiohttp.ClientSession(connector=connector) as http:
            for i in range(12):
                status, _, detail = await park_and_decide(http, server.url, f"svc{i}")
                if status == 404:
                    misses.append(detail)
                if misses:
                    break
        assert misses, "12 decisions all reached the worker that parked them"
        assert "set SESSION_STORE_URL to a shared Redis" in misses[0]


async def test_an_unreachable_session_store_fails_the_start_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(agent_config("http://127.0.0.1:9/v1", tmp_path / "calls.jsonl"))
    env = {
        "CONFIG_PATH": str(config),
        "PORT": str(free_port()),
        "SESSION_STORE_URL": "redis://:pw-123456@127.0.0.1:1/0",
    }
    async with aura_serve(env=env) as serving:
        code = await serving.exit_code(60)
    assert code == 1
    assert "Configuration error: SESSION_STORE_URL: session store redis at redis://:***@127.0.0.1:1/0" in serving.log
    assert "Traceback" not in serving.log
    assert "pw-123456" not in serving.log
