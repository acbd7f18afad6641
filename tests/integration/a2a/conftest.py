"""Fixtures of the A2A tests: the MCP fixture server (recording what reaches it) and an agent using it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from aura.domain.agent import Agent
from tests.integration.a2a.support import fixture_agent
from tests.integration.mcp.servers import ServerProcess, running_fixture_server


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


@pytest.fixture
def mcp_server(tmp_path: Path, record: Path) -> Iterator[ServerProcess]:
    with running_fixture_server("streamable-http", tmp_path, record=record) as server:
        yield server


@pytest_asyncio.fixture
async def agent(mcp_server: ServerProcess) -> AsyncIterator[Agent]:
    async with fixture_agent(mcp_server) as made:
        yield made
