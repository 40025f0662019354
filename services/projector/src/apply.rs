//! Decoding a provisioning record and applying records to the store.

use crate::events::RecordSkipped;
use std::collections::BTreeMap;
use tenantry_kafka::Record;
use tenantry_sagas::{ContextChange, ContextsError, TenantContext, TenantContexts};
use tenantry_schemas::{Codec, DecodeError, ProvisioningEvent, ProvisioningRecord, TenantId};
use tenantry_telemetry::metrics::Event;

/// Decodes a record of the provisioning topic. `Ok(None)`: permanently
/// undecodable — logged and skipped (only Tenantry writes the topic, so this
/// is a defect or a foreign writer). `Err`: the schema registry is
/// unavailable; retry later.
pub async fn decode(
    codec: &Codec,
    record: &Record,
) -> Result<Option<ProvisioningRecord>, DecodeError> {
    let Some(payload) = record.payload.as_deref() else {
        RecordSkipped {
            record,
            error: None,
        }
        .emit();
        return Ok(None);
    };
    match codec.decode_provisioning(payload).await {
        Ok(decoded) => Ok(Some(decoded)),
        Err(error) if error.is_permanent() => {
            RecordSkipped {
                record,
                error: Some(&error),
            }
            .emit();
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Folds each tenant's `records` (in arrival order) into its stored
/// context: one read for all tenants and one compare-and-set write for all
/// changed contexts, reading again the tenants whose context changed
/// meanwhile.
///
/// Returns the versions to publish on the changelog, one per tenant at
/// most, in tenant order: each context written, with its new revision; and
/// the stored context of a tenant whose batch holds the very tenant state
/// the store already has (the record was applied before, but its change
/// may not have been published: a crash or a rebalance between the write
/// and the commit of its transaction). A changelog reader may therefore
/// see a version twice, never an older one after a newer.
pub async fn apply_batch(
    store: &dyn TenantContexts,
    by_tenant: &BTreeMap<TenantId, Vec<ProvisioningRecord>>,
) -> Result<Vec<ContextChange>, ContextsError> {
    let mut pending: Vec<&TenantId> = by_tenant.keys().collect();
    let mut changes = Vec::new();
    while !pending.is_empty() {
        let mut stored = store.get_many(&pending).await?;
        let mut writes = Vec::with_capacity(pending.len());
        for tenant in &pending {
            let (mut context, revision) = match stored.remove(*tenant) {
                Some((context, revision)) => (context, Some(revision)),
                None => (TenantContext::empty((*tenant).clone()), None),
            };
            let records = &by_tenant[*tenant];
            let mut differs = false;
            for record in records {
                differs |= context.apply(record);
            }
            if differs {
                writes.push((context, revision));
            } else if let Some(revision) = revision
                && records.iter().any(|r| applied_as(r, &context))
            {
                changes.push(ContextChange { revision, context });
            }
        }
        let written = store.put_many_if(&writes).await?;
        for (context, revision) in &writes {
            if written.contains(&context.tenant_id) {
                changes.push(ContextChange {
                    revision: revision.map_or(1, |r| r + 1),
                    context: context.clone(),
                });
            }
        }
        pending = writes
            .iter()
            .map(|(context, _)| &context.tenant_id)
            .filter(|tenant| !written.contains(*tenant))
            .map(|tenant| {
                by_tenant
                    .get_key_value(tenant)
                    .map(|(key, _)| key)
                    .expect("a pending tenant is a key of the batch")
            })
            .collect();
    }
    changes.sort_by(|a, b| a.context.tenant_id.cmp(&b.context.tenant_id));
    Ok(changes)
}

/// Whether `record` is the tenant state `context` was made of.
fn applied_as(record: &ProvisioningRecord, context: &TenantContext) -> bool {
    matches!(record.event, ProvisioningEvent::TenantState(_))
        && context.version.event_id == Some(record.envelope.event_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_schemas::{Envelope, MIN_OCCURRED_AT_MS, ProvisioningEvent, TenantStatus};
    use tenantry_store::memory::MemoryContexts;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    /// Tenant `id`'s state at provisioning `sequence`, with `status`.
    fn state(id: &str, sequence: i64, status: TenantStatus) -> ProvisioningRecord {
        let mut state = TenantContext::empty(tenant(id)).state;
        state.commerce_sequence = sequence;
        state.status = status;
        ProvisioningRecord {
            envelope: Envelope {
                event_id: uuid::Uuid::new_v4(),
                tenant_id: tenant(id),
                sequence,
                occurred_at_ms: MIN_OCCURRED_AT_MS,
                source: "test".into(),
                correlation_id: None,
                causation_id: None,
            },
            event: ProvisioningEvent::TenantState(Box::new(state)),
        }
    }

    fn batch(records: &[&ProvisioningRecord]) -> BTreeMap<TenantId, Vec<ProvisioningRecord>> {
        let mut by_tenant: BTreeMap<TenantId, Vec<ProvisioningRecord>> = BTreeMap::new();
        for record in records {
            by_tenant
                .entry(record.envelope.tenant_id.clone())
                .or_default()
                .push((*record).clone());
        }
        by_tenant
    }

    #[tokio::test]
    async fn each_write_is_a_change_with_the_stores_new_revision() {
        let store = MemoryContexts::new();
        let (a1, a2, b1) = (
            state("a", 1, TenantStatus::Provisioning),
            state("a", 2, TenantStatus::Active),
            state("b", 1, TenantStatus::Provisioning),
        );
        let first = apply_batch(&store, &batch(&[&a1, &b1])).await.unwrap();
        let revisions: Vec<(&str, i64)> = first
            .iter()
            .map(|c| (c.context.tenant_id.as_str(), c.revision))
            .collect();
        assert_eq!(revisions, [("a", 1), ("b", 1)]);
        // Two records of one tenant in a batch are one write, one change.
        let second = apply_batch(&store, &batch(&[&a2])).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].revision, 2);
        assert_eq!(second[0].context.state.status, TenantStatus::Active);
        assert_eq!(
            store.get_many(&[&tenant("a")]).await.unwrap()[&tenant("a")],
            (second[0].context.clone(), 2)
        );
    }

    /// A batch read again after its transaction was lost (the store took
    /// it, the changelog did not): the stored version is published again.
    /// Records that are merely older, or carry no tenant state, are not.
    #[tokio::test]
    async fn a_record_the_store_has_applied_already_publishes_the_stored_version_again() {
        let store = MemoryContexts::new();
        let (a1, a2) = (
            state("a", 1, TenantStatus::Provisioning),
            state("a", 2, TenantStatus::Active),
        );
        let written = apply_batch(&store, &batch(&[&a1, &a2])).await.unwrap();
        assert_eq!(written.len(), 1);
        let again = apply_batch(&store, &batch(&[&a1, &a2])).await.unwrap();
        assert_eq!(again, written, "the same version, the same revision");
        let older = apply_batch(&store, &batch(&[&a1])).await.unwrap();
        assert!(older.is_empty(), "{older:?}");
    }
}
