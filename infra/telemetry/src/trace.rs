//! OpenTelemetry traces across Kafka hops.
