"""The terminal table and the JUnit XML of a report."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aura.domain.eval_case import Claim, EvalCase, ReplayTool
from aura.domain.eval_report import CaseReport, EvalReport, RunReport
from aura.domain.eval_scoring import RunObservation, ToolCallRecord, score_run
from aura.entrypoints.eval_output import COLUMNS, junit_xml, render_table

CASE = EvalCase(
    id="dns",
    question="Why?",
    tools=(ReplayTool("describe"),),
    facts=(Claim("upstream", "the new upstream is dead", ("10.96.0.100",)),),
    forbidden=(Claim("provider", "blames the provider", ("provider is down",)),),
    expected_tools=("describe",),
)


def run(iteration: int, answer: str, error: str | None = None) -> RunReport:
    observation = RunObservation(answer, (ToolCallRecord("describe"),), error=error, rounds=2, total_ms=1500.0)
    return RunReport(iteration, observation, score_run(CASE, observation))


REPORT = EvalReport(
    "sre",
    "openai/gpt",
    3,
    (CaseReport(CASE, (run(1, "10.96.0.100 times out"), run(2, "the provider is down"), run(3, "", "max depth"))),),
    started_at="2026-01-01T00:00:00+00:00",
)


def test_the_table_has_a_row_per_case_an_overall_line_and_the_failures() -> None:
    table = render_table(REPORT)
    lines = table.splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert COLUMNS[:5] == ("case", "result", "pass@1", "pass^k", "facts")
    assert lines[2].split()[:4] == ["dns", "FAIL", "0.33", "0.00"]
    assert "1/1 (1 calls)" in lines[2]
    assert "Overall: 0/1 cases passed every run, 1/3 runs passed; pass@1 0.33, pass^3 0.00" in table
    assert (
        "  dns #2:\n    - missed facts: upstream (the new upstream is dead)\n    - forbidden claims: provider" in table
    )
    assert "  dns #3:\n    - the turn ended with an error: max depth" in table


def test_junit_has_a_testcase_per_run_with_failures_and_errors() -> None:
    root = ET.fromstring(junit_xml(REPORT))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["dns #1", "dns #2", "dns #3"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "missed facts: upstream" in failure.get("message", "")
    error = cases[2].find("error")
    assert error is not None
    assert error.get("message") == "max depth"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["pass_at_1"] == "0.3333"
    out = cases[1].find("system-out")
    assert out is not None
    assert "the provider is down" in (out.text or "")
