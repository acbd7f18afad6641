"""Typed per-request values shared between the chat handler and the middlewares."""

from __future__ import annotations

from aiohttp import web

AGENT_ID = web.RequestKey("aura_agent_id", str)
"""The id of the agent chosen for a chat request (the metrics label)."""

RESPONSE_STATUS = web.RequestKey("aura_response_status", int)
"""The status of a response already sent (a stream), for a request cancelled afterwards."""
