//! W3C trace context (`traceparent`, `tracestate`) in Kafka record headers
//! and HTTP headers, and between spans.
//!
//! Kafka: a consumed record's headers are the `(name, value)` pairs
//! `tenantry_kafka::Record::headers` copies out of librdkafka's
//! `BorrowedHeaders` ([`KafkaHeaders`] reads them); a produced record's are
//! the `(&str, &[u8])` pairs `Producer::send` turns into `OwnedHeaders`
//! ([`TraceHeaders`] writes them). So the carriers work on those pairs and
//! this crate needs no Kafka client.
//!
//! Every function is a no-op (returning nothing) unless [`exporting`].

use super::export::exporting;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C `traceparent` header: `00-<trace id, 32 hex>-<parent span id, 16
/// hex>-<flags, 2 hex>` (W3C Trace Context §3.2).
pub const TRACEPARENT: &str = "traceparent";

/// The W3C `tracestate` header: vendor `key=value` pairs (§3.3).
pub const TRACESTATE: &str = "tracestate";

/// A consumed Kafka record's headers as a propagation carrier; a header
/// that is not UTF-8 is absent. Kafka allows a name twice: the last wins,
/// as in `Record::header`.
pub struct KafkaHeaders<'a>(pub &'a [(String, Vec<u8>)]);

impl Extractor for KafkaHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// Trace context headers to add to a produced record: `traceparent` and,
/// when the context has vendor state, `tracestate`. Empty when not
/// exporting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeaders(Vec<(&'static str, String)>);

impl TraceHeaders {
    /// `(name, value)` pairs for `Producer::send`.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &[u8])> + '_ {
        self.0.iter().map(|(name, value)| (*name, value.as_bytes()))
    }

    /// The `traceparent` value, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == TRACEPARENT)
            .map(|(_, value)| value.as_str())
    }

    /// Whether there is no header.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Injector for TraceHeaders {
    fn set(&mut self, key: &str, value: String) {
        // The W3C propagator sets only these two.
        let name = match key {
            TRACEPARENT => TRACEPARENT,
            TRACESTATE => TRACESTATE,
            _ => return,
        };
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value));
    }
}

/// Makes `span` a child of the span that wrote `headers` (a consumed
/// record's), when they carry a valid `traceparent`; otherwise `span`
/// starts a trace. Call it before `span` is first entered.
pub fn continue_from_kafka(span: &Span, headers: &[(String, Vec<u8>)]) {
    if exporting() {
        set_parent(span, &KafkaHeaders(headers));
    }
}

/// [`continue_from_kafka`] for an HTTP request's headers.
pub fn continue_from_http(span: &Span, headers: &http::HeaderMap) {
    if exporting() {
        set_parent(span, &HttpHeaders(headers));
    }
}

/// [`continue_from_kafka`] for a `traceparent` value kept elsewhere (an
/// outbox row).
pub fn continue_from_traceparent(span: &Span, traceparent: &str) {
    if exporting() {
        let headers = [(TRACEPARENT.to_owned(), traceparent.as_bytes().to_vec())];
        set_parent(span, &KafkaHeaders(&headers));
    }
}

fn set_parent(span: &Span, carrier: &dyn Extractor) {
    let cx = TraceContextPropagator::new().extract(carrier);
    if cx.span().span_context().is_valid() {
        // Fails only when the span is disabled or already started: it then
        // stays in a trace of its own.
        let _ = span.set_parent(cx);
    }
}

/// The headers that make the next hop continue `span`'s trace; empty when
/// not exporting or `span` is disabled.
pub fn headers_of(span: &Span) -> TraceHeaders {
    let mut headers = TraceHeaders::default();
    if exporting() && !span.is_disabled() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    }
    headers
}

/// `span`'s `traceparent` value, to keep with a row that another span
/// continues later; `None` when not exporting or `span` is disabled.
pub fn traceparent_of(span: &Span) -> Option<String> {
    headers_of(span).traceparent().map(str::to_owned)
}

/// Links `span` to `other` (a record handled in the same batch, whose
/// trace `span` also serves; OpenTelemetry messaging conventions, "Batch
/// receiving"). Call it before `span` is first entered.
pub fn link(span: &Span, other: &Span) {
    if exporting() && !other.is_disabled() {
        let cx: SpanContext = other.context().span().span_context().clone();
        if cx.is_valid() {
            span.add_link(cx);
        }
    }
}

/// A fresh sampled `traceparent` (random trace and span ids): what
/// `tenantry publish` sends when it exports no span of its own, so that the
/// services that do export put the event's spans in one trace.
pub fn new_traceparent() -> String {
    use opentelemetry::trace::{SpanId, TraceId};
    let (trace, span) = loop {
        let trace = TraceId::from_bytes(rand::random());
        let span = SpanId::from_bytes(rand::random());
        if trace != TraceId::INVALID && span != SpanId::INVALID {
            break (trace, span);
        }
    };
    format!("00-{trace}-{span}-01")
}

/// An HTTP request's headers as a propagation carrier.
struct HttpHeaders<'a>(&'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The span of records handled as one unit (a batch decided, or written,
/// together), named `name` for OpenTelemetry: a child of the first record's
/// span, linked to the others' (OTel messaging, "batch receiving"). `Span::none()`
/// for no records.
pub fn batch(name: &'static str, spans: &[Span]) -> Span {
    let Some((first, rest)) = spans.split_first() else {
        return Span::none();
    };
    let span = tracing::debug_span!(
        parent: first,
        "batch",
        otel.name = name,
        messaging.batch.message_count = spans.len() as i64,
    );
    for other in rest {
        link(&span, other);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_traceparent_is_w3c_shaped_and_fresh() {
        let a = new_traceparent();
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.len(), 4, "{a}");
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
        assert!(
            parts[1..3]
                .iter()
                .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
        );
        assert_ne!(a, new_traceparent());
    }

    #[test]
    fn the_last_kafka_header_of_a_name_wins() {
        let headers = vec![
            (TRACEPARENT.to_owned(), b"first".to_vec()),
            ("other".to_owned(), b"x".to_vec()),
            (TRACEPARENT.to_owned(), b"second".to_vec()),
        ];
        assert_eq!(KafkaHeaders(&headers).get(TRACEPARENT), Some("second"));
        assert_eq!(KafkaHeaders(&headers).get("missing"), None);
    }

    #[test]
    fn only_trace_context_headers_are_injected() {
        let mut headers = TraceHeaders::default();
        headers.set(TRACEPARENT, "00-a-b-01".into());
        headers.set("baggage", "k=v".into());
        headers.set(TRACEPARENT, "00-c-d-01".into());
        assert_eq!(
            headers.pairs().collect::<Vec<_>>(),
            vec![(TRACEPARENT, &b"00-c-d-01"[..])]
        );
    }
}
