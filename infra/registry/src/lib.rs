//! The Confluent Schema Registry adapter of the
//! [`SchemaRegistry`](tenantry_schemas::SchemaRegistry) port.
//!
//! - [`ConfluentRegistry`] (`confluent`): a client for the Confluent REST API,
//!   v1 (also served by Redpanda and Karapace), caching both lookups. The
//!   production registry; [`tenantry_schemas::EmbeddedRegistry`] serves dev
//!   and tests without any HTTP.
//!
//! The port, its error type ([`tenantry_schemas::RegistryError`]) and the
//! codec that uses it live in `tenantry-schemas`, which stays free of HTTP;
//! this crate depends on it and on external crates only (reqwest), and knows
//! nothing of sagas, Kafka or the stores.

mod confluent;

pub use confluent::ConfluentRegistry;
