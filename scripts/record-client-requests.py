"""A recording reverse proxy: put it between a real client and `aura serve` to capture what the client sends.

    python scripts/record-client-requests.py --port 8300 --target http://127.0.0.1:8080 \
        --out tests/fixtures/clients/openwebui-0.12.4.json --client "open-webui 0.12.4"

Point the client at http://127.0.0.1:8300/v1. Every request is relayed to the target as it is (streams are passed
through as they arrive) and appended to the JSON file `--out` (replaced at start unless `--append`; rewritten after each
exchange, so stopping the proxy never leaves a half-written file):

    {"client": ..., "exchanges": [{"label", "request": {"method", "path", "headers", "body"},
                                   "response": {"status", "content_type", "body" | "sse"}}]}

Scrubbed before writing: `Authorization` becomes `Bearer <redacted>`, cookies and hop-by-hop headers are dropped,
OpenWebUI's user headers and chat/message ids become placeholders, UUIDs anywhere become `<uuid>`, and the
response's volatile `id`/`created` are normalised. `sse` is the list of frames (each frame's lines), `body` the
parsed JSON (or text). The label of an exchange is taken from the `X-Record-Label` request header when a driver
sends one, else guessed (OpenWebUI task prompts, tool follow-ups).

Needs only aiohttp (the repo's venv or OpenWebUI's).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

DROPPED_HEADERS = {
    "host",
    "content-length",
    "cookie",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "accept-encoding",
    "x-record-label",
}
PLACEHOLDER_HEADERS = {
    "x-openwebui-user-id": "<user-id>",
    "x-openwebui-user-email": "admin@example.com",
    "x-openwebui-user-name": "Admin",
    "x-openwebui-chat-id": "<chat-id>",
    "x-openwebui-message-id": "<message-id>",
}
TASK_MARKERS = (
    ("concise title", "task: title"),
    ("broad tags", "task: tags"),
    ("useful messages this user might naturally send next", "task: follow-ups"),
    ("autocompletion system", "task: autocomplete"),
    ("search queries", "task: queries"),
)
_CHUNK_ID = re.compile(r'("id":\s*)"chatcmpl[^"]*"')
_CREATED = re.compile(r'("created":\s*)\d+')
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def scrub_headers(headers: Any) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in DROPPED_HEADERS:
            continue
        if lower == "authorization":
            value = "Bearer <redacted>"
        elif lower in PLACEHOLDER_HEADERS:
            value = PLACEHOLDER_HEADERS[lower]
        kept[lower] = value
    return dict(sorted(kept.items()))


def scrub_text(text: str) -> str:
    """Ids that change from run to run (OpenWebUI's chat/message/file ids are UUIDs) become `<uuid>`."""
    return _UUID.sub("<uuid>", text)


def scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: scrub_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_json(item) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def normalise_response_object(value: Any) -> Any:
    if isinstance(value, dict):
        value = dict(value)
        if isinstance(value.get("id"), str) and value["id"].startswith("chatcmpl"):
            value["id"] = "chatcmpl-<id>"
        if isinstance(value.get("created"), int):
            value["created"] = 0
    return value


def guess_label(method: str, path: str, body: Any) -> str:
    if method == "GET":
        return f"GET {path}"
    if not isinstance(body, dict):
        return f"{method} {path}"
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, dict) else None
    text = content if isinstance(content, str) else json.dumps(content)
    if isinstance(text, str) and "### Task:" in text:
        for marker, label in TASK_MARKERS:
            if marker in text:
                return label
        return "task: other"
    kind = "stream" if body.get("stream") else "non-stream"
    if isinstance(last, dict) and last.get("role") == "tool":
        return f"chat ({kind}) after tool results"
    users = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")
    tools = " with tools" if body.get("tools") else ""
    return f"chat ({kind}{tools}), user message {users}"


def parse_sse(raw: str) -> list[list[str]]:
    """The frames of a stream, each as its lines, byte for byte but for the normalised `id`, `created` and UUIDs."""
    frames = [block for block in raw.replace("\r\n", "\n").split("\n\n") if block.strip()]
    result: list[list[str]] = []
    for block in frames:
        lines: list[str] = []
        for line in block.split("\n"):
            if line.startswith("data: "):
                line = _CHUNK_ID.sub(r'\1"chatcmpl-<id>"', line, count=1)
                line = _CREATED.sub(r"\g<1>0", line, count=1)
            lines.append(scrub_text(line))
        result.append(lines)
    return result


class Recorder:
    def __init__(self, target: str, out: Path, client: str, *, append: bool = False) -> None:
        self.target = target.rstrip("/")
        self.out = out
        self.document: dict[str, Any] = {"client": client, "exchanges": []}
        if append and out.exists():
            self.document = json.loads(out.read_text())
        self.session: aiohttp.ClientSession | None = None

    async def start(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def stop(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.document, indent=2, ensure_ascii=False) + "\n")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        raw_body = await request.read()
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode(errors="replace")
        forward_headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in DROPPED_HEADERS or name.lower() == "cookie"
        }
        forward_headers.pop("X-Record-Label", None)
        label = request.headers.get("X-Record-Label") or guess_label(request.method, request.path, body)
        exchange: dict[str, Any] = {
            "label": label,
            "request": {
                "method": request.method,
                "path": request.path_qs,
                "headers": scrub_headers(request.headers),
                "body": scrub_json(body),
            },
        }
        url = self.target + request.path_qs
        async with self.session.request(request.method, url, data=raw_body, headers=forward_headers) as upstream:
            content_type = upstream.headers.get("Content-Type", "")
            record: dict[str, Any] = {"status": upstream.status, "content_type": content_type}
            if content_type.startswith("text/event-stream"):
                response = web.StreamResponse(status=upstream.status, headers={"Content-Type": content_type})
                await response.prepare(request)
                received = bytearray()
                async for piece in upstream.content.iter_any():
                    received += piece
                    await response.write(piece)
                await response.write_eof()
                record["sse"] = parse_sse(received.decode())
            else:
                payload = await upstream.read()
                response = web.Response(status=upstream.status, body=payload, content_type=content_type.split(";")[0])
                try:
                    record["body"] = scrub_json(normalise_response_object(json.loads(payload)))
                except ValueError:
                    record["body"] = payload.decode(errors="replace")
        exchange["response"] = record
        self.document["exchanges"].append(exchange)
        self.write()
        print(f"recorded: {label} -> {record['status']}", file=sys.stderr, flush=True)
        return response


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the server to relay to, e.g. http://127.0.0.1:8080")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--client", required=True, help='what is recorded, e.g. "open-webui 0.12.4"')
    parser.add_argument("--append", action="store_true", help="add to the exchanges already in --out (else replace)")
    args = parser.parse_args(argv)
    recorder = Recorder(args.target, args.out, args.client, append=args.append)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_startup.append(recorder.start)
    app.on_cleanup.append(recorder.stop)
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
