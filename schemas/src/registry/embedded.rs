//! Registry built from the schemas compiled into this crate.

use super::{RegistryError, SchemaRegistry, rabin};
use crate::catalog::Catalog;
use apache_avro::Schema;
use std::collections::HashMap;
use std::sync::Arc;

/// In-process registry for dev and tests: knows the event schemas of
/// [`Catalog::current`] (plus any added with [`EmbeddedRegistry::register`])
/// and registers nothing on its own.
///
/// Ids are derived, not assigned: the low 31 bits of the Rabin fingerprint of
/// the schema's Parsing Canonical Form (Avro specification, "Schema
/// Fingerprints"), so every process built from the same `.avsc` files uses
/// the same ids without coordination. The canonical form leaves out `doc`,
/// `default` and logical types, i.e. exactly what does not change the bytes
/// a writer produces, so two schemas with one id encode identically.
#[derive(Debug, Clone)]
pub struct EmbeddedRegistry {
    by_id: HashMap<u32, Arc<Schema>>,
    by_form: HashMap<String, u32>,
}

impl EmbeddedRegistry {
    /// The registry of this build's event schemas and of the earlier
    /// versions still in use on topics ([`Catalog::previous`]), so records
    /// written by an older build decode (resolved to this build's schemas).
    ///
    /// # Panics
    /// If two of them derive the same id — a build defect that the unit test
    /// `registry::embedded::tests::every_event_kind_has_a_distinct_id` catches.
    pub fn new() -> Self {
        let mut registry = Self::from_catalog(Catalog::current())
            .unwrap_or_else(|e| panic!("embedded schema ids collide: {e}"));
        for catalog in Catalog::previous() {
            for event in catalog.events() {
                registry
                    .insert(Arc::clone(event.schema()))
                    .unwrap_or_else(|e| panic!("embedded schema ids collide: {e}"));
            }
        }
        registry
    }

    /// The registry of `catalog`'s event schemas.
    ///
    /// # Errors
    /// [`RegistryError::Rejected`] if two schemas derive the same id.
    pub fn from_catalog(catalog: &Catalog) -> Result<Self, RegistryError> {
        let mut registry = Self {
            by_id: HashMap::new(),
            by_form: HashMap::new(),
        };
        for event in catalog.events() {
            registry.insert(Arc::clone(event.schema()))?;
        }
        Ok(registry)
    }

    /// Adds a schema (e.g. an older or newer writer version in a test) and
    /// returns its id; adding a known schema again returns the same id.
    ///
    /// # Errors
    /// [`RegistryError::Rejected`] if a different schema already has the id.
    pub fn register(&mut self, schema: Schema) -> Result<u32, RegistryError> {
        self.insert(Arc::new(schema))
    }

    /// The id this registry derives for `schema` (31 bits, never negative as
    /// a Java `int`).
    pub fn derive_id(schema: &Schema) -> u32 {
        (rabin(schema) & 0x7FFF_FFFF) as u32
    }

    /// `(id, schema)` of every known schema, in no particular order.
    pub fn schemas(&self) -> impl Iterator<Item = (u32, &Arc<Schema>)> {
        self.by_id.iter().map(|(id, s)| (*id, s))
    }

    fn insert(&mut self, schema: Arc<Schema>) -> Result<u32, RegistryError> {
        let form = schema.canonical_form();
        if let Some(id) = self.by_form.get(&form) {
            return Ok(*id);
        }
        let id = Self::derive_id(&schema);
        if let Some(other) = self.by_id.get(&id) {
            return Err(RegistryError::Rejected(format!(
                "schema id {id} derived for {} collides with {}",
                display_name(&schema),
                display_name(other),
            )));
        }
        self.by_id.insert(id, schema);
        self.by_form.insert(form, id);
        Ok(id)
    }
}

impl Default for EmbeddedRegistry {
    fn default() -> Self {
        Self::new()
    }
}

fn display_name(schema: &Schema) -> String {
    schema
        .name()
        .map_or_else(|| "an unnamed schema".to_owned(), |n| n.fullname(None))
}

#[async_trait::async_trait]
impl SchemaRegistry for EmbeddedRegistry {
    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        self.by_id
            .get(&id)
            .cloned()
            .ok_or(RegistryError::NotFound { id })
    }

    /// The subject is not checked: ids depend on the schema only.
    async fn id_for(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryError> {
        self.by_form
            .get(&schema.canonical_form())
            .copied()
            .ok_or_else(|| {
                RegistryError::Rejected(format!(
                    "{subject}: {} is not one of the embedded schemas (the embedded registry knows this build's .avsc files and registers nothing new)",
                    display_name(schema)
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_event_kind_has_a_distinct_id() {
        let registry = EmbeddedRegistry::new();
        let catalog = Catalog::current();
        let ids: HashSet<u32> = catalog
            .events()
            .map(|e| EmbeddedRegistry::derive_id(e.schema()))
            .collect();
        assert_eq!(ids.len(), 15);
        // Plus the SagaCompleted of builds before ProvisionedOutcome gained
        // the moved-database maps, and the TenantCreated of builds before
        // `kms_key`.
        assert_eq!(registry.schemas().count(), 17);
        assert!(ids.iter().all(|id| *id <= 0x7FFF_FFFF));
        // The D3 poison id must stay unknown.
        assert!(!ids.contains(&9999));
    }

    #[tokio::test]
    async fn ids_are_stable_across_instances_and_known_schemas_only() {
        let a = EmbeddedRegistry::new();
        let b = EmbeddedRegistry::default();
        for event in Catalog::current().events() {
            let subject = event.subject("t");
            let id = a.id_for(&subject, event.schema()).await.unwrap();
            assert_eq!(id, b.id_for(&subject, event.schema()).await.unwrap());
            let back = a.schema_by_id(id).await.unwrap();
            assert_eq!(back.canonical_form(), event.schema().canonical_form());
        }
        let unknown = Schema::parse_str(r#"{"type":"record","name":"x.Y","fields":[]}"#).unwrap();
        assert!(matches!(
            a.id_for("t-x.Y", &unknown).await,
            Err(RegistryError::Rejected(_))
        ));
        assert_eq!(
            a.schema_by_id(9999).await.unwrap_err(),
            RegistryError::NotFound { id: 9999 }
        );
    }

    #[test]
    fn register_is_idempotent() {
        let mut registry = EmbeddedRegistry::new();
        let schema = Schema::parse_str(r#"{"type":"record","name":"x.Y","fields":[]}"#).unwrap();
        let id = registry.register(schema.clone()).unwrap();
        assert_eq!(registry.register(schema).unwrap(), id);
        assert_eq!(registry.schemas().count(), 18);
    }

    #[tokio::test]
    async fn schemas_of_earlier_builds_are_still_known_and_compatible() {
        let registry = EmbeddedRegistry::new();
        for previous in Catalog::previous() {
            for event in previous.events() {
                let id = EmbeddedRegistry::derive_id(event.schema());
                let known = registry.schema_by_id(id).await.expect("known id");
                assert_eq!(known.canonical_form(), event.schema().canonical_form());
                let current = Catalog::current().get(event.full_name()).unwrap();
                crate::catalog::check_compatible(event.schema(), current.schema())
                    .unwrap_or_else(|e| panic!("{}: {e}", event.full_name()));
            }
        }
    }
}
