"""A rule-based fake OpenAI upstream, so `aura serve` can be driven by real clients offline and deterministically.

    python tests/integration/clients/fake_upstream.py --port 8099     # then point an agent's base_url at it

It answers `POST /v1/chat/completions` (streaming the way api.openai.com does: a role chunk first, content pieces,
tool calls as an opening fragment with id and name then argument pieces, a finish chunk, a usage chunk when
`stream_options.include_usage` asks; or one `chat.completion` object when `stream` is false), by these rules:

- the conversation ends in `tool` messages → a text answer quoting each result: `echo returned: hello.`
- the last user message is a chat UI's background task (OpenWebUI's prompts start with `### Task:`) → the JSON that
  task expects (a title, tags, follow-ups, an autocompletion, search queries);
- the last user message says `call <tool>` for tools the request offers → calls them, all in one round; the
  arguments are the JSON object right after the name (`call get_weather {"city": "Paris"}`), else filled from the
  tool's schema (string properties get the text after ` with `, or the whole message);
- anything else → `You said: <text>`.

Every request is logged to stderr as one line (model, message roles, offered tools).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

CREATED = 1_700_000_000
TASK_ANSWERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("concise title", {"title": "Echo Tool Check"}),
    ("broad tags", {"tags": ["Technology", "Testing"]}),
    ("follow_ups", {"follow_ups": ["Call echo again with goodbye", "Which tools can you use?"]}),
    ("autocompletion system", {"text": " please"}),
    ("search queries", {"queries": []}),
    ("image generation", {"prompt": "a friendly robot"}),
)
_CALL = re.compile(r"\bcall\s+(?:the\s+)?([A-Za-z0-9_.\-]+)")


def text_of(content: object) -> str:
    """The text of a message's `content`: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def decide(body: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The answer to one request: its text and its tool calls (`{"id", "name", "arguments"}` with JSON arguments)."""
    messages: Sequence[Mapping[str, Any]] = body.get("messages") or []
    if not messages:
        return "There is no message to answer.", []
    if messages[-1].get("role") == "tool":
        return _after_tools(messages), []
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = text_of(last_user.get("content")) if last_user else ""
    if "### Task:" in text:
        return _task_answer(text), []
    tools = {
        str(tool["function"]["name"]): tool["function"]
        for tool in body.get("tools") or ()
        if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping)
    }
    calls = _calls(text, tools, len(messages))
    if calls:
        return "", calls
    return f"You said: {text}", []


def _after_tools(messages: Sequence[Mapping[str, Any]]) -> str:
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            names[str(call.get("id"))] = str(call.get("function", {}).get("name", "a tool"))
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        name = names.get(str(message.get("tool_call_id")), "a tool")
        results.append(f"{name} returned: {text_of(message.get('content'))}.")
    return " ".join(reversed(results))


def _task_answer(prompt: str) -> str:
    for marker, answer in TASK_ANSWERS:
        if marker in prompt:
            return json.dumps(answer)
    return "{}"


def _calls(text: str, tools: Mapping[str, Mapping[str, Any]], salt: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for match in _CALL.finditer(text):
        name = match.group(1).rstrip(".")
        if name not in tools:
            continue
        rest = text[match.end() :].lstrip()
        arguments: Any = None
        if rest.startswith("{"):
            try:
                arguments, _ = json.JSONDecoder().raw_decode(rest)
            except ValueError:
                arguments = None
        if not isinstance(arguments, dict):
            arguments = _arguments_from_schema(tools[name].get("parameters") or {}, text)
        calls.append({"id": f"call_fake_{salt}_{len(calls)}", "name": name, "arguments": json.dumps(arguments)})
    return calls


def _arguments_from_schema(schema: Mapping[str, Any], text: str) -> dict[str, Any]:
    value = text.split(" with ", 1)[1].strip() if " with " in text else text
    properties: Mapping[str, Any] = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for name in schema.get("required") or list(properties):
        kind = (properties.get(name) or {}).get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "integer" in kinds or "number" in kinds:
            arguments[name] = 1
        elif "boolean" in kinds:
            arguments[name] = True
        elif "string" in kinds or kind is None:
            arguments[name] = value
    return arguments


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _usage(body: Mapping[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(text_of(m.get("content")).split()) for m in body.get("messages") or ()) + 10
    completion = max(1, len(text.split()))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(
    request: web.Request, body: Mapping[str, Any], text: str, calls: list[dict[str, Any]]
) -> web.StreamResponse:
    model = str(body.get("model"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)

    async def send(data: Mapping[str, Any] | str) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        await response.write(f"data: {payload}\n\n".encode())

    await send(_chunk(model, {"role": "assistant", "content": "", "refusal": None}))
    for piece in re.findall(r"\S+\s*|\s+", text):
        await send(_chunk(model, {"content": piece}))
    for index, call in enumerate(calls):
        opening = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["name"]}}
        opening["function"]["arguments"] = ""
        await send(_chunk(model, {"tool_calls": [opening]}))
        arguments = call["arguments"]
        middle = len(arguments) // 2
        for piece in (arguments[:middle], arguments[middle:]):
            await send(_chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    await send(_chunk(model, {}, "tool_calls" if calls else "stop"))
    options = body.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        await send({**_chunk(model, {}), "choices": [], "usage": _usage(body, text)})
    await send("[DONE]")
    await response.write_eof()
    return response


def _completion(body: Mapping[str, Any], text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": str(body.get("model")),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": _usage(body, text),
    }


async def chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return web.json_response(
            {"error": {"message": "body is not JSON", "type": "invalid_request_error"}}, status=400
        )
    text, calls = decide(body)
    roles = ",".join(str(m.get("role")) for m in body.get("messages") or ())
    tools = ",".join(str(t.get("function", {}).get("name")) for t in body.get("tools") or ())
    print(
        f"fake-upstream: model={body.get('model')} roles=[{roles}] tools=[{tools}] calls={len(calls)}", file=sys.stderr
    )
    if body.get("stream"):
        return await _stream(request, body, text, calls)
    return web.json_response(_completion(body, text, calls))


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "healthy"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/chat/completions", chat_completions)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
