"""`configure_tracing`: which tracer the environment gives, and what the OTEL_* variables change."""

from __future__ import annotations

import logging
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aura.adapters.telemetry.otel import (
    DEFAULT_CONTENT_MAX_LENGTH,
    OpenTelemetryTracer,
    configure_tracing,
    shutdown_tracing,
    tracing_settings,
)
from aura.ports.tracer import NoopTracer, SpanKind

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


def test_without_an_endpoint_tracing_is_the_noop_tracer() -> None:
    tracer = configure_tracing({"OTEL_SERVICE_NAME": "svc", "OTEL_RECORD_CONTENT": "true"})
    assert isinstance(tracer, NoopTracer)
    assert tracer.records_content is False
    assert tracer.start_span("agent.turn", SpanKind.AGENT).trace_id is None


def test_an_empty_endpoint_counts_as_absent() -> None:
    assert isinstance(configure_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}), NoopTracer)


def test_otel_sdk_disabled_turns_tracing_off_even_with_an_endpoint() -> None:
    assert isinstance(configure_tracing({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}), NoopTracer)


def test_with_an_endpoint_spans_are_exported_with_the_service_name() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing({**ENDPOINT, "OTEL_SERVICE_NAME": "aura-prod"}, exporter=exporter)
    assert isinstance(tracer, OpenTelemetryTracer)
    span = tracer.start_span("agent.turn", SpanKind.AGENT)
    span.end()
    assert shutdown_tracing(tracer, timeout_secs=5.0)  # flushes the batch processor

    [exported] = exporter.get_finished_spans()
    assert exported.resource.attributes["service.name"] == "aura-prod"
    assert exported.attributes is not None
    assert exported.attributes["openinference.span.kind"] == "AGENT"


def test_the_service_name_defaults_to_aura() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing(ENDPOINT, exporter=exporter)
    assert isinstance(tracer, OpenTelemetryTracer)
    tracer.start_span("x", SpanKind.CHAIN).end()
    tracer.shutdown()
    assert exporter.get_finished_spans()[0].resource.attributes["service.name"] == "aura"


@pytest.mark.parametrize(
    ("word", "expected"), [("true", True), ("1", True), ("YES", True), ("false", False), ("", False)]
)
def test_otel_record_content_words(word: str, expected: bool) -> None:
    tracer = configure_tracing({**ENDPOINT, "OTEL_RECORD_CONTENT": word}, exporter=InMemorySpanExporter())
    assert tracer.records_content is expected
    shutdown_tracing(tracer)


def test_otel_content_max_length_sets_the_cut() -> None:
    exporter = InMemorySpanExporter()
    tracer = configure_tracing({**ENDPOINT, "OTEL_CONTENT_MAX_LENGTH": "4"}, exporter=exporter)
    span = tracer.start_span("x", SpanKind.CHAIN, {"output.value": "abcdefgh"})
    span.end()
    shutdown_tracing(tracer)
    exported = exporter.get_finished_spans()[0].attributes
    assert dict(exported or {}) == {"openinference.span.kind": "CHAIN", "output.value": "abcd..."}


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_CONTENT_MAX_LENGTH", "lots"), ("OTEL_CONTENT_MAX_LENGTH", "-5"), ("OTEL_RECORD_CONTENT", "maybe")],
)
def test_a_bad_value_is_logged_by_name_and_replaced_by_its_default(
    variable: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aura.adapters.telemetry.otel"):
        settings = tracing_settings({**ENDPOINT, variable: value})
    assert settings.content_max_length == DEFAULT_CONTENT_MAX_LENGTH
    assert settings.record_content is False
    assert variable in caplog.text
    assert repr(value) in caplog.text


def test_the_traces_endpoint_is_the_base_plus_v1_traces_unless_given_directly() -> None:
    assert tracing_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}).endpoint == (
        "http://collector:4318/v1/traces"
    )
    assert tracing_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw.example/otlp?tenant=sre"}).endpoint == (
        "https://gw.example/otlp/v1/traces?tenant=sre"
    )
    direct = {**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://phoenix:6006/v1/traces"}
    assert tracing_settings(direct).endpoint == "http://phoenix:6006/v1/traces"


def test_otlp_headers_are_parsed_from_the_environment() -> None:
    settings = tracing_settings({**ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS": "api_key=abc123,x-team=sre"})
    assert settings.headers == {"api_key": "abc123", "x-team": "sre"}


def test_a_grpc_protocol_request_warns_and_leaves_tracing_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aura.adapters.telemetry.otel"):
        tracer = configure_tracing({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert isinstance(tracer, NoopTracer)
    assert "opentelemetry-exporter-otlp-proto-grpc" in caplog.text


def test_the_real_otlp_http_exporter_is_built_for_http_protobuf() -> None:
    tracer = configure_tracing({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
    assert isinstance(tracer, OpenTelemetryTracer)
    assert shutdown_tracing(tracer, timeout_secs=5.0)  # nothing to send: returns without reaching the endpoint


def test_shutdown_tracing_leaves_other_tracers_alone() -> None:
    assert shutdown_tracing(NoopTracer()) is True


def test_a_tracer_on_the_global_provider_has_nothing_of_its_own_to_shut_down() -> None:
    tracer = OpenTelemetryTracer()
    assert tracer.tracer_provider is None
    assert tracer.shutdown() is True
    assert tracer.force_flush() is True


def test_shutdown_reports_an_exporter_that_does_not_finish_in_time() -> None:
    release = threading.Event()

    class StuckExporter(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            release.wait(10)

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(StuckExporter()))
    try:
        assert OpenTelemetryTracer(provider).shutdown(timeout_secs=0.2) is False
    finally:
        release.set()


def test_the_startup_log_line_names_the_endpoint_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:s3cr3t-pass@collector.example:4318?token=abc"}
    with caplog.at_level(logging.INFO, logger="aura.adapters.telemetry.otel"):
        tracer = configure_tracing(environ, exporter=InMemorySpanExporter())
    shutdown_tracing(tracer)
    assert "https://collector.example:4318/v1/traces" in caplog.text
    assert "s3cr3t-pass" not in caplog.text
