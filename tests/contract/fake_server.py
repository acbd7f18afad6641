"""A reusable scripted fake provider: aiohttp on 127.0.0.1 (port 0), one scenario step per request.

Subclasses name the paths they serve and turn each `Step` into their provider's real wire format in
`respond`; the base records every request (method, path, headers, JSON body) so tests can assert how
an adapter mapped a `ChatRequest`, and offers helpers for SSE bodies and for breaking a connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from aiohttp import web

from tests.contract.scenario import HttpFailure, Scenario, Step


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, object]


class FakeProviderServer:
    """Base of the fakes. A request to a path not in `paths` gets a 404 and consumes no step.

    When the script runs out the fake answers `exhausted_step` (a 500), so a test that makes more
    requests than it scripted fails loudly instead of hanging.
    """

    paths: tuple[str, ...] = ()
    exhausted_step: Step = HttpFailure(500, "the fake provider has no scripted step left for this request")

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._recorded: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        for path in self.paths:
            app.router.add_post(path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    # --- script and record ----------------------------------------------------------------------

    def load(self, scenario: Scenario) -> None:
        self._steps = list(scenario.steps)
        self._recorded.clear()

    @property
    def recorded(self) -> Sequence[RecordedRequest]:
        return list(self._recorded)

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        return [recorded.body for recorded in self._recorded]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return web.json_response({"error": {"message": "the fake expected a JSON body"}}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": {"message": "the fake expected a JSON object"}}, status=400)
        self._recorded.append(RecordedRequest(request.method, request.path, dict(request.headers), body))
        step = self._steps.pop(0) if self._steps else self.exhausted_step
        return await self.respond(request, body, step)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        """Answer one request with `step` in the provider's wire format."""
        raise NotImplementedError

    # --- wire helpers ---------------------------------------------------------------------------

    @staticmethod
    async def open_event_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        return response

    @staticmethod
    async def send_event(response: web.StreamResponse, data: Mapping[str, Any] | str, event: str | None = None) -> None:
        """One SSE event; `data` is sent verbatim when it is a string (e.g. `[DONE]` or broken JSON)."""
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        prefix = f"event: {event}\n" if event else ""
        await response.write(f"{prefix}data: {payload}\n\n".encode())

    @staticmethod
    def drop_connection(request: web.Request) -> None:
        """Cut the TCP connection mid-body, as a crashing upstream would."""
        if request.transport is not None:
            request.transport.close()
