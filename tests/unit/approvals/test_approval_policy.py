from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura.domain.approval_policy import (
    ApprovalOverride,
    ApprovalPolicy,
    ApprovalRule,
    ToolAnnotations,
    annotation_requires_approval,
)

ON = ApprovalPolicy(enabled=True)


@pytest.mark.parametrize(
    ("mcp_annotations", "asks"),
    [
        ({"readOnlyHint": True}, False),
        ({"readOnlyHint": True, "destructiveHint": True}, False),  # destructive is meaningless for a read-only tool
        ({"destructiveHint": True}, True),
        ({"readOnlyHint": False, "destructiveHint": False}, False),
        ({"readOnlyHint": False}, True),  # not read-only, says nothing of destruction: MCP default is destructive
        ({"title": "Restart"}, True),
        (None, True),
        ({}, True),
    ],
)
def test_by_annotation_follows_the_mcp_defaults(mcp_annotations: dict[str, object] | None, asks: bool) -> None:
    requirement = ON.requirement("kube", "tool", ToolAnnotations.from_mcp(mcp_annotations))
    assert requirement.needs_approval is asks
    assert requirement.rule is ApprovalRule.BY_ANNOTATION


def test_a_disabled_policy_never_asks() -> None:
    policy = ApprovalPolicy(overrides=(ApprovalOverride(ApprovalRule.ALWAYS),))
    assert not policy.requirement("kube", "delete_volume", ToolAnnotations(destructive=True)).needs_approval


def test_an_override_beats_the_annotations_both_ways() -> None:
    policy = ApprovalPolicy(
        enabled=True,
        overrides=(
            ApprovalOverride(ApprovalRule.ALWAYS, server="kube", tool="scale_*"),
            ApprovalOverride(ApprovalRule.NEVER, server="kube", tool="get_*"),
        ),
    )
    mislabelled = policy.requirement("kube", "scale_deployment", ToolAnnotations(read_only=True))
    assert mislabelled.needs_approval
    assert "scale_*" in mislabelled.reason
    unlabelled_reader = policy.requirement("kube", "get_pods", None)
    assert not unlabelled_reader.needs_approval
    other_server = policy.requirement("aws", "scale_deployment", ToolAnnotations(read_only=True))
    assert not other_server.needs_approval


def test_the_first_matching_override_decides() -> None:
    policy = ApprovalPolicy(
        enabled=True,
        overrides=(
            ApprovalOverride(ApprovalRule.NEVER, tool="get_secret_names"),
            ApprovalOverride(ApprovalRule.ALWAYS, tool="get_*"),
        ),
    )
    assert not policy.requirement("s", "get_secret_names", None).needs_approval
    assert policy.requirement("s", "get_secret_values", ToolAnnotations(read_only=True)).needs_approval


def test_an_override_can_go_back_to_the_annotations() -> None:
    policy = ApprovalPolicy(
        enabled=True,
        default=ApprovalRule.ALWAYS,
        overrides=(ApprovalOverride(ApprovalRule.BY_ANNOTATION, server="trusted"),),
    )
    assert not policy.requirement("trusted", "read", ToolAnnotations(read_only=True)).needs_approval
    assert policy.requirement("other", "read", ToolAnnotations(read_only=True)).needs_approval


def test_built_in_read_only_tools_never_ask_even_under_always() -> None:
    policy = ApprovalPolicy(enabled=True, default=ApprovalRule.ALWAYS)
    requirement = policy.requirement("docs", "vector_search_docs", None, builtin_read_only=True)
    assert not requirement.needs_approval
    assert "built-in" in requirement.reason


def test_a_timeout_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout_secs"):
        ApprovalPolicy(timeout_secs=0)


def test_annotations_round_trip_through_the_mcp_form() -> None:
    mcp = {"title": "Delete", "readOnlyHint": False, "destructiveHint": True, "idempotentHint": True}
    annotations = ToolAnnotations.from_mcp(mcp)
    assert annotations is not None
    assert annotations.to_mcp() == mcp


def test_non_boolean_hints_are_treated_as_absent() -> None:
    annotations = ToolAnnotations.from_mcp({"readOnlyHint": "yes", "destructiveHint": 0})
    assert annotations == ToolAnnotations()
    assert annotation_requires_approval(annotations)[0] is True


@given(
    read_only=st.none() | st.booleans(),
    destructive=st.none() | st.booleans(),
)
def test_only_read_only_or_explicitly_non_destructive_tools_run_unasked(
    read_only: bool | None, destructive: bool | None
) -> None:
    asks, reason = annotation_requires_approval(ToolAnnotations(read_only=read_only, destructive=destructive))
    assert asks is not (read_only is True or destructive is False)
    assert reason
