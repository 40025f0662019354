//! What every Tenantry service reports about itself.
//!
//! - [`metrics`]: the process's Prometheus recorder and its `/metrics` route.
//! - [`trace`]: OpenTelemetry traces, W3C trace context carried in Kafka
//!   record headers, OTLP export when an endpoint is configured.

pub mod metrics;
pub mod trace;
