//! Each published commerce event starts a trace, or continues the caller's:
//! its record carries a W3C `traceparent` header, which the provisioner
//! continues (and so every hop after it).
//!
//! - With traces exported, the header is that of the `send` span below.
//! - Without, it is the caller's `TRACEPARENT` environment variable when set
//!   (OpenTelemetry's "environment variables as context propagation
//!   carriers"), else a fresh random one: the services that export traces
//!   still put the event's spans in one trace.

use tenantry_schemas::CommerceRecord;
use tenantry_telemetry::trace;
use tracing::Span;

/// The caller's trace context, if any (`TRACEPARENT`, W3C format).
const TRACEPARENT_ENV: &str = "TRACEPARENT";

/// The span of sending `record` to `topic` (`messaging.operation.type =
/// send`), a child of the caller's `TRACEPARENT` when set.
pub(super) fn send_span(topic: &str, record: &CommerceRecord) -> Span {
    let id = record.envelope.event_id.to_string();
    tenantry_kafka::send_span(
        topic,
        record.envelope.tenant_id.as_str(),
        Some(&id),
        caller_traceparent().as_deref(),
    )
}

/// The trace headers of the record `span` sends (see the module docs).
pub(super) fn headers(span: &Span) -> Vec<(&'static str, Vec<u8>)> {
    let exported = trace::headers_of(span);
    if !exported.is_empty() {
        return exported
            .pairs()
            .map(|(name, value)| (name, value.to_vec()))
            .collect();
    }
    let traceparent = caller_traceparent().unwrap_or_else(trace::new_traceparent);
    vec![(trace::TRACEPARENT, traceparent.into_bytes())]
}

fn caller_traceparent() -> Option<String> {
    std::env::var(TRACEPARENT_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_a_record_still_starts_a_trace() {
        // No layer in unit tests: the header is a fresh traceparent (or the
        // caller's, when TRACEPARENT is set in the environment).
        let headers = headers(&Span::none());
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].0, "traceparent");
        let value = String::from_utf8(headers[0].1.clone()).unwrap();
        assert_eq!(value.split('-').count(), 4, "{value}");
    }
}
