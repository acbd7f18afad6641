"""A fake that answers with exact, hand-written bytes, for wire cases a `Scenario` cannot express
(a `max_tokens` stop, a stream cut before its final event, a signed function call, …)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from aiohttp import web

from tests.contract.fake_server import FakeProviderServer
from tests.contract.scenario import Step


@attrs.frozen
class RawReply:
    """One HTTP answer: status, content type and the body written chunk by chunk."""

    chunks: tuple[bytes, ...]
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class RawReplyServer(FakeProviderServer):
    """Serves queued `RawReply`s in order, one per request, on the given route paths."""

    def __init__(self, paths: Sequence[str]) -> None:
        super().__init__()
        self.paths = tuple(paths)
        self._replies: list[RawReply] = []

    def queue(self, *replies: RawReply) -> None:
        self._replies.extend(replies)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        if not self._replies:
            return web.json_response({"error": "the raw fake has no reply queued"}, status=500)
        reply = self._replies.pop(0)
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": reply.content_type, **dict(reply.headers)}
        )
        await response.prepare(request)
        for chunk in reply.chunks:
            await response.write(chunk)
        await response.write_eof()
        return response
