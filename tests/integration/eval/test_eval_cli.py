"""`aura eval` as a process: the agent's config points at a fake OpenAI-compatible server (the real `openai`
wire protocol on loopback), the case's tools are replayed, and the reports are written for CI."""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.contract.harnesses.openai import API_KEY, FakeOpenAIServer
from tests.contract.scenario import Response, Scenario, StreamedToolCall

REPO = Path(__file__).resolve().parents[3]
CRASHLOOP = REPO / "examples" / "eval" / "crashloop-missing-env.toml"
RIGHT = (
    "PAYMENTS_DB_URL is not set: the container exits with a KeyError. It was removed by the ConfigMap "
    "payments-common change (v13) at 09:07. Put it back and restart."
)
WRONG = "The pods are being OOMKilled; the root cause is the memory limit of 512Mi. Raise it."


def config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[llm]\nprovider = "openai"\nmodel = "gpt-fake"\napi_key = "{API_KEY}"\nbase_url = "{base_url}/v1"\n'
        'max_retries = 0\n[agent]\nname = "sre"\nsystem_prompt = "Investigate."\nturn_depth = 3\n'
    )
    return path


def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text('[prices."openai/gpt-fake"]\ninput_per_million = 2.0\noutput_per_million = 8.0\n')
    return path


async def aura_eval(*args: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aura.entrypoints.cli", "eval", *args,
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def investigation(answer: str) -> Scenario:
    logs = StreamedToolCall("call_1", "get_logs", ('{"service": ', '"payments-api"}'))
    return Scenario(
        (
            Response(tool_calls=(logs,), prompt_tokens=1000, completion_tokens=20),
            Response(text_chunks=(answer[:20], answer[20:]), prompt_tokens=1500, completion_tokens=80),
        )
    )


async def test_eval_writes_the_table_json_and_junit_and_compares_with_a_previous_report(tmp_path: Path) -> None:
    fake = FakeOpenAIServer()
    await fake.start()
    try:
        agent = config(tmp_path, fake.base_url)
        fake.load(investigation(RIGHT))
        status, out, err = await aura_eval(
            str(CRASHLOOP),
            "--config",
            str(agent),
            "--prices",
            str(prices(tmp_path)),
            "--min-pass-rate",
            "1",
            cwd=tmp_path,
        )
        assert status == 0, err
        assert "crashloop-missing-env" in out
        assert "PASS" in out
        assert "$0.0058" in out  # (2500 * 2 + 100 * 8) / 1e6
        assert "[1/1] crashloop-missing-env #1 PASS" in err
        report = json.loads((tmp_path / "eval-report.json").read_text())
        assert report["summary"]["pass_at_1"] == 1.0
        run = report["cases"][0]["runs"][0]
        assert run["tools_used"] == ["get_logs"]
        assert run["prompt_tokens"] == 2500
        assert run["cost"] == 0.0058
        assert run["server_calls"][0]["matched"] == "recordings[0]"
        suite = ET.parse(tmp_path / "eval-report.xml").getroot().find("testsuite")
        assert suite is not None
        assert suite.get("tests") == "1"
        assert suite.get("failures") == "0"
        # the fake saw the replayed tool output in the second request
        second = fake.requests[1]["messages"]
        assert any("KeyError: 'PAYMENTS_DB_URL'" in str(message.get("content")) for message in second)

        (tmp_path / "previous.json").write_text((tmp_path / "eval-report.json").read_text())
        fake.load(investigation(WRONG))
        status, out, err = await aura_eval(
            str(CRASHLOOP), "--config", str(agent), "--compare", "previous.json", "--min-pass-rate", "0.5",
            "--json", "out/second.json", "--junit", "out/second.xml", cwd=tmp_path,
        )  # fmt: skip
    finally:
        await fake.stop()
    assert status == 1
    assert "below --min-pass-rate 0.5" in err
    assert "missed facts: missing-env-var" in out
    assert "forbidden claims: oom" in out
    assert "pass@1: 1.00 -> 0.00 (-1.00)" in out
    assert "regressed crashloop-missing-env" in out
    failure = ET.parse(tmp_path / "out" / "second.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None
    assert "missing-env-var" in failure.get("message", "")


async def test_bad_cases_and_configs_are_reported_without_a_traceback(tmp_path: Path) -> None:
    bad_case = tmp_path / "bad.toml"
    bad_case.write_text('question = "q"\n[[tools]]\nname = "t"\n[[tools.recordings]]\nmatch = "fuzzy"\noutput = "x"\n')
    status, _, err = await aura_eval(str(bad_case), "--config", "missing.toml", cwd=tmp_path)
    assert status == 2
    assert "bad.toml: tools[0].recordings[0].match: expected one of exact, subset, pattern" in err
    assert "Traceback" not in err

    status, _, err = await aura_eval(str(CRASHLOOP), "--config", "missing.toml", cwd=tmp_path)
    assert status == 1
    assert "Configuration error" in err
    assert "missing.toml" in err
    assert "Traceback" not in err
