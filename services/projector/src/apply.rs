//! Decoding a provisioning record and applying records to the store.

use tenantry_kafka::Record;
use tenantry_sagas::TenantContext;
use tenantry_schemas::{Codec, DecodeError, ProvisioningRecord, TenantId};
use tenantry_store::{ContextStore, StoreError};

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

/// Folds `records` (one tenant's, in arrival order) into its stored context
/// with one read and one compare-and-set write, re-reading on conflict.
/// Returns whether the context changed.
pub async fn apply_all(
    store: &ContextStore,
    tenant: &TenantId,
    records: &[ProvisioningRecord],
) -> Result<bool, StoreError> {
    loop {
        let current = store.get_with_revision(tenant).await?;
        let (mut context, revision) = match current {
            Some((context, revision)) => (context, Some(revision)),
            None => (TenantContext::empty(tenant.clone()), None),
        };
        let mut changed = false;
        for record in records {
            changed |= context.apply(record);
        }
        if !changed {
            return Ok(false);
        }
        if store.put_if(&context, revision).await? {
            return Ok(true);
        }
    }
}
