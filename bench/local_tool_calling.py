"""How often does the bundled local model (SmolLM2-135M via llama.cpp) call the right tool?

Runs 20 fixed SRE prompts against the read-only SRE tool set, once with llama.cpp's native function-calling chat
format and once with the prompt-based fallback parser, and prints the success rate of each. A prompt succeeds when the
model's first answer is a call to one of the tools that can answer it, with arguments that parse as a JSON object.

    python bench/local_tool_calling.py            # needs: pip install -e '.[local]'
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aura.adapters.llm.llamacpp import LlamaCppChatModel
from aura.domain.errors import ProviderError
from aura.domain.events import TextDelta, ToolCallReady
from aura.domain.messages import SystemMessage, UserMessage
from aura.domain.tools import ToolSpec
from aura.ports.chat_model import ChatRequest, GenerationSettings

NO_ARGS = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
TOOLS = (
    ToolSpec(
        "disk_usage",
        "Total, used and free space of the filesystem holding a path.",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
            "additionalProperties": False,
        },
    ),
    ToolSpec("load_average", "1, 5 and 15 minute load averages and the CPU count.", NO_ARGS),
    ToolSpec("memory_usage", "Memory and swap totals and availability.", NO_ARGS),
    ToolSpec(
        "top_processes",
        "The busiest processes by CPU or memory.",
        {
            "type": "object",
            "properties": {"limit": {"type": "integer"}, "sort_by": {"type": "string", "enum": ["cpu", "memory"]}},
            "required": ["limit", "sort_by"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        "tail_log",
        "The last lines of a log file.",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}, "lines": {"type": "integer"}},
            "required": ["path", "lines"],
            "additionalProperties": False,
        },
    ),
    ToolSpec("host_uptime", "Seconds since boot.", NO_ARGS),
)
PROMPTS: list[tuple[str, set[str]]] = [
    ("How full is the root disk?", {"disk_usage"}),
    ("Is /var running out of space?", {"disk_usage"}),
    ("Check free disk space on /home.", {"disk_usage"}),
    ("What is the load average right now?", {"load_average"}),
    ("Is the CPU saturated?", {"load_average", "top_processes"}),
    ("How busy is this host?", {"load_average", "top_processes"}),
    ("How much memory is available?", {"memory_usage"}),
    ("Are we swapping?", {"memory_usage"}),
    ("Is the box low on RAM?", {"memory_usage"}),
    ("Which processes use the most CPU?", {"top_processes"}),
    ("What is eating all the memory?", {"top_processes", "memory_usage"}),
    ("Show me the top 5 processes by memory.", {"top_processes"}),
    ("Show the last 20 lines of /var/log/syslog.", {"tail_log"}),
    ("Any errors at the end of /var/log/nginx/error.log?", {"tail_log"}),
    ("Tail the auth log.", {"tail_log"}),
    ("When did this machine last reboot?", {"host_uptime"}),
    ("How long has the host been up?", {"host_uptime"}),
    ("Did the server restart recently?", {"host_uptime"}),
    ("Give me a quick health check of the host's CPU load.", {"load_average", "top_processes"}),
    ("Check disk usage of / and tell me if it is above 90%.", {"disk_usage"}),
]
SYSTEM = "You are a careful site reliability engineer. Use the tools to inspect the host before answering."


async def first_answer(model: LlamaCppChatModel, prompt: str) -> tuple[list[ToolCallReady], str]:
    request = ChatRequest((SystemMessage(SYSTEM), UserMessage(prompt)), TOOLS, GenerationSettings(0.2, 96))
    calls: list[ToolCallReady] = []
    text = ""
    async for event in model.stream(request):
        if isinstance(event, ToolCallReady):
            calls.append(event)
        elif isinstance(event, TextDelta):
            text += event.text
    return calls, text


def succeeded(calls: list[ToolCallReady], expected: set[str]) -> bool:
    if not calls or calls[0].call.name not in expected:
        return False
    try:
        return isinstance(json.loads(calls[0].call.arguments), dict)
    except json.JSONDecodeError:
        return False


async def measure(mode: str) -> tuple[int, float]:
    model = LlamaCppChatModel("smollm2-135m", n_ctx=4096, tool_calling=mode)
    wins = 0
    started = time.perf_counter()
    for prompt, expected in PROMPTS:
        try:
            calls, text = await first_answer(model, prompt)
        except ProviderError as error:  # e.g. llama.cpp's function-calling loop running out of context
            calls, text = [], f"error: {error}"
        ok = succeeded(calls, expected)
        wins += ok
        shown = calls[0].call.name + calls[0].call.arguments if calls else repr(text[:50])
        print(f"  [{mode:8}] {'ok ' if ok else 'no '} {prompt:55} -> {shown}", file=sys.stderr)
    await model.aclose()
    return wins, time.perf_counter() - started


async def main() -> None:
    print(f"{'mode':10} {'success':>10} {'rate':>6} {'seconds':>8}")
    for mode in ("native", "fallback"):
        wins, seconds = await measure(mode)
        print(f"{mode:10} {wins:>4}/{len(PROMPTS):<5} {wins / len(PROMPTS):>6.0%} {seconds:>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
