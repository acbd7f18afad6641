"""The evaluation runner end to end: the agent built from a config as `aura serve` builds it, a scripted model,
and each case's replay MCP server running as a real stdio process in place of the agent's own MCP servers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from aura.entrypoints.config.loader import parse_agent_config
from aura.entrypoints.eval_cases import load_case
from aura.entrypoints.eval_command import EvalRunner, Judge, build_eval_agent
from aura.testing import ScriptedChatModel, call_tool, call_tools, reply

REPO = Path(__file__).resolve().parents[3]
CRASHLOOP = REPO / "examples" / "eval" / "crashloop-missing-env.toml"

# The agent's own MCP server does not exist: the runner must replace it with the case's replay server.
AGENT_TOML = """
[llm]
provider = "openai"
model = "gpt-test"
api_key = "sk-unused"

[agent]
name = "SRE"
alias = "sre"
system_prompt = "You are an SRE. Look before you answer."
turn_depth = 4

[mcp.servers.live_cluster]
transport = "stdio"
cmd = ["/nonexistent/cluster-mcp-server"]
required = true
"""

CORRECT_ANSWER = (
    "Root cause: the payments-api container exits at startup because PAYMENTS_DB_URL is not set "
    "(KeyError in settings.py). The ConfigMap payments-common change v12 -> v13 at 09:07 removed it. "
    "Fix: add PAYMENTS_DB_URL back to payments-common (or roll back to v12) and restart the rollout."
)
WRONG_ANSWER = "The pods are crashing because they run out of memory: raise the memory limit to 1Gi."


@pytest.fixture
def agent_file():  # type: ignore[no-untyped-def]
    return parse_agent_config(AGENT_TOML, source=Path("agent.toml"))


def runner(agent_file, tmp_path: Path, model: ScriptedChatModel, **options) -> EvalRunner:  # type: ignore[no-untyped-def]
    return EvalRunner(agent_file, tmp_path, model, progress=io.StringIO(), **options)


async def test_a_correct_investigation_passes(agent_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case = load_case(CRASHLOOP)
    model = ScriptedChatModel(
        [
            call_tools(
                [("get_logs", {"service": "payments-api", "namespace": "shop"}), ("get_events", {"namespace": "shop"})]
            ),
            call_tool("deploy_history", {"service": "payments-api"}),
            reply(CORRECT_ANSWER),
        ]
    )
    report = await runner(agent_file, tmp_path, model).run([case])

    run = report.cases[0].runs[0]
    assert run.score.passed, run.score.reasons
    assert run.score.found_facts == ("missing-env-var", "configmap-change")
    assert run.score.tools_used == ("get_logs", "get_events", "deploy_history")
    assert run.score.missing_tools == ()
    assert run.observation.rounds == 3
    assert run.observation.prompt_tokens == 30
    assert run.observation.completion_tokens == 15
    assert run.observation.ttft_ms is not None
    assert run.observation.total_ms >= run.observation.ttft_ms
    # the model saw the recorded outputs, served by the replay server over MCP
    tool_results = [m for m in model.requests[1].messages if m.role == "tool"]
    assert "KeyError: 'PAYMENTS_DB_URL'" in tool_results[0].content
    assert "OOMKilling" in tool_results[1].content  # the tool's default output
    # the replay server logged every call with the recording that answered it (one round's calls run concurrently)
    assert sorted((c["tool"], c["matched"]) for c in run.server_calls) == [
        ("deploy_history", "default"),
        ("get_events", "default"),
        ("get_logs", "recordings[0]"),
    ]
    # the case's tools were offered with their schemas, and nothing of the agent's own servers
    offered = {spec.name for spec in model.requests[0].tools}
    assert offered == {"get_logs", "get_events", "describe", "query_metrics", "deploy_history"}
    assert report.cases[0].passed
    assert report.cases[0].pass_at_1 == 1.0


async def test_a_wrong_investigation_fails_naming_the_missed_facts_and_the_forbidden_claim(
    agent_file, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    case = load_case(CRASHLOOP)
    model = ScriptedChatModel(
        [call_tool("query_metrics", {"query": "container_memory_working_set_bytes"}), reply(WRONG_ANSWER)]
    )
    report = await runner(agent_file, tmp_path, model).run([case])

    score = report.cases[0].runs[0].score
    assert not score.passed
    assert score.missed_facts == ("missing-env-var", "configmap-change")
    assert score.forbidden_claims == ("oom",)
    assert score.missing_tools == ("get_logs", "deploy_history")
    assert any("missed facts: missing-env-var" in reason for reason in score.reasons)
    assert any("forbidden claims: oom" in reason for reason in score.reasons)


async def test_a_forbidden_claim_alone_fails_a_run_that_states_every_fact(agent_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case = load_case(CRASHLOOP)
    model = ScriptedChatModel([reply(CORRECT_ANSWER + " The restarts are also caused by the memory limit of 512Mi.")])
    report = await runner(agent_file, tmp_path, model).run([case])

    score = report.cases[0].runs[0].score
    assert score.missed_facts == ()
    assert score.forbidden_claims == ("oom",)
    assert not score.passed


async def test_iterations_give_pass_at_1_and_pass_hat_k(agent_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case = load_case(CRASHLOOP)
    model = ScriptedChatModel([reply(CORRECT_ANSWER), reply(WRONG_ANSWER), reply(CORRECT_ANSWER)])
    report = await runner(agent_file, tmp_path, model, iterations=3).run([case])

    case_report = report.cases[0]
    assert case_report.results == (True, False, True)
    assert case_report.pass_at_1 == pytest.approx(2 / 3)
    assert case_report.pass_hat_k == 0.0
    assert not case_report.passed
    document = report.to_dict()
    assert document["summary"]["runs_passed"] == 2
    json.dumps(document)  # JSON-ready


async def test_a_judge_agent_grades_each_claim_and_its_prompts_are_recorded(agent_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    case = load_case(CRASHLOOP)
    # The answer uses none of the accepted wordings: rules would fail it, the judge accepts it.
    paraphrase = "The database connection string variable was dropped by this morning's shared ConfigMap edit."
    model = ScriptedChatModel([reply(paraphrase)])
    judge_model = ScriptedChatModel(
        [reply("VERDICT: YES\nIt names the variable."), reply("verdict: yes - the edit"), reply("VERDICT: NO")]
    )
    judge_agent = build_eval_agent(agent_file, chat_model=judge_model, without_tools=True)
    report = await runner(agent_file, tmp_path, model, judge=Judge(judge_agent, "grader")).run([case])

    run = report.cases[0].runs[0]
    assert run.score.passed, run.score.reasons
    assert report.scoring == "judge:grader"
    verdicts = report.to_dict()["cases"][0]["runs"][0]["verdicts"]
    assert [v["judge"]["verdict"] for v in verdicts["facts"]] == [True, True]
    assert verdicts["forbidden"][0]["judge"]["verdict"] is False
    assert paraphrase in verdicts["facts"][0]["judge"]["prompt"]
    assert "PAYMENTS_DB_URL is not set" in verdicts["facts"][0]["judge"]["prompt"]
    assert judge_model.requests[0].tools == ()  # the judge gets no tools
