"""`aura eval`: measure an agent's investigations on frozen incidents whose tool outputs are replayed.

    aura eval CASES... --config agent.toml [--iterations N] [--judge AGENT] [--concurrency K] [--compare old.json]
    aura eval record OUT.toml [--question TEXT] -- COMMAND ARGS...     (or --upstream-url URL)
    aura eval replay CASE [--transport stdio|streamable-http] [--port N] [--log calls.jsonl]

The runner builds the agent as `aura serve` does (same container, same turn loop) with one change: its MCP
servers are replaced by the case's replay server (`aura eval replay`, over stdio). Each run's answer is
scored (rule-based, or by a judge agent), and the results are printed as a table and written as JSON and
JUnit XML. docs/eval.md has the case format and the CI recipe.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from aura.domain.agent import Agent
from aura.domain.errors import AuraError
from aura.domain.eval_case import CaseError, Claim, EvalCase, Recording, ReplayTool
from aura.domain.eval_report import CaseReport, EvalReport, Price, RunReport, compare_reports
from aura.domain.eval_scoring import (
    ClaimKind,
    ClaimVerdict,
    JudgeRecord,
    RunObservation,
    ToolCallRecord,
    judge_prompt,
    judged_verdict,
    parse_verdict,
    score_run,
)
from aura.domain.events import RoundUsage, TextDelta, ToolCompleted, ToolRequested, TurnFinished
from aura.domain.messages import UserMessage
from aura.domain.tools import RequestContext
from aura.entrypoints.eval_cases import discover_cases, load_case, write_case
from aura.entrypoints.eval_output import render_table, write_json, write_junit
from aura.ports.chat_model import ChatModel

if TYPE_CHECKING:  # the config package is imported late: `aura --help` stays fast
    from aura.entrypoints.config import AgentFile, LoadedConfig

MODES = ("record", "replay")
REPLAY_SERVER_ID = "replay"
DEFAULT_JSON = "eval-report.json"
DEFAULT_JUNIT = "eval-report.xml"
RECORD_PLACEHOLDER_QUESTION = "TODO: the alert or question the user sends"


def add_arguments(parser: argparse.ArgumentParser, *, remainder: bool = True) -> None:
    """The options of `aura eval`. Positional arguments and options may be mixed in any order (`run` parses
    the rest of the command line again, intermixed), and everything after `--` is positional."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Run an agent on frozen incidents (cases) with replayed tool outputs, and score its answers.\n\n"
        "  aura eval CASES... --config agent.toml [--iterations N] [--judge AGENT] [--concurrency K]\n"
        "  aura eval record OUT.toml [--question TEXT] -- COMMAND ARGS...   (or --upstream-url URL)\n"
        "  aura eval replay CASE [--transport stdio|streamable-http] [--port N] [--log FILE]\n\n"
        "See docs/eval.md for the case format."
    )
    parser.add_argument(
        "cases",
        nargs=argparse.REMAINDER if remainder else "*",
        metavar="CASES",
        help="case files or directories (or a mode: record, replay)",
    )
    run = parser.add_argument_group("running cases")
    run.add_argument("-c", "--config", help="agent config file or directory (default: $CONFIG_PATH or config.toml)")
    run.add_argument("--agent", help="agent id (alias or name) when the config has several agents")
    run.add_argument("-n", "--iterations", type=_positive_int, default=1, help="runs per case (default 1)")
    run.add_argument("--concurrency", type=_positive_int, default=1, help="runs at the same time (default 1)")
    run.add_argument(
        "--judge",
        metavar="AGENT",
        help="grade each expected fact with this agent: a config file, or an agent id in --config",
    )
    run.add_argument("--prices", metavar="FILE", help='TOML price table: [prices."provider/model"] per million tokens')
    run.add_argument(
        "--json", default=DEFAULT_JSON, metavar="PATH", help=f"JSON report (default {DEFAULT_JSON}; '' = none)"
    )
    run.add_argument(
        "--junit", default=DEFAULT_JUNIT, metavar="PATH", help=f"JUnit XML report (default {DEFAULT_JUNIT}; '' = none)"
    )
    run.add_argument("--compare", metavar="PREVIOUS", help="print the difference from a previous JSON report")
    run.add_argument(
        "--min-pass-rate",
        type=_rate,
        metavar="RATE",
        help="exit with status 1 when the overall pass@1 is below RATE (0..1), for CI gates",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    serve = parser.add_argument_group("record and replay")
    serve.add_argument("--transport", choices=("stdio", "streamable-http"), default="stdio", help="how to serve")
    serve.add_argument("--host", default="127.0.0.1", help="bind host for streamable-http (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port for streamable-http (default 8000; path /mcp)")
    serve.add_argument("--log", metavar="FILE", help="replay: append one JSON line per call to FILE")
    serve.add_argument("--question", help="record: the question to store in a new case")
    serve.add_argument("--upstream-url", metavar="URL", help="record: a streamable HTTP MCP server to proxy")
    serve.add_argument(
        "--upstream-header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="record: a header for --upstream-url (repeatable)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def _reparse(args: argparse.Namespace) -> argparse.Namespace:
    """The whole command line, with options after (or between) positional arguments understood too."""
    parser = argparse.ArgumentParser(prog="aura eval")
    add_arguments(parser, remainder=False)
    parsed = parser.parse_intermixed_args(args.cases, namespace=argparse.Namespace(**vars(args)))
    if not parsed.cases:
        parser.error("expected case files or directories (or: record, replay)")
    return parsed


def run(args: argparse.Namespace) -> int:
    args = _reparse(args)
    first = args.cases[0]
    if first in MODES and not Path(first).exists():
        return run_record(args) if first == "record" else run_replay(args)
    try:
        return asyncio.run(run_cases(args, sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        return 130


# ------------------------------------------------------------------------------ building the agent


def build_eval_agent(
    agent_file: AgentFile, *, chat_model: ChatModel | None = None, without_tools: bool = False
) -> Agent:
    """The agent of `agent_file`, built by the same container `aura serve` uses.

    The one place the evaluation touches the composition root: `chat_model` shares one model between runs
    (a local model is loaded once), `without_tools` is for the judge.
    """
    from dependency_injector import providers

    from aura.entrypoints.config import ConfigError
    from aura.entrypoints.container import container_for

    container = container_for(agent_file)
    if chat_model is not None:
        container.chat_model.override(providers.Object(chat_model))
    if without_tools:
        container.toolsets.override(providers.Object([]))
    try:
        agent: Agent = container.agent()
    except ConfigError as error:
        if error.source is not None:
            raise
        raise ConfigError(error.detail, source=agent_file.source, problems=error.problems) from None
    return agent


def build_eval_chat_model(agent_file: AgentFile) -> ChatModel:
    """The agent's chat model alone (built once per evaluation and shared by every run)."""
    from aura.entrypoints.container import container_for

    model: ChatModel = container_for(agent_file).chat_model()
    return model


def with_replay_server(agent_file: AgentFile, case_file: Path, call_log: Path) -> AgentFile:
    """`agent_file` with its MCP servers replaced by one replay server for `case_file` (over stdio)."""
    from aura.entrypoints.config.schema import McpConfig, StdioServerConfig

    config = agent_file.config
    server = StdioServerConfig(
        cmd=(sys.executable, "-m", "aura.entrypoints.cli", "eval", "replay", str(case_file), "--log", str(call_log)),
        description="Recorded tools of the incident under evaluation",
        required=True,
        connect_timeout_secs=60.0,
    )
    sanitize = config.mcp.sanitize_schemas if config.mcp is not None else True
    replaced = attrs.evolve(config, mcp=McpConfig(sanitize_schemas=sanitize, servers={REPLAY_SERVER_ID: server}))
    return attrs.evolve(agent_file, config=replaced)


# --------------------------------------------------------------------------------------- the runner


@attrs.frozen
class Judge:
    """An agent that grades claims; `label` names it in the report."""

    agent: Agent
    label: str


async def judge_claims(judge: Judge, case: EvalCase, answer: str) -> tuple[list[ClaimVerdict], list[ClaimVerdict]]:
    """The judge's verdict on every expected fact and forbidden claim, with its prompt and reply."""
    verdicts: dict[ClaimKind, list[ClaimVerdict]] = {"fact": [], "forbidden": []}
    kinds: tuple[tuple[ClaimKind, tuple[Claim, ...]], ...] = (("fact", case.facts), ("forbidden", case.forbidden))
    for kind, claims in kinds:
        for claim in claims:
            prompt = judge_prompt(case, answer, claim, kind)
            finished = await judge.agent.run([UserMessage(prompt)], RequestContext(session_id=f"eval-judge-{case.id}"))
            reply = finished.content if finished.error is None else f"(judge failed: {finished.error.message})"
            verdicts[kind].append(judged_verdict(claim, JudgeRecord(prompt, reply, parse_verdict(reply))))
    return verdicts["fact"], verdicts["forbidden"]


async def observe_turn(agent: Agent, question: str, session_id: str) -> RunObservation:
    """Run one turn of `agent` on `question` and record what happened."""
    started = time.perf_counter()
    ttft_ms: float | None = None
    calls: list[ToolCallRecord] = []
    failed_ids: set[str] = set()
    order: list[str] = []
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_rounds = 0
    in_tool_round = False
    final: TurnFinished | None = None
    async for event in agent.run_turn([UserMessage(question)], RequestContext(session_id=session_id)):
        if isinstance(event, TextDelta):
            if ttft_ms is None and event.text:
                ttft_ms = (time.perf_counter() - started) * 1000
            in_tool_round = False
        elif isinstance(event, ToolRequested):
            if not in_tool_round:
                tool_rounds += 1
                in_tool_round = True
            order.append(event.call.id)
            calls.append(ToolCallRecord(event.call.name, event.call.arguments))
        elif isinstance(event, ToolCompleted):
            in_tool_round = False
            if event.result.is_error:
                failed_ids.add(event.call.id)
        elif isinstance(event, RoundUsage):
            prompt_tokens = (prompt_tokens or 0) + event.usage.prompt_tokens
            completion_tokens = (completion_tokens or 0) + event.usage.completion_tokens
        elif isinstance(event, TurnFinished):
            final = event
    total_ms = (time.perf_counter() - started) * 1000
    assert final is not None  # a turn always ends with TurnFinished
    calls = [attrs.evolve(call, is_error=call_id in failed_ids) for call_id, call in zip(order, calls, strict=True)]
    return RunObservation(
        answer=final.content,
        tool_calls=tuple(calls),
        error=final.error.message if final.error is not None else None,
        rounds=final.rounds or tool_rounds + 1,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        ttft_ms=ttft_ms,
        total_ms=total_ms,
    )


@attrs.define
class EvalRunner:
    """Runs every case `iterations` times against the agent of `agent_file` and collects an `EvalReport`."""

    agent_file: AgentFile
    work_dir: Path
    chat_model: ChatModel
    iterations: int = 1
    concurrency: int = 1
    judge: Judge | None = None
    prices: Mapping[str, Price] = attrs.field(factory=dict)
    progress: TextIO | None = None
    _done: int = 0

    @property
    def model_string(self) -> str:
        return f"{self.chat_model.provider}/{self.chat_model.model_name}"

    async def run(self, cases: Sequence[EvalCase]) -> EvalReport:
        started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        case_files = {case.id: write_case(case, self.work_dir / f"{case.id}.toml") for case in cases}
        gate = asyncio.Semaphore(self.concurrency)
        total = len(cases) * self.iterations

        async def one(case: EvalCase, iteration: int) -> RunReport:
            async with gate:
                if self.progress is not None:
                    print(f"  ... {case.id} #{iteration} running", file=self.progress, flush=True)
                report = await self.run_once(case, case_files[case.id], iteration)
            self._done += 1
            self._report_progress(case, report, total)
            return report

        jobs = [(case, iteration) for case in cases for iteration in range(1, self.iterations + 1)]
        runs = await asyncio.gather(*(one(case, iteration) for case, iteration in jobs))
        by_case: dict[str, list[RunReport]] = {case.id: [] for case in cases}
        for (case, _), report in zip(jobs, runs, strict=True):
            by_case[case.id].append(report)
        scoring = "rules" if self.judge is None else f"judge:{self.judge.label}"
        return EvalReport(
            agent=self.agent_file.config.id,
            model=self.model_string,
            iterations=self.iterations,
            cases=tuple(CaseReport(case, tuple(by_case[case.id])) for case in cases),
            scoring=scoring,
            started_at=started_at,
        )

    async def run_once(self, case: EvalCase, case_file: Path, iteration: int) -> RunReport:
        from aura.entrypoints.serve_command import start_agents

        call_log = self.work_dir / f"{case.id}.{iteration}.calls.jsonl"
        agent = build_eval_agent(with_replay_server(self.agent_file, case_file, call_log), chat_model=self.chat_model)
        try:
            await start_agents([agent])
            observation = await observe_turn(agent, case.question, f"eval-{case.id}-{iteration}")
        except AuraError as error:
            observation = RunObservation(answer="", error=f"the replay server did not start: {error}")
        except Exception as error:  # one broken run is reported, not a traceback that ends the evaluation
            observation = RunObservation(answer="", error=f"the run failed: {type(error).__name__}: {error}")
        finally:
            for toolset in agent.toolsets:  # the shared model stays open for the next run
                await toolset.aclose()
        facts: list[ClaimVerdict] | None = None
        forbidden: list[ClaimVerdict] | None = None
        if self.judge is not None and observation.error is None:
            facts, forbidden = await judge_claims(self.judge, case, observation.answer)
        score = score_run(case, observation, facts=facts, forbidden=forbidden)
        price = self.prices.get(self.model_string)
        cost = price.cost(observation.prompt_tokens, observation.completion_tokens) if price is not None else None
        from aura.adapters.mcp.replay_server import read_call_log

        return RunReport(iteration, observation, score, cost, tuple(read_call_log(call_log)))

    def _report_progress(self, case: EvalCase, report: RunReport, total: int) -> None:
        if self.progress is None:
            return
        score, observation = report.score, report.observation
        width = len(str(total))
        status = "PASS" if score.passed else "FAIL"
        line = (
            f"[{self._done:>{width}}/{total}] {case.id} #{report.iteration} {status}  "
            f"facts {len(score.found_facts)}/{len(score.facts)}  tools {len(observation.tool_calls)}  "
            f"{observation.total_ms / 1000:.1f} s"
        )
        if not score.passed:
            line += "\n    " + "\n    ".join(score.reasons)
        print(line, file=self.progress, flush=True)


# ------------------------------------------------------------------------------------ `aura eval`


def load_prices(path: str) -> dict[str, Price]:
    """`[prices."provider/model"] input_per_million = ..., output_per_million = ...`; raises ValueError."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: cannot read the price table: {error}") from None
    table = document.get("prices")
    if not isinstance(table, Mapping):
        raise ValueError(f'{path}: expected a [prices."provider/model"] table')
    prices: dict[str, Price] = {}
    for model, entry in table.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{path}: prices.{model}: expected a table")
        values = []
        for key in ("input_per_million", "output_per_million"):
            value = entry.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{path}: prices.{model}.{key}: expected a number >= 0")
            values.append(float(value))
        prices[model] = Price(*values)
    return prices


def _pick_agent(loaded: LoadedConfig, wanted: str | None, what: str) -> AgentFile:
    agents = list(loaded.agents)
    if wanted is None:
        if len(agents) == 1:
            return agents[0]
        ids = ", ".join(agent.id for agent in agents)
        raise ValueError(f"several agents are configured; choose one with {what} ({ids})")
    for agent in agents:
        if wanted in (agent.id, agent.config.agent.name):
            return agent
    ids = ", ".join(agent.id for agent in agents)
    raise ValueError(f"agent {wanted!r} is not configured ({ids})")


def _build_judge(spec: str, loaded: LoadedConfig) -> Judge:
    from aura.entrypoints.config import load_config

    agent_file = (
        _pick_agent(load_config(spec), None, "a file of its own")
        if Path(spec).exists()
        else _pick_agent(loaded, spec, "--judge")
    )
    agent = build_eval_agent(agent_file, without_tools=True)
    return Judge(agent, f"{agent.id} ({agent.model_string})")


async def run_cases(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from aura.entrypoints.config import load_config

    try:
        cases = discover_cases(args.cases)
    except CaseError as error:
        print(f"aura eval: error: {error}", file=err)
        return 2
    config_path = args.config or os.environ.get("CONFIG_PATH", "config.toml")
    judge: Judge | None = None
    model: ChatModel | None = None
    try:
        prices = load_prices(args.prices) if args.prices else {}
        previous = _read_previous(args.compare) if args.compare else None
        loaded = load_config(config_path)
        agent_file = _pick_agent(loaded, args.agent, "--agent")
        if args.judge:
            judge = _build_judge(args.judge, loaded)
        model = build_eval_chat_model(agent_file)
    except ValueError as error:
        print(f"aura eval: error: {error}", file=err)
        return 2
    except AuraError as error:
        print(f"Configuration error: {error}", file=err)
        return 1
    try:
        if not args.quiet:
            runs = len(cases) * args.iterations
            print(
                f"Evaluating agent '{agent_file.id}' ({model.provider}/{model.model_name}) on {len(cases)} case(s), "
                f"{runs} run(s), concurrency {args.concurrency}, scoring: {judge.label if judge else 'rules'}",
                file=err,
                flush=True,
            )
        with tempfile.TemporaryDirectory(prefix="aura-eval-") as work_dir:
            runner = EvalRunner(
                agent_file,
                Path(work_dir),
                model,
                iterations=args.iterations,
                concurrency=args.concurrency,
                judge=judge,
                prices=prices,
                progress=None if args.quiet else err,
            )
            report = await runner.run(cases)
    finally:
        if judge is not None:
            await judge.agent.aclose()
        if model is not None:
            await model.aclose()
    out.write(render_table(report))
    if args.json:
        write_json(report, Path(args.json))
        print(f"JSON report: {args.json}", file=err)
    if args.junit:
        write_junit(report, Path(args.junit))
        print(f"JUnit report: {args.junit}", file=err)
    if previous is not None:
        out.write(f"\nCompared with {args.compare}:\n")
        for line in compare_reports(previous, report.to_dict()):
            out.write(line + "\n")
    out.flush()
    rate = report.summary()["pass_at_1"]
    if args.min_pass_rate is not None and rate < args.min_pass_rate:
        print(f"aura eval: pass@1 {rate:.3f} is below --min-pass-rate {args.min_pass_rate:g}", file=err)
        return 1
    return 0


def _read_previous(path: str) -> dict[str, Any]:
    try:
        previous = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--compare {path}: cannot read the report: {error}") from None
    if not isinstance(previous, dict):
        raise ValueError(f"--compare {path}: not an aura eval report")
    try:
        compare_reports(previous, previous)
    except ValueError as error:
        raise ValueError(f"--compare {path}: {error}") from None
    return previous


# -------------------------------------------------------------------------------- `aura eval replay`


def run_replay(args: argparse.Namespace) -> int:
    from aura.adapters.mcp.replay_server import ReplayMcpServer

    if len(args.cases) != 2:
        print("aura eval replay: error: expected one case: aura eval replay CASE [--transport ...]", file=sys.stderr)
        return 2
    try:
        case = load_case(Path(args.cases[1]))
    except CaseError as error:
        print(f"aura eval replay: error: {error}", file=sys.stderr)
        return 2
    server = ReplayMcpServer(case, call_log=Path(args.log) if args.log else None)
    server.serve(args.transport, host=args.host, port=args.port)
    return 0


# -------------------------------------------------------------------------------- `aura eval record`


def run_record(args: argparse.Namespace) -> int:
    from aura.adapters.mcp import StdioTransport, StreamableHttpTransport
    from aura.adapters.mcp.record_proxy import RecordingMcpProxy

    rest = args.cases[1:]
    if not rest:
        print(
            "aura eval record: error: expected the case file to write: aura eval record OUT -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    out, command = Path(rest[0]), rest[1:]
    if bool(command) == bool(args.upstream_url):
        print(
            "aura eval record: error: give the live server as a command after `--` or as --upstream-url (one of them)",
            file=sys.stderr,
        )
        return 2
    try:
        base = load_case(out) if out.exists() else None
    except CaseError as error:
        print(f"aura eval record: error: {error}", file=sys.stderr)
        return 2
    upstream: StdioTransport | StreamableHttpTransport
    try:
        if command:
            upstream = StdioTransport(command[0], command[1:])
        else:
            upstream = StreamableHttpTransport(args.upstream_url, headers=_headers(args.upstream_header))
    except ValueError as error:
        print(f"aura eval record: error: {error}", file=sys.stderr)
        return 2

    def save(tools: Sequence[ReplayTool]) -> None:
        write_case(recorded_case(base, tools, out, args.question), out)

    proxy = RecordingMcpProxy(upstream, save)
    print(f"aura eval record: recording into {out}", file=sys.stderr, flush=True)
    proxy.run("stdio") if args.transport == "stdio" else proxy.run("streamable-http", host=args.host, port=args.port)
    return 0


def _headers(entries: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for entry in entries:
        name, separator, value = entry.partition("=")
        if not separator or not name.strip():
            raise ValueError(f"--upstream-header {entry.split('=')[0]!r}: expected NAME=VALUE")
        headers[name.strip()] = value
    return headers


def recorded_case(base: EvalCase | None, tools: Sequence[ReplayTool], out: Path, question: str | None) -> EvalCase:
    """The case a recording writes: `base` (an existing case at OUT) with the recorded tools merged in, or a
    new case with a placeholder fact the author replaces."""
    if base is None:
        case_id = out.stem if out.suffix == ".toml" else out.name
        return EvalCase(
            id=case_id,
            question=question or RECORD_PLACEHOLDER_QUESTION,
            tools=tuple(tools),
            facts=(Claim("todo", "TODO: a fact a good answer must state", ("TODO: an accepted wording",)),),
        )
    merged: list[ReplayTool] = []
    old = {tool.name: tool for tool in base.tools}
    for tool in tools:
        before = old.pop(tool.name, None)
        if before is not None:
            new_exact = [r.arguments for r in tool.recordings if r.match == "exact"]
            kept: tuple[Recording, ...] = tuple(
                r for r in before.recordings if not (r.match == "exact" and r.arguments in new_exact)
            )
            tool = attrs.evolve(
                tool,
                recordings=kept + tool.recordings,
                default_output=before.default_output,
                default_is_error=before.default_is_error,
            )
        merged.append(tool)
    merged.extend(old.values())
    return attrs.evolve(base, tools=tuple(merged), question=question or base.question)
