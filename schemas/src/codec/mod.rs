//! Confluent wire format for commerce and provisioning records.
//!
//! A record value is (Confluent Schema Registry documentation, "Wire format"):
//!
//! | bytes | content |
//! |---|---|
//! | 0 | magic byte `0x00` |
//! | 1–4 | schema id, big-endian `u32` |
//! | 5… | Avro binary encoding of one datum (Avro specification, "Binary Encoding") |
//!
//! Encoding writes with this crate's schema of the event kind, registered
//! under `<topic>-<record full name>` (`TopicRecordNameStrategy`). Decoding
//! reads with the writer schema named by the id and resolves to this crate's
//! schema of the same record name (Avro specification, "Schema Resolution"):
//! missing fields take the reader default (case A2), extra writer fields are
//! skipped, an enum symbol unknown here becomes the reader default (A1), and
//! either order of a `["null","string"]` union works (A3).

mod commerce;
mod provisioning;
mod value;

use crate::catalog::{Catalog, EventSchema, Family};
use crate::events::{CommerceRecord, ProvisioningRecord};
use crate::ids::ValidationError;
use crate::registry::{EmbeddedRegistry, RegistryError, SchemaRegistry};
use apache_avro::Schema;
use apache_avro::types::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// First byte of every Confluent-framed record.
pub const MAGIC_BYTE: u8 = 0;
/// Magic byte plus the 4-byte schema id.
pub const HEADER_LEN: usize = 5;

/// Why a record value could not be turned into a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not Confluent framing (wrong magic byte, shorter than the header, no
    /// body), or the Avro body does not decode with its writer schema or does
    /// not resolve to the reader schema.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// The registry does not know the schema id in the header.
    #[error("unknown schema id {id}")]
    UnknownSchema {
        /// Schema id from bytes 1–4.
        id: u32,
    },
    /// A well-formed record of another kind: a provisioning event on the
    /// commerce topic, or a record that is no Tenantry event at all.
    #[error("wrong kind of record: {0}")]
    WrongKind(String),
    /// Decoded, but a field breaks a rule; names the field.
    #[error("invalid record: {0}")]
    Invalid(ValidationError),
    /// The registry could not be asked; the record itself may be fine.
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
}

impl DecodeError {
    /// True when decoding this record again cannot succeed: the record goes to
    /// the dead-letter topic and the offset moves on. False only for
    /// [`DecodeError::RegistryUnavailable`]: the consumer pauses and retries
    /// (case D3).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, DecodeError::RegistryUnavailable(_))
    }

    /// The reason without the kind prefix of `Display` (for a dead-letter
    /// header that already starts with [`DecodeError::code`]).
    pub fn detail(&self) -> String {
        match self {
            DecodeError::Malformed(reason)
            | DecodeError::WrongKind(reason)
            | DecodeError::RegistryUnavailable(reason) => reason.clone(),
            DecodeError::UnknownSchema { id } => {
                format!("schema id {id} is not in the schema registry")
            }
            DecodeError::Invalid(error) => error.to_string(),
        }
    }

    /// Short machine-readable reason for a dead-letter header:
    /// `malformed`, `unknown_schema`, `wrong_kind`, `invalid`, `registry_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "malformed",
            DecodeError::UnknownSchema { .. } => "unknown_schema",
            DecodeError::WrongKind(_) => "wrong_kind",
            DecodeError::Invalid(_) => "invalid",
            DecodeError::RegistryUnavailable(_) => "registry_unavailable",
        }
    }
}

/// Why a record could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// No schema id: the registry refused the schema or could not be asked.
    #[error(transparent)]
    Registry(RegistryError),
    /// The value does not fit the schema (a defect in this crate's mapping).
    #[error("Avro encoding failed: {0}")]
    Avro(String),
}

/// Encodes and decodes Tenantry records in the Confluent wire format.
///
/// Caches writer schemas by id and schema ids by (topic, record name) for the
/// life of the codec: both are immutable in a schema registry.
pub struct Codec {
    registry: Arc<dyn SchemaRegistry>,
    catalog: &'static Catalog,
    writers: RwLock<HashMap<u32, Arc<Schema>>>,
    ids: RwLock<HashMap<(String, String), u32>>,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("writers_cached", &read(&self.writers).len())
            .field("ids_cached", &read(&self.ids).len())
            .finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Frames an Avro body: magic byte, big-endian schema id, body.
pub fn frame(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Splits a record value into schema id and Avro body.
///
/// # Errors
/// [`DecodeError::Malformed`] for a wrong magic byte, fewer than 5 bytes, or
/// an empty body (no Tenantry record encodes to zero bytes).
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    match bytes {
        [] => Err(DecodeError::Malformed("empty record value".into())),
        [magic, ..] if *magic != MAGIC_BYTE => Err(DecodeError::Malformed(format!(
            "not Confluent wire format: first byte is 0x{magic:02x}, expected magic byte 0x00"
        ))),
        [_, a, b, c, d, body @ ..] => {
            if body.is_empty() {
                return Err(DecodeError::Malformed(
                    "no Avro body after the 5-byte header (magic byte, schema id)".into(),
                ));
            }
            Ok((u32::from_be_bytes([*a, *b, *c, *d]), body))
        }
        short => Err(DecodeError::Malformed(format!(
            "{} bytes, shorter than the 5-byte header (magic byte, schema id)",
            short.len()
        ))),
    }
}

impl Codec {
    /// A codec that resolves schema ids through `registry`.
    pub fn new(registry: Arc<dyn SchemaRegistry>) -> Self {
        Self {
            registry,
            catalog: Catalog::current(),
            writers: RwLock::default(),
            ids: RwLock::default(),
        }
    }

    /// A codec over an [`EmbeddedRegistry`] of this build's schemas.
    pub fn embedded() -> Self {
        Self::new(Arc::new(EmbeddedRegistry::new()))
    }

    /// Encodes a commerce record for `topic` (normally [`crate::COMMERCE_TOPIC`]).
    /// Does not run [`CommerceRecord::validate`]: consumers do, so a tool can
    /// still publish a record that must be dead-lettered.
    ///
    /// # Errors
    /// [`EncodeError::Registry`] when no schema id can be had for the subject.
    pub async fn encode_commerce(
        &self,
        topic: &str,
        record: &CommerceRecord,
    ) -> Result<Vec<u8>, EncodeError> {
        self.encode(
            topic,
            commerce::full_name(&record.event),
            commerce::to_value(record),
        )
        .await
    }

    /// Decodes and validates a commerce record value.
    ///
    /// # Errors
    /// See [`DecodeError`]; a provisioning record is [`DecodeError::WrongKind`].
    pub async fn decode_commerce(&self, bytes: &[u8]) -> Result<CommerceRecord, DecodeError> {
        let (event, value) = self.decode(bytes, Family::Commerce).await?;
        let record = commerce::from_value(event.full_name(), value)?;
        record.validate().map_err(DecodeError::Invalid)?;
        Ok(record)
    }

    /// Encodes a provisioning record for `topic` (normally
    /// [`crate::PROVISIONING_TOPIC`]).
    ///
    /// # Errors
    /// [`EncodeError::Registry`] when no schema id can be had for the subject.
    pub async fn encode_provisioning(
        &self,
        topic: &str,
        record: &ProvisioningRecord,
    ) -> Result<Vec<u8>, EncodeError> {
        self.encode(
            topic,
            provisioning::full_name(&record.event),
            provisioning::to_value(record),
        )
        .await
    }

    /// Decodes and validates ([`ProvisioningRecord::validate`]) a provisioning
    /// record value.
    ///
    /// # Errors
    /// See [`DecodeError`]; a commerce record is [`DecodeError::WrongKind`].
    pub async fn decode_provisioning(
        &self,
        bytes: &[u8],
    ) -> Result<ProvisioningRecord, DecodeError> {
        let (event, value) = self.decode(bytes, Family::Provisioning).await?;
        let record = provisioning::from_value(event.full_name(), value)?;
        record.validate().map_err(DecodeError::Invalid)?;
        Ok(record)
    }

    async fn encode(
        &self,
        topic: &str,
        full_name: &str,
        value: Value,
    ) -> Result<Vec<u8>, EncodeError> {
        let event = self
            .catalog
            .get(full_name)
            .ok_or_else(|| EncodeError::Avro(format!("no schema for {full_name}")))?;
        let id = self.schema_id(topic, event).await?;
        let body = encode_body(event.schema(), value)?;
        Ok(frame(id, &body))
    }

    async fn schema_id(&self, topic: &str, event: &EventSchema) -> Result<u32, EncodeError> {
        let key = (topic.to_owned(), event.full_name().to_owned());
        if let Some(id) = read(&self.ids).get(&key) {
            return Ok(*id);
        }
        let id = self
            .registry
            .id_for(&event.subject(topic), event.schema())
            .await
            .map_err(EncodeError::Registry)?;
        write(&self.ids).insert(key, id);
        Ok(id)
    }

    async fn writer_schema(&self, id: u32) -> Result<Arc<Schema>, DecodeError> {
        if let Some(schema) = read(&self.writers).get(&id) {
            return Ok(Arc::clone(schema));
        }
        let schema = self.registry.schema_by_id(id).await.map_err(|e| match e {
            RegistryError::NotFound { id } => DecodeError::UnknownSchema { id },
            RegistryError::Unavailable(m) => DecodeError::RegistryUnavailable(m),
            RegistryError::Rejected(m) => DecodeError::Malformed(format!("schema id {id}: {m}")),
        })?;
        write(&self.writers).insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    /// Unframes, fetches the writer schema, picks the reader schema by record
    /// name and decodes the body resolved to it.
    async fn decode(
        &self,
        bytes: &[u8],
        family: Family,
    ) -> Result<(&'static EventSchema, Value), DecodeError> {
        let (id, body) = unframe(bytes)?;
        let writer = self.writer_schema(id).await?;
        let name = match writer.as_ref() {
            Schema::Record(r) => r.name.fullname(None),
            _ => {
                return Err(DecodeError::WrongKind(format!(
                    "schema id {id} is not a record schema"
                )));
            }
        };
        let reader = self.catalog.get(&name).ok_or_else(|| {
            DecodeError::WrongKind(format!("{name} (schema id {id}) is not a Tenantry event"))
        })?;
        if reader.family() != family {
            return Err(DecodeError::WrongKind(format!(
                "{name} is a {} event, expected a {} event",
                reader.family().as_str(),
                family.as_str()
            )));
        }
        let mut rest = body;
        let value = apache_avro::from_avro_datum(&writer, &mut rest, Some(reader.schema()))
            .map_err(|e| DecodeError::Malformed(format!("{name} body (schema id {id}): {e}")))?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{name} body (schema id {id}): {} bytes left after the datum",
                rest.len()
            )));
        }
        Ok((reader, value))
    }
}

/// Resolves `value` against `schema` (choosing union branches, enum indexes,
/// defaults) and writes the Avro binary datum.
fn encode_body(schema: &Schema, value: Value) -> Result<Vec<u8>, EncodeError> {
    let value = value
        .resolve(schema)
        .map_err(|e| EncodeError::Avro(e.to_string()))?;
    apache_avro::to_avro_datum(schema, value).map_err(|e| EncodeError::Avro(e.to_string()))
}

#[cfg(test)]
mod tests;
