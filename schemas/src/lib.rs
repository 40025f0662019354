//! The contract of Tenantry.
//!
//! - [`ids`]: identifier newtypes parsed at the boundary (tenant, site, product, region…).
//! - [`KmsKeyRef`]: a tenant's own KMS key (key ARN or key id), as `tenant_created` names it.
//! - [`events`]: the envelope, the seven commerce events and the provisioning events.
//! - `*.avsc` files beside this crate: the Avro schemas, one file per record type.
//! - [`catalog`]: those files compiled in and composed into one self-contained
//!   schema per event kind, and the compatibility check between versions.
//! - [`registry`]: the [`SchemaRegistry`] port and an embedded registry built from
//!   the repo's `.avsc` files. The Confluent REST client implementing the port
//!   is in `tenantry-registry` (`infra/registry`).
//! - [`headers`]: the Kafka record headers written beside every value (event id, kind).
//! - [`codec`]: Confluent wire format (magic byte 0, 4-byte big-endian schema id,
//!   Avro binary body) for commerce and provisioning records.
//!
//! Depends on nothing else in the workspace, and does no IO: no HTTP client,
//! no Kafka, no database.

pub mod catalog;
pub mod codec;
pub mod events;
pub mod headers;
pub mod ids;
mod kms_key;
pub mod registry;
pub mod topics;

pub use catalog::{Catalog, EventSchema, Family};
pub use codec::{Codec, DecodeError, EncodeError};
pub use events::*;
pub use headers::RecordHeaders;
pub use ids::*;
pub use kms_key::KmsKeyRef;
pub use registry::{EmbeddedRegistry, RegistryError, SchemaRegistry};
pub use topics::Topics;
