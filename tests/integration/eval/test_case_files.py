"""Case files on disk: discovery, directory cases with output files, writing, and the starter suite itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.domain.eval_case import CaseError
from aura.domain.eval_scoring import rule_verdicts
from aura.entrypoints.eval_cases import discover_cases, load_case, write_case

REPO = Path(__file__).resolve().parents[3]
STARTER = REPO / "examples" / "eval"
CASE = 'question = "q"\n[[expect.facts]]\nphrases = ["x"]\n'


def test_discovery_takes_files_case_directories_and_folders_of_cases(tmp_path: Path) -> None:
    (tmp_path / "suite" / "b-dir" / "outputs").mkdir(parents=True)
    (tmp_path / "suite" / "a.toml").write_text(CASE)
    (tmp_path / "suite" / "b-dir" / "case.toml").write_text(
        CASE + '[[tools]]\nname = "t"\ndefault_output_file = "outputs/t.txt"\n'
    )
    (tmp_path / "suite" / "b-dir" / "outputs" / "t.txt").write_text("from a file\n")
    (tmp_path / "suite" / "nested").mkdir()
    (tmp_path / "suite" / "nested" / "c.toml").write_text(CASE)
    (tmp_path / "suite" / "_draft.toml").write_text("not a case")
    (tmp_path / "suite" / "notes.md").write_text("ignored")

    cases = discover_cases([tmp_path / "suite"])
    assert [case.id for case in cases] == ["a", "b-dir", "c"]
    assert cases[1].tools[0].default_output == "from a file\n"


def test_discovery_errors(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no such file or directory"):
        discover_cases([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaseError, match="no cases found"):
        discover_cases([tmp_path / "empty"])
    (tmp_path / "one.toml").write_text('id = "same"\n' + CASE)
    (tmp_path / "two.toml").write_text('id = "same"\n' + CASE)
    with pytest.raises(CaseError, match="duplicate case id 'same'"):
        discover_cases([tmp_path / "one.toml", tmp_path / "two.toml"])
    (tmp_path / "broken.toml").write_text("question = ")
    with pytest.raises(CaseError, match=r"broken\.toml: invalid TOML"):
        load_case(tmp_path / "broken.toml")


def test_output_files_must_stay_inside_the_case_directory(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "case.toml").write_text(
        CASE + '[[tools]]\nname = "t"\ndefault_output_file = "../secret.txt"\n'
    )
    with pytest.raises(CaseError, match="outside the case directory"):
        load_case(tmp_path / "case")


def test_a_written_case_loads_back_equal(tmp_path: Path) -> None:
    original = load_case(STARTER / "tls-cert-expired")  # outputs from files are written inline
    written = write_case(original, tmp_path / "copy.toml")
    again = load_case(written)
    assert again.tools == original.tools
    assert again.facts == original.facts
    assert again.forbidden == original.forbidden
    assert written.read_text().count('"""') >= 2  # long outputs stay readable


def test_the_starter_suite() -> None:
    cases = discover_cases([STARTER])
    assert len(cases) >= 12
    for case in cases:
        names = {tool.name for tool in case.tools}
        assert {"get_logs", "get_events", "describe", "query_metrics", "deploy_history"} <= names, case.id
        assert case.forbidden, f"{case.id}: a starter case has a misleading lead to guard against"
        assert case.expected_tools, case.id
        # Repeating the question states no fact and makes no forbidden claim: the answer has to come from the tools.
        assert not any(v.present for v in rule_verdicts(case.facts, case.question)), case.id
        assert not any(v.present for v in rule_verdicts(case.forbidden, case.question)), case.id
        for tool in case.tools:
            assert tool.description, f"{case.id}: {tool.name}"
            assert tool.annotations.get("readOnlyHint") is True, f"{case.id}: {tool.name}"
