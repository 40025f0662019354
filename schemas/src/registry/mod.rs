//! The schema registry port and its in-process adapter.
//!
//! - [`SchemaRegistry`]: the port the [`Codec`](crate::Codec) asks for writer
//!   schemas and ids; [`RegistryError`] classifies its failures for retry.
//! - [`EmbeddedRegistry`]: dev and tests; the schemas compiled into this crate,
//!   ids derived from the schemas themselves, so every process agrees without
//!   coordination. No IO.
//!
//! The production adapter, a client for the Confluent Schema Registry REST
//! API, is `tenantry_registry::ConfluentRegistry` (`infra/registry`): HTTP
//! stays out of this crate.

mod embedded;

pub use embedded::EmbeddedRegistry;

use apache_avro::Schema;
use std::sync::Arc;

/// Where writer schemas come from and where ids for our schemas are obtained.
///
/// Ids are the 4-byte schema ids of the Confluent wire format (bytes 1–4 of a
/// record value, big-endian).
#[async_trait::async_trait]
pub trait SchemaRegistry: Send + Sync + 'static {
    /// Writer schema for a wire id.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when the registry has no schema with that
    /// id; [`RegistryError::Unavailable`] when it could not be asked;
    /// [`RegistryError::Rejected`] when it answered with something unusable.
    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError>;

    /// Id for `schema` under `subject` (`<topic>-<record full name>`,
    /// Confluent `TopicRecordNameStrategy`), registering it if the registry
    /// allows.
    ///
    /// # Errors
    /// [`RegistryError::Rejected`] when the registry refuses the schema
    /// (unknown to an embedded registry, incompatible, invalid);
    /// [`RegistryError::Unavailable`] when it could not be asked.
    async fn id_for(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryError>;
}

/// Why a registry call failed, classified for retry decisions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No schema has this id (Confluent HTTP 404, error code 40403). Permanent
    /// for a record that carries the id.
    #[error("schema id {id} is not known to the registry")]
    NotFound {
        /// The wire id asked for.
        id: u32,
    },
    /// Transient: connection or timeout, HTTP 5xx, 408, 429, and also 401/403
    /// (credentials are an operator's fix, never a record's fault). Retry.
    #[error("schema registry unavailable: {0}")]
    Unavailable(String),
    /// The registry refused the request or answered with something unusable:
    /// other 4xx (409 incompatible, 422 invalid schema), a schema that is not
    /// Avro or does not parse, or a schema unknown to an embedded registry.
    #[error("schema registry rejected the request: {0}")]
    Rejected(String),
}

/// Rabin fingerprint (Avro specification, "Schema Fingerprints") of the
/// schema's Parsing Canonical Form, as a little-endian `u64`.
pub(crate) fn rabin(schema: &Schema) -> u64 {
    let fp = schema.fingerprint::<apache_avro::rabin::Rabin>();
    let mut bytes = [0u8; 8];
    for (b, f) in bytes.iter_mut().zip(fp.bytes.iter()) {
        *b = *f;
    }
    u64::from_le_bytes(bytes)
}
