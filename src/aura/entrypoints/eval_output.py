"""How `aura eval` shows a report: a terminal table, `eval-report.json` and JUnit XML (`eval-report.xml`)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from aura.domain.eval_report import CaseReport, EvalReport, RunReport

COLUMNS = (
    "case",
    "result",
    "pass@1",
    "pass^k",
    "facts",
    "forbidden",
    "tools",
    "rounds",
    "tokens",
    "cost",
    "ttft",
    "total",
)


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s"


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _tokens(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _case_row(report: CaseReport) -> tuple[str, ...]:
    runs = report.runs
    facts = report.mean_facts_found
    expected = len(report.case.facts)
    forbidden = report.mean([len(run.score.forbidden_claims) for run in runs]) or 0.0
    used = report.mean([len([n for n in run.score.tools_used if n in report.case.expected_tools]) for run in runs])
    calls = report.mean([len(run.observation.tool_calls) for run in runs]) or 0.0
    tools = f"{_short(used or 0.0)}/{len(report.case.expected_tools)} ({_short(calls)} calls)"
    if not report.case.expected_tools:
        tools = f"{_short(calls)} calls"
    return (
        report.case.id,
        "PASS" if report.passed else "FAIL",
        f"{report.pass_at_1:.2f}",
        f"{report.pass_hat_k:.2f}",
        f"{_short(facts)}/{expected}",
        _short(forbidden),
        tools,
        _short(report.mean([run.observation.rounds for run in runs]) or 0.0),
        _tokens(report.mean([run.observation.total_tokens for run in runs])),
        _cost(report.cost),
        _seconds(report.mean([run.observation.ttft_ms for run in runs])),
        _seconds(report.mean([run.observation.total_ms for run in runs])),
    )


def _short(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def render_table(report: EvalReport) -> str:
    """The per-case table, the overall line, and what each failing case missed."""
    rows = [COLUMNS, *(_case_row(case) for case in report.cases)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    summary = report.summary()
    k = summary["k"]
    lines.append("")
    lines.append(
        f"Overall: {summary['cases_passed']}/{summary['cases']} cases passed every run, "
        f"{summary['runs_passed']}/{summary['runs']} runs passed; pass@1 {summary['pass_at_1']:.2f}, "
        f"pass^{k} {summary['pass_hat_k']:.2f}; facts {summary['facts_found']}/{summary['facts_expected']}; "
        f"forbidden claims {summary['forbidden_claims']}; tokens {_tokens(summary['total_tokens'])}; "
        f"cost {_cost(summary['cost'])}; mean TTFT {_seconds(summary['mean_ttft_ms'])}, "
        f"mean total {_seconds(summary['mean_total_ms'])}"
    )
    lines.append(f"Agent {report.agent} ({report.model}), scoring: {report.scoring}")
    failures = [(case, run) for case in report.cases for run in case.runs if not run.score.passed]
    if failures:
        lines.append("")
        lines.append("Failures:")
        for case, run in failures:
            lines.append(f"  {case.case.id} #{run.iteration}:")
            lines.extend(f"    - {reason}" for reason in run.score.reasons)
    return "\n".join(lines) + "\n"


def write_json(report: EvalReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def junit_xml(report: EvalReport) -> str:
    """One `<testcase>` per run (`<case id> #<iteration>`); a failed run carries its reasons in `<failure>`,
    a run whose turn ended in an error an `<error>`."""
    runs = report.runs
    suite = ET.Element(
        "testsuite",
        {
            "name": f"aura-eval.{report.agent}",
            "tests": str(len(runs)),
            "failures": str(sum(not run.score.passed and run.observation.error is None for run in runs)),
            "errors": str(sum(run.observation.error is not None for run in runs)),
            "skipped": "0",
            "time": f"{sum(run.observation.total_ms for run in runs) / 1000:.3f}",
            "timestamp": report.started_at,
        },
    )
    properties = ET.SubElement(suite, "properties")
    summary = report.summary()
    for name, value in (
        ("model", report.model),
        ("scoring", report.scoring),
        ("iterations", report.iterations),
        ("pass_at_1", f"{summary['pass_at_1']:.4f}"),
        ("pass_hat_k", f"{summary['pass_hat_k']:.4f}"),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": str(value)})
    for case in report.cases:
        for run in case.runs:
            _testcase(suite, case, run)
    root = ET.Element("testsuites", {"name": "aura-eval"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(suite: ET.Element, case: CaseReport, run: RunReport) -> None:
    element = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": f"aura.eval.{case.case.id}",
            "name": f"{case.case.id} #{run.iteration}",
            "time": f"{run.observation.total_ms / 1000:.3f}",
        },
    )
    if run.observation.error is not None:
        ET.SubElement(element, "error", {"message": run.observation.error}).text = "\n".join(run.score.reasons)
    elif not run.score.passed:
        message = "; ".join(run.score.reasons)
        ET.SubElement(element, "failure", {"message": message, "type": "EvalFailure"}).text = "\n".join(
            run.score.reasons
        )
    out = [
        f"facts found: {', '.join(run.score.found_facts) or '-'}",
        f"facts missed: {', '.join(run.score.missed_facts) or '-'}",
        f"forbidden claims: {', '.join(run.score.forbidden_claims) or '-'}",
        f"tools used: {', '.join(run.score.tools_used) or '-'}",
        f"tools expected: {', '.join(case.case.expected_tools) or '-'}",
        "",
        run.observation.answer,
    ]
    ET.SubElement(element, "system-out").text = "\n".join(out)


def write_junit(report: EvalReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(report), encoding="utf-8")
