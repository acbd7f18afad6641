"""Prometheus metrics of the server and the `GET /metrics` aiohttp handler.

Everything lives in the `ServerMetrics`' own `CollectorRegistry` (never the process-global one), so
two servers in one process, or two tests, never share counters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

APPROVAL_OUTCOMES: Final = ("requested", "approved", "denied", "expired")
TOOL_OUTCOMES: Final = ("success", "error", "cancelled")
STREAM_DURATION_BUCKETS: Final = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, float("inf"))
FIRST_TOKEN_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, float("inf"))
TOOL_DURATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, float("inf"))

McpHealthProbe = Callable[[], Mapping[str, bool]]

# Every label value that comes from configuration, the model or a client is bounded, so no traffic can grow
# `/metrics` (or the Prometheus server's series count) without limit. The HTTP adapter already reports
# unknown agents and unknown tools as `unknown`; these caps catch whatever else: the first N distinct values
# of a label are kept, later ones are counted as `other` (and a warning is logged once per label).
OTHER_LABEL: Final = "other"
MAX_AGENT_LABELS: Final = 256
MAX_TOOL_LABELS: Final = 512
MAX_MCP_SERVER_LABELS: Final = 256
MAX_OUTCOME_LABELS: Final = 32


class BoundedLabel:
    """The values one label may take: the first `limit` distinct values as given, later ones as `other`."""

    def __init__(self, label: str, limit: int) -> None:
        self.label = label
        self.limit = limit
        self._seen: set[str] = set()
        self._warned = False

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "metrics: more than %d distinct values of the %r label; further ones are counted as %r",
                    self.limit,
                    self.label,
                    OTHER_LABEL,
                )
            return OTHER_LABEL
        self._seen.add(value)
        return value


def status_label(status: int | str) -> str:
    """An HTTP status as a label: the code when it is one (100-599), else `other`."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return OTHER_LABEL
    return str(code) if 100 <= code <= 599 else OTHER_LABEL


class _McpHealthCollector(Collector):
    """`aura_mcp_server_up{server}`: explicit reports merged with probes evaluated at scrape time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reported: dict[str, bool] = {}
        self.probes: list[McpHealthProbe] = []

    def current(self) -> dict[str, bool]:
        states = dict(self.reported)
        for probe in self.probes:
            try:
                states.update(probe())
            except Exception:  # one broken probe must not break the whole scrape
                logger.warning(
                    "MCP health probe %r failed; its servers are left out of this scrape", probe, exc_info=True
                )
        return states

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, "MCP server health: 1 connected, 0 down.", labels=["server"])
        states = sorted(self.current().items())
        for server, up in states[:MAX_MCP_SERVER_LABELS]:
            family.add_metric([server], 1.0 if up else 0.0)
        yield family


class StreamObservation:
    """One streaming response being measured; see `ServerMetrics.track_stream`."""

    def __init__(self, metrics: ServerMetrics, agent: str, started: float) -> None:
        self._metrics = metrics
        self.agent = agent
        self.started = started
        self.outcome = "complete"
        self.first_token_at: float | None = None

    def first_token(self) -> None:
        """Mark the first content token; only the first call counts."""
        if self.first_token_at is None:
            self.first_token_at = self._metrics.clock()
            self._metrics.observe_time_to_first_token(self.agent, self.first_token_at - self.started)


class ServerMetrics:
    """The server's Prometheus metrics and the methods the HTTP adapter calls to record them.

    - `aura_requests_total{agent,status}`: chat completion requests by agent and HTTP status
    - `aura_stream_duration_seconds{agent,outcome}`: how long SSE streams ran, by termination outcome
    - `aura_time_to_first_token_seconds{agent}`: stream start to the first content delta
    - `aura_tool_calls_total{tool,outcome}` and `aura_tool_call_duration_seconds{tool}`
    - `aura_active_streams{agent}`: streams open right now
    - `aura_mcp_server_up{server}`: 1 connected / 0 down

    Label values are bounded (`BoundedLabel`): at most `MAX_AGENT_LABELS` agents, `MAX_TOOL_LABELS` tools,
    `MAX_OUTCOME_LABELS` outcomes and `MAX_MCP_SERVER_LABELS` servers; statuses are HTTP codes. Past a cap a
    value is counted as `other`.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "aura",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.requests = Counter(
            "requests",
            "Chat completion requests by agent and HTTP status.",
            ["agent", "status"],
            namespace=namespace,
            registry=self.registry,
        )
        self.stream_duration = Histogram(
            "stream_duration_seconds",
            "Duration of SSE streams by agent and termination outcome.",
            ["agent", "outcome"],
            namespace=namespace,
            buckets=STREAM_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "time_to_first_token_seconds",
            "Time from the start of a stream to its first content delta.",
            ["agent"],
            namespace=namespace,
            buckets=FIRST_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.approvals = Counter(
            "approvals",
            "Tool-call approvals by agent and outcome (requested, approved, denied, expired).",
            ["agent", "outcome"],
            namespace=namespace,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "tool_calls",
            "Tool calls by tool and outcome (success, error, cancelled).",
            ["tool", "outcome"],
            namespace=namespace,
            registry=self.registry,
        )
        self.tool_call_duration = Histogram(
            "tool_call_duration_seconds",
            "Duration of tool calls by tool.",
            ["tool"],
            namespace=namespace,
            buckets=TOOL_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.active_streams = Gauge(
            "active_streams",
            "SSE streams currently open, by agent.",
            ["agent"],
            namespace=namespace,
            registry=self.registry,
        )
        self._mcp_health = _McpHealthCollector(f"{namespace}_mcp_server_up" if namespace else "mcp_server_up")
        self.registry.register(self._mcp_health)
        self._agent_label = BoundedLabel("agent", MAX_AGENT_LABELS)
        self._tool_label = BoundedLabel("tool", MAX_TOOL_LABELS)
        self._outcome_label = BoundedLabel("outcome", MAX_OUTCOME_LABELS)
        # Each labelled child, looked up once: `labels()` validates and locks on every call, several times per
        # request. Bounded like the label values themselves.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, with the label values in the metric's declared order."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # --- requests and streams ---------------------------------------------------------------------

    def record_request(self, agent: str, status: int | str) -> None:
        """Count one chat completion request once its HTTP status is known (a stream counts its 200)."""
        self._child(self.requests, self._agent_label(agent), status_label(status)).inc()

    def stream_started(self, agent: str) -> None:
        self._child(self.active_streams, self._agent_label(agent)).inc()

    def stream_ended(self, agent: str, outcome: str, duration_secs: float) -> None:
        """`outcome`: the stream's termination (complete, stream_timeout, first_chunk_timeout, shutdown, ...)."""
        agent = self._agent_label(agent)
        self._child(self.active_streams, agent).dec()
        outcome = self._outcome_label(outcome)
        self._child(self.stream_duration, agent, outcome).observe(max(duration_secs, 0.0))

    def observe_time_to_first_token(self, agent: str, seconds: float) -> None:
        self._child(self.time_to_first_token, self._agent_label(agent)).observe(max(seconds, 0.0))

    @contextmanager
    def track_stream(self, agent: str) -> Iterator[StreamObservation]:
        """Active gauge, duration and time to first token of one stream.

        Call `first_token()` on the yielded observation at the first content delta and set its
        `outcome` before the block ends (an exception makes it `failed`).
        """
        observation = StreamObservation(self, agent, self.clock())
        self.stream_started(agent)
        try:
            yield observation
        except BaseException:
            if observation.outcome == "complete":
                observation.outcome = "failed"
            raise
        finally:
            self.stream_ended(agent, observation.outcome, self.clock() - observation.started)

    # --- tools and MCP ----------------------------------------------------------------------------

    def record_approval(self, agent: str, outcome: str) -> None:
        """Count one approval event; `outcome` is requested, approved, denied or expired."""
        if outcome not in APPROVAL_OUTCOMES:
            raise ValueError(f"record_approval: outcome must be one of {', '.join(APPROVAL_OUTCOMES)}, got {outcome!r}")
        self._child(self.approvals, self._agent_label(agent), outcome).inc()

    def record_tool_call(self, tool: str, outcome: str, duration_secs: float | None = None) -> None:
        """Count one finished tool call; `outcome` is success, error or cancelled."""
        if outcome not in TOOL_OUTCOMES:
            raise ValueError(f"record_tool_call: outcome must be one of {', '.join(TOOL_OUTCOMES)}, got {outcome!r}")
        tool = self._tool_label(tool)
        self._child(self.tool_calls, tool, outcome).inc()
        if duration_secs is not None:
            self._child(self.tool_call_duration, tool).observe(max(duration_secs, 0.0))

    def set_mcp_server_health(self, server: str, up: bool) -> None:
        """Report a server's state (probes added with `add_mcp_health_probe` override it at scrape time)."""
        self._mcp_health.reported[server] = up

    def add_mcp_health_probe(self, probe: McpHealthProbe) -> None:
        """A function returning `{server name: connected}`, called at every scrape."""
        self._mcp_health.probes.append(probe)

    def mcp_server_health(self) -> dict[str, bool]:
        return self._mcp_health.current()

    # --- exposition -------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (what `GET /metrics` serves by default)."""
        return generate_latest(self.registry)


def metrics_handler(metrics: ServerMetrics) -> Handler:
    """An aiohttp handler for `GET /metrics`: Prometheus text, OpenMetrics when the scraper asks for it."""
    return make_aiohttp_handler(metrics.registry)
