"""Scoring a run, pass@1 / pass^k, the judge's prompt and verdicts, and comparing reports."""

from __future__ import annotations

import attrs
import pytest

from aura.domain.eval_case import Claim, EvalCase, ReplayTool
from aura.domain.eval_report import CaseReport, EvalReport, Price, RunReport, compare_reports
from aura.domain.eval_scoring import (
    JudgeRecord,
    RunObservation,
    ToolCallRecord,
    judge_prompt,
    judged_verdict,
    parse_verdict,
    pass_at_1,
    pass_hat_k,
    score_run,
)

CASE = EvalCase(
    id="disk",
    question="Node is full. Why?",
    tools=(ReplayTool("du"), ReplayTool("logs")),
    facts=(
        Claim("log", "a debug log fills the disk", ("debug.log",)),
        Claim("rotation", "no rotation", (), ("rotat",)),
    ),
    forbidden=(Claim("images", "images fill the disk", (), (r"because of (the )?images",)),),
    expected_tools=("du", "logs"),
)


def observe(answer: str, *tools: str, error: str | None = None) -> RunObservation:
    return RunObservation(answer, tuple(ToolCallRecord(name) for name in tools), error=error)


def test_a_run_stating_every_fact_passes_and_tools_are_reported() -> None:
    score = score_run(CASE, observe("debug.log is never rotated", "du", "du"))
    assert score.passed
    assert score.found_facts == ("log", "rotation")
    assert score.tools_used == ("du",)
    assert score.missing_tools == ("logs",)  # reported, not failing: the case does not require tools


def test_failures_name_what_was_missed_and_claimed() -> None:
    score = score_run(CASE, observe("It is full because of images. Rotate them."))
    assert not score.passed
    assert score.missed_facts == ("log",)
    assert score.forbidden_claims == ("images",)
    assert score.reasons == (
        "missed facts: log (a debug log fills the disk)",
        "forbidden claims: images (images fill the disk)",
    )


def test_required_tools_and_turn_errors_fail_a_run() -> None:
    strict = attrs.evolve(CASE, require_tools=True)
    assert score_run(strict, observe("debug.log not rotated", "du")).reasons == ("expected tools not called: logs",)
    failed = score_run(CASE, observe("debug.log not rotated", error="max depth"))
    assert failed.reasons == ("the turn ended with an error: max depth",)


def test_pass_at_1_and_pass_hat_k() -> None:
    assert pass_at_1([True, False, True, True]) == 0.75
    assert pass_hat_k([True, True, True]) == 1.0
    assert pass_hat_k([True, False, True]) == 0.0
    assert pass_hat_k([True, False, True, True], k=2) == pytest.approx(3 / 6)  # C(3,2) / C(4,2)
    assert pass_at_1([]) == 0.0
    with pytest.raises(ValueError, match="1 <= k <= 2"):
        pass_hat_k([True, True], k=3)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("VERDICT: YES\nbecause", True),
        ("verdict: no", False),
        ("**Verdict:** Yes", True),
        ("Yes, it says so.", True),
        ("No.", False),
        ("I think the answer mentions it", None),
    ],
)
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def test_the_judge_prompt_holds_the_question_the_answer_and_the_statement() -> None:
    prompt = judge_prompt(CASE, "The debug log grew.", CASE.facts[0], "fact")
    assert "Node is full. Why?" in prompt
    assert "The debug log grew." in prompt
    assert "a debug log fills the disk" in prompt
    assert "'debug.log'" in prompt
    assert "not merely mention it to rule it out" in judge_prompt(CASE, "x", CASE.forbidden[0], "forbidden")
    unreadable = judged_verdict(CASE.facts[0], JudgeRecord("p", "hmm", None))
    assert not unreadable.present


def report(*answers: str, iterations: int = 1) -> EvalReport:
    runs = tuple(
        RunReport(
            i + 1,
            RunObservation(answer, prompt_tokens=1000, completion_tokens=100, total_ms=2000.0, ttft_ms=500.0),
            score_run(CASE, observe(answer)),
            Price(2.0, 8.0).cost(1000, 100),
        )
        for i, answer in enumerate(answers)
    )
    return EvalReport(
        "sre", "openai/gpt", iterations, (CaseReport(CASE, runs),), started_at="2026-01-01T00:00:00+00:00"
    )


def test_the_report_summary_and_its_comparison() -> None:
    good = report("debug.log not rotated", "debug.log not rotated", iterations=2)
    mixed = report("debug.log not rotated", "no idea", iterations=2)
    summary = mixed.summary()
    assert summary["pass_at_1"] == 0.5
    assert summary["pass_hat_k"] == 0.0
    assert summary["runs_passed"] == 1
    assert summary["total_tokens"] == 2200
    assert summary["cost"] == pytest.approx(2 * 0.0028)
    assert summary["mean_ttft_ms"] == 500.0
    lines = compare_reports(good.to_dict(), mixed.to_dict())
    assert "pass@1: 1.00 -> 0.50 (-0.50)" in lines
    assert "cases passed: 1/1 -> 0/1" in lines
    assert "  regressed disk: pass@1 1.00 -> 0.50" in lines
    assert "tokens: 2,200 -> 2,200 (=)" in lines
    with pytest.raises(ValueError, match="not an aura eval report"):
        compare_reports({"cases": []}, mixed.to_dict())
