"""Scoring one evaluation run: which expected facts an answer states, which forbidden claims it makes, which
tools the investigation used, and whether that is a pass.

Rule-based by default (`Claim.evidence_in`: accepted phrasings and regular expressions). An LLM judge can
grade the claims instead: `judge_prompt` builds the question it is asked and `parse_verdict` reads its
answer; the entrypoint runs the judge agent and passes the verdicts to `score_run`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import attrs

from aura.domain.eval_case import Claim, EvalCase

ClaimKind = Literal["fact", "forbidden"]


@attrs.frozen
class ToolCallRecord:
    """One tool call the agent made, as the model sent it."""

    name: str
    arguments: str = "{}"
    is_error: bool = False


@attrs.frozen
class RunObservation:
    """What one run of the agent on a case produced. Times are in milliseconds; tokens are summed over rounds."""

    answer: str
    tool_calls: tuple[ToolCallRecord, ...] = ()
    error: str | None = None
    rounds: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    total_ms: float = 0.0

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


@attrs.frozen
class JudgeRecord:
    """The judge's prompt for one claim, its reply, and the verdict read from it (None: unreadable)."""

    prompt: str
    reply: str
    verdict: bool | None


@attrs.frozen
class ClaimVerdict:
    """Whether a claim is in the answer; `evidence` is the matched phrase (rule-based), `judge` the LLM's record."""

    id: str
    description: str
    present: bool
    evidence: str | None = None
    judge: JudgeRecord | None = None


@attrs.frozen
class RunScore:
    passed: bool
    facts: tuple[ClaimVerdict, ...]
    forbidden: tuple[ClaimVerdict, ...]
    tools_used: tuple[str, ...]
    expected_tools: tuple[str, ...]
    #: Why the run failed, one line each (empty when it passed).
    reasons: tuple[str, ...] = ()

    @property
    def found_facts(self) -> tuple[str, ...]:
        return tuple(verdict.id for verdict in self.facts if verdict.present)

    @property
    def missed_facts(self) -> tuple[str, ...]:
        return tuple(verdict.id for verdict in self.facts if not verdict.present)

    @property
    def forbidden_claims(self) -> tuple[str, ...]:
        return tuple(verdict.id for verdict in self.forbidden if verdict.present)

    @property
    def missing_tools(self) -> tuple[str, ...]:
        return tuple(name for name in self.expected_tools if name not in self.tools_used)


def rule_verdicts(claims: Sequence[Claim], answer: str) -> tuple[ClaimVerdict, ...]:
    """Rule-based verdicts: a claim is present when one of its phrasings or patterns is in the answer."""
    verdicts = []
    for claim in claims:
        evidence = claim.evidence_in(answer)
        verdicts.append(ClaimVerdict(claim.id, claim.description, evidence is not None, evidence))
    return tuple(verdicts)


def score_run(
    case: EvalCase,
    observation: RunObservation,
    *,
    facts: Sequence[ClaimVerdict] | None = None,
    forbidden: Sequence[ClaimVerdict] | None = None,
) -> RunScore:
    """Score a run: it passes when the turn finished, every fact is present, no forbidden claim is, and (only
    with `require_tools`) every expected tool was called. Verdicts default to the rule-based ones."""
    fact_verdicts = tuple(facts) if facts is not None else rule_verdicts(case.facts, observation.answer)
    forbidden_verdicts = (
        tuple(forbidden) if forbidden is not None else rule_verdicts(case.forbidden, observation.answer)
    )
    used: list[str] = []
    for call in observation.tool_calls:
        if call.name not in used:
            used.append(call.name)
    reasons: list[str] = []
    if observation.error is not None:
        reasons.append(f"the turn ended with an error: {observation.error}")
    missed = [verdict for verdict in fact_verdicts if not verdict.present]
    if missed:
        reasons.append("missed facts: " + "; ".join(f"{v.id} ({v.description})" for v in missed))
    claimed = [verdict for verdict in forbidden_verdicts if verdict.present]
    if claimed:
        reasons.append("forbidden claims: " + "; ".join(f"{v.id} ({v.description})" for v in claimed))
    missing_tools = [name for name in case.expected_tools if name not in used]
    if case.require_tools and missing_tools:
        reasons.append("expected tools not called: " + ", ".join(missing_tools))
    return RunScore(
        passed=not reasons,
        facts=fact_verdicts,
        forbidden=forbidden_verdicts,
        tools_used=tuple(used),
        expected_tools=case.expected_tools,
        reasons=tuple(reasons),
    )


# ------------------------------------------------------------------------------- pass@1 and pass^k


def pass_at_1(results: Sequence[bool]) -> float:
    """The chance one run passes, estimated as the share of passing runs (0.0 without runs)."""
    return sum(results) / len(results) if results else 0.0


def pass_hat_k(results: Sequence[bool], k: int | None = None) -> float:
    """pass^k: the chance that k independent runs all pass, estimated without bias from n runs with c passes
    as C(c, k) / C(n, k). `k` defaults to n (so with k = n it is 1.0 only when every run passed)."""
    n = len(results)
    if n == 0:
        return 0.0
    k = n if k is None else k
    if not 1 <= k <= n:
        raise ValueError(f"pass^k needs 1 <= k <= {n} (the number of runs), got {k}")
    return math.comb(sum(results), k) / math.comb(n, k)


# --------------------------------------------------------------------------------------- the judge

_QUESTIONS: dict[ClaimKind, str] = {
    "fact": "Does the answer state the following fact (in any wording)?",
    "forbidden": "Does the answer claim the following as true (not merely mention it to rule it out)?",
}

_VERDICT = re.compile(r"verdict\s*[:=]?\s*\**\s*(yes|no)\b", re.IGNORECASE)
_LEADING = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def judge_prompt(case: EvalCase, answer: str, claim: Claim, kind: ClaimKind) -> str:
    """The user message the judge agent gets for one claim."""
    wordings = ", ".join(repr(phrase) for phrase in claim.phrases)
    hint = f"\nWordings that would count include: {wordings}" if wordings else ""
    return (
        f"An SRE assistant was asked:\n<question>\n{case.question.strip()}\n</question>\n\n"
        f"Its final answer was:\n<answer>\n{answer.strip() or '(empty)'}\n</answer>\n\n"
        f"{_QUESTIONS[kind]}\n<statement>\n{claim.description}\n</statement>{hint}\n\n"
        'Reply with "VERDICT: YES" or "VERDICT: NO" on the first line, then one sentence saying why.'
    )


def parse_verdict(reply: str) -> bool | None:
    """YES -> True, NO -> False, from a `VERDICT: ...` line or a reply starting with yes/no; else None."""
    found = _VERDICT.search(reply) or _LEADING.search(reply)
    if found is None:
        return None
    return found.group(1).lower() == "yes"


def judged_verdict(claim: Claim, record: JudgeRecord) -> ClaimVerdict:
    """A claim's verdict from the judge's record (an unreadable verdict counts as absent)."""
    return ClaimVerdict(claim.id, claim.description, record.verdict is True, None, record)
