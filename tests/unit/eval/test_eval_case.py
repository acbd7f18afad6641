"""Case parsing (errors name the key path), recording matching and claim evidence."""

from __future__ import annotations

from typing import Any

import pytest

from aura.domain.eval_case import CaseError, Claim, Recording, ReplayTool, case_document, parse_case


def minimal(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "question": "Why is it down?",
        "tools": [{"name": "logs", "description": "Logs", "recordings": [{"arguments": {"svc": "a"}, "output": "x"}]}],
        "expect": {"facts": [{"phrases": ["disk full"]}]},
    }
    document.update(overrides)
    return document


def error_of(document: dict[str, Any]) -> str:
    with pytest.raises(CaseError) as caught:
        parse_case(document, source="cases/x.toml", default_id="x")
    return str(caught.value)


def test_a_minimal_case_gets_defaults() -> None:
    case = parse_case(minimal(), source="cases/x.toml", default_id="x")
    assert case.id == "x"
    assert case.facts == (Claim("facts-1", "disk full", ("disk full",), ()),)
    assert case.tools[0].input_schema == {"type": "object", "properties": {}}
    assert case.tools[0].recordings[0].match == "subset"
    assert not case.require_tools


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (minimal(question="  "), "cases/x.toml: question: expected the alert or question"),
        (minimal(colour="red"), "cases/x.toml: colour: unknown key"),
        (minimal(expect={"facts": []}), "expect.facts: a case needs at least one expected fact"),
        (minimal(expect={"facts": [{"id": "a"}]}), "expect.facts[0]: give at least one of `phrases`"),
        (minimal(expect={"facts": [{"patterns": ["(unclosed"]}]}), "expect.facts[0].patterns[0]: invalid regular"),
        (
            minimal(expect={"facts": [{"phrases": ["a"]}], "tools": ["kubectl"]}),
            "expect.tools[0]: 'kubectl' is not one of the case's tools (logs)",
        ),
        (minimal(tools=[{"name": "a"}, {"name": "a"}]), "tools[1].name: duplicate tool name 'a'"),
        (minimal(tools=[{"name": "a", "input_schema": {"type": "array"}}]), "tools[0].input_schema: expected a JSON"),
        (
            minimal(tools=[{"name": "a", "recordings": [{"output": "x", "match": "fuzzy"}]}]),
            "tools[0].recordings[0].match: expected one of exact, subset, pattern, got 'fuzzy'",
        ),
        (
            minimal(tools=[{"name": "a", "recordings": [{"arguments": {"q": 3}, "match": "pattern", "output": ""}]}]),
            "tools[0].recordings[0].arguments.q: a pattern match needs a regular expression string",
        ),
        (
            minimal(tools=[{"name": "a", "recordings": [{"arguments": {}}]}]),
            "tools[0].recordings[0]: a recording needs",
        ),
        (
            minimal(tools=[{"name": "a", "recordings": [{"output_file": "out.txt"}]}]),
            "tools[0].recordings[0].output_file: output files need a case directory",
        ),
        (
            minimal(tools=[{"name": "a", "default_is_error": "yes"}]),
            "tools[0].default_is_error: expected true or false",
        ),
    ],
)
def test_bad_documents_name_the_file_and_the_key_path(document: dict[str, Any], message: str) -> None:
    assert message in error_of(document)


def test_output_files_are_read_through_the_callback() -> None:
    document = minimal(tools=[{"name": "a", "recordings": [{"output_file": "out/a.txt"}], "default_output_file": "d"}])
    case = parse_case(document, source="c", default_id="c", read_file=lambda name: f"<{name}>")
    assert case.tools[0].recordings[0].output == "<out/a.txt>"
    assert case.tools[0].default_output == "<d>"


def test_an_unreadable_output_file_is_a_case_error() -> None:
    def missing(name: str) -> str:
        raise FileNotFoundError(2, "No such file or directory")

    document = minimal(tools=[{"name": "a", "recordings": [{"output_file": "gone.txt"}]}])
    with pytest.raises(CaseError, match=r"tools\[0\]\.recordings\[0\]\.output_file: cannot read 'gone.txt'"):
        parse_case(document, source="c", default_id="c", read_file=missing)


def test_exact_beats_subset_beats_pattern_whatever_the_file_order() -> None:
    tool = ReplayTool(
        "lag",
        recordings=(
            Recording({"group": "bill.*"}, "pattern", match="pattern"),
            Recording({"group": "billing"}, "subset"),
            Recording({"group": "billing", "topic": "invoices"}, "exact", match="exact"),
        ),
        default_output="default",
    )
    assert tool.answer({"group": "billing", "topic": "invoices"}).output == "exact"
    assert tool.answer({"group": "billing", "topic": "refunds"}).output == "subset"
    assert tool.answer({"group": "billing-eu"}).matched == "recordings[0]"
    assert tool.answer({"group": "search"}).matched == "default"


def test_matching_rules() -> None:
    assert Recording({"a": 1}, match="exact").matches({"a": 1})
    assert not Recording({"a": 1}, match="exact").matches({"a": 1, "b": 2})
    assert Recording({"a": 1}).matches({"a": 1, "b": 2})
    assert not Recording({"a": 1}).matches({"b": 2})
    assert Recording({}).matches({"anything": True})
    pattern = Recording({"service": ".*payments.*", "tail": "[0-9]+"}, match="pattern")
    assert pattern.matches({"service": "Payments-API", "tail": 50})  # case-insensitive; numbers as JSON text
    assert not pattern.matches({"service": "payments-api"})  # every pattern key must be present
    assert not Recording({"s": "pay"}, match="pattern").matches({"s": "payments"})  # full match


def test_without_a_default_an_unmatched_call_is_an_error_naming_the_arguments() -> None:
    answer = ReplayTool("logs").answer({"service": "x"})
    assert answer.is_error
    assert answer.matched == "unmatched"
    assert answer.output == 'no recorded output for logs with arguments {"service": "x"}'


def test_claim_evidence_ignores_case_and_spacing_and_reports_what_matched() -> None:
    claim = Claim("c", "d", phrases=("Disk   Full",), patterns=(r"\b9[0-9]%",))
    assert claim.evidence_in("the disk\nfull alert") == "Disk   Full"
    assert claim.evidence_in("at 97% used") == "97%"
    assert claim.evidence_in("all fine") is None


def test_a_case_survives_its_own_document() -> None:
    document = minimal(
        id="round-trip",
        title="T",
        tags=["k8s"],
        tools=[
            {
                "name": "a",
                "title": "A",
                "description": "d",
                "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
                "annotations": {"readOnlyHint": True},
                "default_output": "none",
                "default_is_error": True,
                "recordings": [
                    {"arguments": {"x": "1"}, "output": "one", "match": "exact", "error": True},
                    {"arguments": {"x": ".*"}, "structured": {"n": 2}, "match": "pattern"},
                ],
            }
        ],
        expect={
            "facts": [{"id": "f", "description": "D", "phrases": ["p"], "patterns": ["q+"]}],
            "forbidden": [{"id": "no", "patterns": ["bad"]}],
            "tools": ["a"],
            "require_tools": True,
        },
    )
    case = parse_case(document, source="s", default_id="s")
    again = parse_case(case_document(case), source="s", default_id="other")
    assert again == case
