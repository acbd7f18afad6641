"""A real aiohttp server on 127.0.0.1 (free port) that records requests: the peer for SDK contract tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import attrs
import pytest
from aiohttp import web

Handler = Callable[[web.Request, "RecordedRequest"], Awaitable[web.StreamResponse]]


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    match_info: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """Serves `routes` (method, path pattern, handler) until the `async with` block ends."""

    def __init__(self, routes: Sequence[tuple[str, str, Handler]]) -> None:
        self.requests: list[RecordedRequest] = []
        self._app = web.Application()
        for method, path, handler in routes:
            self._app.router.add_route(method, path, self._recording(handler))
        self._runner = web.AppRunner(self._app)
        self.base_url = ""

    def _recording(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            recorded = RecordedRequest(
                request.method, request.path, dict(request.headers), await request.read(), dict(request.match_info)
            )
            self.requests.append(recorded)
            return await handler(request, recorded)

        return handle

    async def __aenter__(self) -> FakeServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._runner.cleanup()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


def dummy_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Dummy static credentials and no shared config, so botocore signs requests and never looks elsewhere."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
