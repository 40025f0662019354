//! W3C trace context through Kafka headers, HTTP headers and a kept
//! `traceparent`, with the trace layer built over the SDK's in-memory
//! exporter. A test binary of its own: the layer is the process's global
//! subscriber, and [`exporting`] is process-wide.

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use std::sync::OnceLock;
use tenantry_telemetry::trace::{
    TRACEPARENT, TraceGuard, continue_from_http, continue_from_kafka, continue_from_traceparent,
    exporting, headers_of, layer_with_exporter, link, traceparent_of,
};
use tracing_subscriber::layer::SubscriberExt as _;

/// The exporter behind the global subscriber, installed once.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<(InMemorySpanExporter, TraceGuard)> = OnceLock::new();
    &EXPORTER
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            let traces = layer_with_exporter(exporter.clone(), "tenantry-test");
            let subscriber = tracing_subscriber::registry().with(traces.layer);
            tracing::subscriber::set_global_default(subscriber).unwrap();
            (exporter, traces.guard)
        })
        .0
}

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn finished(name: &str) -> opentelemetry_sdk::trace::SpanData {
    exporter()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no finished span {name}"))
}

#[test]
fn a_record_with_a_traceparent_header_continues_its_trace() {
    exporter();
    assert!(exporting());
    let headers = vec![
        ("event_type".to_owned(), b"tenant_created".to_vec()),
        (TRACEPARENT.to_owned(), PARENT.as_bytes().to_vec()),
    ];
    let span = tracing::debug_span!(target: "tenantry_test", "kafka consumer");
    continue_from_kafka(&span, &headers);
    // The next hop's header names this span, in the same trace.
    let next = traceparent_of(&span).expect("a traceparent");
    assert!(
        next.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{next}"
    );
    assert!(!next.contains("00f067aa0ba902b7"), "{next}");
    drop(span);
    let data = finished("kafka consumer");
    assert_eq!(
        data.span_context.trace_id(),
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    );
    assert_eq!(data.parent_span_id.to_string(), "00f067aa0ba902b7");
}

#[test]
fn a_record_without_one_starts_a_trace() {
    exporter();
    let span = tracing::debug_span!(target: "tenantry_test", "new root");
    continue_from_kafka(&span, &[("other".to_owned(), b"x".to_vec())]);
    let headers = headers_of(&span);
    let value = headers.traceparent().expect("a traceparent").to_owned();
    assert!(!value.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    drop(span);
    assert!(
        !finished("new root")
            .parent_span_id
            .to_string()
            .chars()
            .any(|c| c != '0')
    );
}

#[test]
fn an_http_request_and_a_kept_traceparent_continue_theirs() {
    exporter();
    let mut request = http::HeaderMap::new();
    request.insert("traceparent", PARENT.parse().unwrap());
    let span = tracing::debug_span!(target: "tenantry_test", "http server");
    continue_from_http(&span, &request);
    drop(span);
    assert_eq!(
        finished("http server").parent_span_id.to_string(),
        "00f067aa0ba902b7"
    );

    let span = tracing::debug_span!(target: "tenantry_test", "outbox relay");
    continue_from_traceparent(&span, PARENT);
    drop(span);
    assert_eq!(
        finished("outbox relay").parent_span_id.to_string(),
        "00f067aa0ba902b7"
    );
}

#[test]
fn a_batch_span_links_the_other_records() {
    exporter();
    let other = tracing::debug_span!(target: "tenantry_test", "other record");
    continue_from_traceparent(&other, PARENT);
    let batch = tracing::debug_span!(target: "tenantry_test", "batch");
    link(&batch, &other);
    drop(batch);
    let links = finished("batch").links;
    assert_eq!(links.links.len(), 1);
    assert_eq!(
        links.links[0].span_context.trace_id(),
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    );
}

#[test]
fn other_crates_spans_are_not_exported() {
    exporter();
    let span = tracing::debug_span!(target: "sqlx::query", "not ours");
    assert!(span.is_disabled());
}
