//! The `.avsc` files of this crate, composed into one self-contained Avro
//! schema per event kind.
//!
//! Each file in `schemas/` holds one named type. Types shared between files
//! (`tenantry.Envelope`, `tenantry.Edition`,
//! `tenantry.provisioning.ProvisionedOutcome`) are referenced by full name;
//! [`Catalog::compose`] inlines each referenced definition at its first use
//! (Avro specification, "Names": a name is defined once and referenced after),
//! so every event schema stands alone — the form a Confluent Schema Registry
//! stores without schema references.
//!
//! Event kinds follow Confluent's `TopicRecordNameStrategy`: each event is its
//! own top-level record, the subject is `<topic>-<record full name>`, and the
//! record's full name identifies the event kind on decode.

mod compat;
mod compose;

pub use compat::{IncompatibleChange, check_compatible};

use apache_avro::Schema;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// The `.avsc` files compiled into this crate: `(file name, JSON text)`, file
/// names relative to `schemas/`. Shared types first, then commerce, then
/// provisioning events.
pub const AVSC_FILES: [(&str, &str); 18] = [
    ("envelope.avsc", include_str!("../../envelope.avsc")),
    ("edition.avsc", include_str!("../../edition.avsc")),
    (
        "provisioned_outcome.avsc",
        include_str!("../../provisioned_outcome.avsc"),
    ),
    (
        "tenant_created.avsc",
        include_str!("../../tenant_created.avsc"),
    ),
    (
        "tenant_destroyed.avsc",
        include_str!("../../tenant_destroyed.avsc"),
    ),
    (
        "product_activated.avsc",
        include_str!("../../product_activated.avsc"),
    ),
    (
        "product_deactivated.avsc",
        include_str!("../../product_deactivated.avsc"),
    ),
    (
        "product_suspended.avsc",
        include_str!("../../product_suspended.avsc"),
    ),
    (
        "product_unsuspended.avsc",
        include_str!("../../product_unsuspended.avsc"),
    ),
    (
        "licence_updated.avsc",
        include_str!("../../licence_updated.avsc"),
    ),
    (
        "residency_pinned.avsc",
        include_str!("../../residency_pinned.avsc"),
    ),
    ("saga_started.avsc", include_str!("../../saga_started.avsc")),
    (
        "step_completed.avsc",
        include_str!("../../step_completed.avsc"),
    ),
    ("step_failed.avsc", include_str!("../../step_failed.avsc")),
    (
        "compensation_completed.avsc",
        include_str!("../../compensation_completed.avsc"),
    ),
    (
        "saga_completed.avsc",
        include_str!("../../saga_completed.avsc"),
    ),
    ("saga_failed.avsc", include_str!("../../saga_failed.avsc")),
    ("tenant_state.avsc", include_str!("../../tenant_state.avsc")),
];

/// Superseded versions of `.avsc` files, `(file name it replaces, JSON text)`,
/// oldest first. Records written by an older build carry the schema id of the
/// older version; the embedded registry keeps these so it can still resolve
/// them ([`Catalog::previous`]). Each must be fully compatible with the
/// current file (the git-history test checks the same).
pub const PREVIOUS_AVSC_FILES: [(&str, &str); 2] = [
    (
        "provisioned_outcome.avsc",
        include_str!("../../history/provisioned_outcome.v1.avsc"),
    ),
    (
        "tenant_created.avsc",
        include_str!("../../history/tenant_created.v1.avsc"),
    ),
];

/// Namespace of the commerce events (topic [`crate::COMMERCE_TOPIC`]).
pub const COMMERCE_NAMESPACE: &str = "tenantry.commerce";
/// Namespace of the provisioning events (topic [`crate::PROVISIONING_TOPIC`]).
pub const PROVISIONING_NAMESPACE: &str = "tenantry.provisioning";

/// Which topic family an event kind belongs to, from its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `tenantry.commerce.*`: the seven commerce events.
    Commerce,
    /// `tenantry.provisioning.*`: the tenant state (and the retired saga events).
    Provisioning,
}

impl Family {
    /// Lower-case name (`commerce`, `provisioning`), for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Commerce => "commerce",
            Family::Provisioning => "provisioning",
        }
    }
}

/// A `.avsc` file that cannot be composed: which file (or type) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct CatalogError {
    /// File name (`tenant_created.avsc`) or the type's full name.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

impl CatalogError {
    fn new(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            reason: reason.into(),
        }
    }
}

/// One event kind's schema, self-contained.
#[derive(Debug, Clone)]
pub struct EventSchema {
    full_name: String,
    file: String,
    family: Family,
    schema: Arc<Schema>,
    json: String,
}

impl EventSchema {
    /// Record full name (`tenantry.commerce.TenantCreated`): the event kind.
    pub fn full_name(&self) -> &str {
        &self.full_name
    }

    /// The `.avsc` file that defines the record (`tenant_created.avsc`).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Commerce or provisioning.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The parsed, self-contained schema (reader and writer schema of this crate).
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The composed JSON text, with every `doc` and `default` kept: what is
    /// registered with a Confluent registry.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Confluent `TopicRecordNameStrategy` subject: `<topic>-<record full name>`.
    pub fn subject(&self, topic: &str) -> String {
        format!("{topic}-{}", self.full_name)
    }
}

/// The composed event schemas, by record full name.
#[derive(Debug, Clone)]
pub struct Catalog {
    events: BTreeMap<String, EventSchema>,
}

static CURRENT: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::compose(AVSC_FILES)
        .unwrap_or_else(|e| panic!("compiled-in .avsc files do not compose: {e}"))
});

impl Catalog {
    /// The catalog of the `.avsc` files compiled into this build.
    ///
    /// # Panics
    /// If the compiled-in files do not compose — a build defect that the unit
    /// test `catalog::tests::current_catalog_has_all_fifteen_events` catches.
    pub fn current() -> &'static Catalog {
        &CURRENT
    }

    /// Composes `(file name, JSON)` pairs into one schema per event kind.
    ///
    /// An event is a record with a field `envelope` of type `tenantry.Envelope`
    /// in namespace [`COMMERCE_NAMESPACE`] or [`PROVISIONING_NAMESPACE`];
    /// other files are shared definitions, inlined where first referenced.
    ///
    /// # Errors
    /// A file that is not JSON, not a named type with a namespace, defines a
    /// full name twice, references an unknown type, or does not parse as Avro.
    pub fn compose<N, J>(files: impl IntoIterator<Item = (N, J)>) -> Result<Catalog, CatalogError>
    where
        N: AsRef<str>,
        J: AsRef<str>,
    {
        let events = compose::compose(files)?;
        Ok(Catalog { events })
    }

    /// The catalogs of earlier builds: for each entry of
    /// [`PREVIOUS_AVSC_FILES`], the current files with that one replaced.
    ///
    /// # Panics
    /// If a previous version does not compose — a build defect that the unit
    /// test `registry::embedded::tests::schemas_of_earlier_builds_are_still_known_and_compatible`
    /// catches.
    pub fn previous() -> Vec<Catalog> {
        PREVIOUS_AVSC_FILES
            .iter()
            .map(|(replaced, old)| {
                let files = AVSC_FILES
                    .iter()
                    .map(|(name, json)| (*name, if name == replaced { *old } else { *json }));
                Catalog::compose(files)
                    .unwrap_or_else(|e| panic!("previous {replaced} does not compose: {e}"))
            })
            .collect()
    }

    /// The event schema for a record full name.
    pub fn get(&self, full_name: &str) -> Option<&EventSchema> {
        self.events.get(full_name)
    }

    /// All event schemas, ordered by full name.
    pub fn events(&self) -> impl Iterator<Item = &EventSchema> {
        self.events.values()
    }

    /// The JSON text to register for `schema`: the composed text (with field
    /// and enum docs) when `schema` is one of this catalog's event schemas,
    /// else apache-avro's serialisation of it, which keeps defaults but drops
    /// field and enum `doc`s.
    pub fn registry_json(&self, schema: &Schema) -> String {
        let text = serde_json::to_string(schema).unwrap_or_default();
        let ours = schema
            .name()
            .and_then(|n| self.events.get(&n.fullname(None)))
            .filter(|e| serde_json::to_string(e.schema.as_ref()).ok().as_ref() == Some(&text));
        match ours {
            Some(e) => e.json.clone(),
            None => text,
        }
    }
}

#[cfg(test)]
mod tests;
