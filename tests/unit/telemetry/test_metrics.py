"""`ServerMetrics`: what each recording method changes in its own registry."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from aura.adapters.telemetry.metrics import ServerMetrics


class FakeClock:
    """A hand-moved monotonic clock, so durations are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample(metrics: ServerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_requests_are_counted_by_agent_and_status() -> None:
    metrics = ServerMetrics()
    metrics.record_request("calc", 200)
    metrics.record_request("calc", 200)
    metrics.record_request("calc", "503")
    assert sample(metrics, "aura_requests_total", agent="calc", status="200") == 2
    assert sample(metrics, "aura_requests_total", agent="calc", status="503") == 1


def test_track_stream_measures_duration_first_token_and_the_active_gauge() -> None:
    clock = FakeClock()
    metrics = ServerMetrics(clock=clock)
    with metrics.track_stream("calc") as stream:
        assert sample(metrics, "aura_active_streams", agent="calc") == 1
        clock.now += 0.4
        stream.first_token()
        clock.now += 1.0
        stream.first_token()  # only the first one counts
        clock.now += 2.0
        stream.outcome = "stream_timeout"
    assert sample(metrics, "aura_active_streams", agent="calc") == 0
    assert sample(metrics, "aura_time_to_first_token_seconds_count", agent="calc") == 1
    assert sample(metrics, "aura_time_to_first_token_seconds_sum", agent="calc") == pytest.approx(0.4)
    assert sample(metrics, "aura_stream_duration_seconds_count", agent="calc", outcome="stream_timeout") == 1
    assert sample(metrics, "aura_stream_duration_seconds_sum", agent="calc", outcome="stream_timeout") == pytest.approx(
        3.4
    )


def test_a_stream_that_raises_is_recorded_as_failed_and_leaves_the_gauge() -> None:
    metrics = ServerMetrics(clock=FakeClock())
    with pytest.raises(RuntimeError), metrics.track_stream("calc"):
        raise RuntimeError("writer broke")
    assert sample(metrics, "aura_active_streams", agent="calc") == 0
    assert sample(metrics, "aura_stream_duration_seconds_count", agent="calc", outcome="failed") == 1


def test_tool_calls_are_counted_by_tool_and_outcome_with_durations() -> None:
    metrics = ServerMetrics()
    metrics.record_tool_call("echo", "success", 0.02)
    metrics.record_tool_call("echo", "error", 0.3)
    metrics.record_tool_call("slow", "cancelled")
    assert sample(metrics, "aura_tool_calls_total", tool="echo", outcome="success") == 1
    assert sample(metrics, "aura_tool_calls_total", tool="echo", outcome="error") == 1
    assert sample(metrics, "aura_tool_calls_total", tool="slow", outcome="cancelled") == 1
    assert sample(metrics, "aura_tool_call_duration_seconds_count", tool="echo") == 2
    assert sample(metrics, "aura_tool_call_duration_seconds_count", tool="slow") is None


def test_an_unknown_tool_outcome_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="outcome must be one of success, error, cancelled, got 'ok'"):
        ServerMetrics().record_tool_call("echo", "ok")


def test_mcp_health_merges_reports_with_probes_read_at_collection_time() -> None:
    metrics = ServerMetrics()
    states = {"k8s": True}
    metrics.set_mcp_server_health("github", False)
    metrics.add_mcp_health_probe(lambda: dict(states))
    assert sample(metrics, "aura_mcp_server_up", server="k8s") == 1
    assert sample(metrics, "aura_mcp_server_up", server="github") == 0
    states["k8s"] = False
    assert sample(metrics, "aura_mcp_server_up", server="k8s") == 0


def test_a_failing_probe_leaves_the_other_servers_in_the_scrape() -> None:
    metrics = ServerMetrics()
    metrics.set_mcp_server_health("github", True)

    def broken() -> dict[str, bool]:
        raise ConnectionError("probe broke")

    metrics.add_mcp_health_probe(broken)
    families = {family.name: family for family in text_string_to_metric_families(metrics.exposition().decode())}
    assert [(s.labels, s.value) for s in families["aura_mcp_server_up"].samples] == [({"server": "github"}, 1.0)]


def test_each_instance_has_its_own_registry_and_never_touches_the_global_one() -> None:
    first, second = ServerMetrics(), ServerMetrics()
    first.record_request("calc", 200)
    assert sample(second, "aura_requests_total", agent="calc", status="200") is None
    assert REGISTRY.get_sample_value("aura_requests_total", {"agent": "calc", "status": "200"}) is None


def test_every_label_is_bounded_whatever_the_callers_pass() -> None:
    from aura.adapters.telemetry.metrics import MAX_AGENT_LABELS, MAX_OUTCOME_LABELS, MAX_TOOL_LABELS, OTHER_LABEL

    metrics = ServerMetrics()
    for index in range(2000):
        metrics.record_tool_call(f"tool{index}", "success", 0.1)
        metrics.record_request(f"agent{index}", 200 + index)
        metrics.stream_started(f"agent{index}")
        metrics.stream_ended(f"agent{index}", f"outcome{index}", 1.0)
        metrics.observe_time_to_first_token(f"agent{index}", 0.1)
    text = metrics.exposition().decode()

    def values(name: str, label: str) -> set[str]:
        return {
            found.labels[label]
            for family in text_string_to_metric_families(text)
            for found in family.samples
            if found.name == name
        }

    assert len(values("aura_tool_calls_total", "tool")) == MAX_TOOL_LABELS + 1
    assert OTHER_LABEL in values("aura_tool_calls_total", "tool")
    assert len(values("aura_requests_total", "agent")) == MAX_AGENT_LABELS + 1
    assert len(values("aura_active_streams", "agent")) == MAX_AGENT_LABELS + 1
    assert len(values("aura_stream_duration_seconds_count", "outcome")) == MAX_OUTCOME_LABELS + 1
    statuses = values("aura_requests_total", "status")
    assert all(status == OTHER_LABEL or 100 <= int(status) <= 599 for status in statuses)
    assert sum(1 for family in text_string_to_metric_families(text) for _ in family.samples) < 20_000
