"""The evaluation report: runs per case, per-case and overall figures, its JSON form, and the difference
from a previous report (`--compare`)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from aura.domain.eval_case import EvalCase
from aura.domain.eval_scoring import ClaimVerdict, RunObservation, RunScore, pass_at_1, pass_hat_k

REPORT_FORMAT = "aura-eval-report/1"


@attrs.frozen
class Price:
    """What a model costs, in currency units per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        if prompt_tokens is None and completion_tokens is None:
            return None
        return (
            (prompt_tokens or 0) * self.input_per_million + (completion_tokens or 0) * self.output_per_million
        ) / 1_000_000


@attrs.frozen
class RunReport:
    """One run of the agent on one case."""

    iteration: int
    observation: RunObservation
    score: RunScore
    cost: float | None = None
    #: The replay server's log of the calls it answered (tool, arguments, which recording matched).
    server_calls: tuple[Mapping[str, Any], ...] = ()


@attrs.frozen
class CaseReport:
    case: EvalCase
    runs: tuple[RunReport, ...]

    @property
    def results(self) -> tuple[bool, ...]:
        return tuple(run.score.passed for run in self.runs)

    @property
    def passed(self) -> bool:
        """Every iteration passed."""
        return bool(self.runs) and all(self.results)

    @property
    def pass_at_1(self) -> float:
        return pass_at_1(self.results)

    @property
    def pass_hat_k(self) -> float:
        return pass_hat_k(self.results) if self.runs else 0.0

    def mean(self, values: Sequence[float | int | None]) -> float | None:
        known = [value for value in values if value is not None]
        return statistics.fmean(known) if known else None

    @property
    def mean_facts_found(self) -> float:
        return self.mean([len(run.score.found_facts) for run in self.runs]) or 0.0

    @property
    def cost(self) -> float | None:
        costs = [run.cost for run in self.runs if run.cost is not None]
        return sum(costs) if costs else None


@attrs.frozen
class EvalReport:
    agent: str
    model: str
    iterations: int
    cases: tuple[CaseReport, ...]
    #: `rules`, or `judge:<agent id> (<provider/model>)`.
    scoring: str = "rules"
    started_at: str = ""

    @property
    def runs(self) -> tuple[RunReport, ...]:
        return tuple(run for case in self.cases for run in case.runs)

    def summary(self) -> dict[str, Any]:
        runs = self.runs
        observations = [run.observation for run in runs]
        costs = [run.cost for run in runs if run.cost is not None]
        tokens = [o.total_tokens for o in observations if o.total_tokens is not None]
        ttfts = [o.ttft_ms for o in observations if o.ttft_ms is not None]
        return {
            "cases": len(self.cases),
            "cases_passed": sum(case.passed for case in self.cases),
            "runs": len(runs),
            "runs_passed": sum(run.score.passed for run in runs),
            "pass_at_1": _mean([case.pass_at_1 for case in self.cases]) or 0.0,
            "pass_hat_k": _mean([case.pass_hat_k for case in self.cases]) or 0.0,
            "k": self.iterations,
            "facts_found": sum(len(run.score.found_facts) for run in runs),
            "facts_expected": sum(len(run.score.facts) for run in runs),
            "forbidden_claims": sum(len(run.score.forbidden_claims) for run in runs),
            "mean_rounds": _mean([o.rounds for o in observations]),
            "total_tokens": sum(tokens) if tokens else None,
            "cost": sum(costs) if costs else None,
            "mean_ttft_ms": _mean(ttfts),
            "mean_total_ms": _mean([o.total_ms for o in observations]),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (`eval-report.json`)."""
        return {
            "format": REPORT_FORMAT,
            "agent": self.agent,
            "model": self.model,
            "iterations": self.iterations,
            "scoring": self.scoring,
            "started_at": self.started_at,
            "summary": self.summary(),
            "cases": [_case_dict(case) for case in self.cases],
        }


def _mean(values: Sequence[float | int]) -> float | None:
    return statistics.fmean(values) if values else None


def _case_dict(report: CaseReport) -> dict[str, Any]:
    case = report.case
    return {
        "id": case.id,
        "title": case.title,
        "source": case.source,
        "passed": report.passed,
        "pass_at_1": report.pass_at_1,
        "pass_hat_k": report.pass_hat_k,
        "expected_facts": [claim.id for claim in case.facts],
        "forbidden": [claim.id for claim in case.forbidden],
        "expected_tools": list(case.expected_tools),
        "cost": report.cost,
        "runs": [_run_dict(run) for run in report.runs],
    }


def _run_dict(run: RunReport) -> dict[str, Any]:
    observation, score = run.observation, run.score
    return {
        "iteration": run.iteration,
        "passed": score.passed,
        "reasons": list(score.reasons),
        "facts_found": list(score.found_facts),
        "facts_missed": list(score.missed_facts),
        "forbidden_claims": list(score.forbidden_claims),
        "tools_used": list(score.tools_used),
        "tools_missing": list(score.missing_tools),
        "rounds": observation.rounds,
        "prompt_tokens": observation.prompt_tokens,
        "completion_tokens": observation.completion_tokens,
        "total_tokens": observation.total_tokens,
        "cost": run.cost,
        "ttft_ms": observation.ttft_ms,
        "total_ms": observation.total_ms,
        "error": observation.error,
        "answer": observation.answer,
        "tool_calls": [
            {"name": call.name, "arguments": call.arguments, "is_error": call.is_error}
            for call in observation.tool_calls
        ],
        "server_calls": [dict(call) for call in run.server_calls],
        "verdicts": {
            "facts": [_verdict_dict(verdict) for verdict in score.facts],
            "forbidden": [_verdict_dict(verdict) for verdict in score.forbidden],
        },
    }


def _verdict_dict(verdict: ClaimVerdict) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": verdict.id, "present": verdict.present, "evidence": verdict.evidence}
    if verdict.judge is not None:
        entry["judge"] = {
            "prompt": verdict.judge.prompt,
            "reply": verdict.judge.reply,
            "verdict": verdict.judge.verdict,
        }
    return entry


# ------------------------------------------------------------------------------------------ compare


def compare_reports(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Lines describing how `current` differs from `previous` (both in the JSON form of `EvalReport.to_dict`).

    Raises `ValueError` when `previous` is not a report.
    """
    if previous.get("format") != REPORT_FORMAT or not isinstance(previous.get("cases"), list):
        raise ValueError(f"not an aura eval report (expected format {REPORT_FORMAT!r})")
    lines: list[str] = []
    before, after = previous.get("summary", {}), current.get("summary", {})
    for key, label, digits in (
        ("pass_at_1", "pass@1", 2),
        ("pass_hat_k", "pass^k", 2),
        ("total_tokens", "tokens", 0),
        ("cost", "cost", 4),
        ("mean_total_ms", "mean latency ms", 0),
    ):
        old, new = before.get(key), after.get(key)
        if old is None and new is None:
            continue
        lines.append(f"{label}: {_number(old, digits)} -> {_number(new, digits)}{_delta(old, new, digits)}")
    lines.append(
        f"cases passed: {before.get('cases_passed', '?')}/{before.get('cases', '?')} -> "
        f"{after.get('cases_passed', '?')}/{after.get('cases', '?')}"
    )
    old_cases = {case.get("id"): case for case in previous["cases"] if isinstance(case, Mapping)}
    new_cases = {case.get("id"): case for case in current.get("cases", []) if isinstance(case, Mapping)}
    for case_id, case in new_cases.items():
        old = old_cases.get(case_id)
        if old is None:
            lines.append(f"  new case {case_id}: pass@1 {_number(case.get('pass_at_1'))}")
            continue
        if old.get("passed") != case.get("passed") or old.get("pass_at_1") != case.get("pass_at_1"):
            verb = (
                "fixed"
                if case.get("passed") and not old.get("passed")
                else ("regressed" if old.get("passed") and not case.get("passed") else "changed")
            )
            lines.append(
                f"  {verb} {case_id}: pass@1 {_number(old.get('pass_at_1'))} -> {_number(case.get('pass_at_1'))}"
            )
    for case_id in old_cases:
        if case_id not in new_cases:
            lines.append(f"  case {case_id} is no longer in the run")
    return lines


def _number(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return f"{value:,.{digits}f}"


def _delta(old: Any, new: Any, digits: int) -> str:
    if not isinstance(old, int | float) or not isinstance(new, int | float):
        return ""
    diff = new - old
    if round(diff, digits) == 0:
        return " (=)"
    return f" ({'+' if diff > 0 else ''}{diff:,.{digits}f})"
