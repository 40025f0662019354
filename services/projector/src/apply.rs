//! Decoding a provisioning record and applying records to the store.

use std::collections::BTreeMap;
use tenantry_kafka::Record;
use tenantry_sagas::{ContextsError, TenantContext, TenantContexts};
use tenantry_schemas::{Codec, DecodeError, ProvisioningRecord, TenantId};

/// Decodes a record of the provisioning topic. `Ok(None)`: permanently
/// undecodable — logged and skipped (only Tenantry writes the topic, so this
/// is a defect or a foreign writer). `Err`: the schema registry is
/// unavailable; retry later.
pub async fn decode(
    codec: &Codec,
    record: &Record,
) -> Result<Option<ProvisioningRecord>, DecodeError> {
    let Some(payload) = record.payload.as_deref() else {
        return Ok(None);
    };
    match codec.decode_provisioning(payload).await {
        Ok(decoded) => Ok(Some(decoded)),
        Err(error) if error.is_permanent() => {
            tracing::warn!(topic = %record.topic, partition = record.partition,
                offset = record.offset, %error, "Record skipped by the projector.");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Folds each tenant's `records` (in arrival order) into its stored
/// context: one read for all tenants and one compare-and-set write for all
/// changed contexts, reading again the tenants whose context changed
/// meanwhile. Returns how many contexts changed.
pub async fn apply_batch(
    store: &dyn TenantContexts,
    by_tenant: &BTreeMap<TenantId, Vec<ProvisioningRecord>>,
) -> Result<usize, ContextsError> {
    let mut pending: Vec<&TenantId> = by_tenant.keys().collect();
    let mut changed = 0;
    while !pending.is_empty() {
        let mut stored = store.get_many(&pending).await?;
        let mut writes = Vec::with_capacity(pending.len());
        for tenant in &pending {
            let (mut context, revision) = match stored.remove(*tenant) {
                Some((context, revision)) => (context, Some(revision)),
                None => (TenantContext::empty((*tenant).clone()), None),
            };
            let mut differs = false;
            for record in &by_tenant[*tenant] {
                differs |= context.apply(record);
            }
            if differs {
                writes.push((context, revision));
            }
        }
        let written = store.put_many_if(&writes).await?;
        changed += written.len();
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
    Ok(changed)
}
