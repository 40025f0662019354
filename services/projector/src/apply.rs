//! Decoding a record by topic and applying it to the store.

use tenantry_kafka::Record;
use tenantry_sagas::TenantContext;
use tenantry_schemas::{Codec, CommerceRecord, DecodeError, ProvisioningRecord, TenantId, Topics};
use tenantry_store::{ContextStore, StoreError};

/// A record the projector understands.
#[derive(Debug, Clone)]
pub enum Decoded {
    /// From the commerce topic.
    Commerce(CommerceRecord),
    /// From the provisioning topic.
    Provisioning(ProvisioningRecord),
}

impl Decoded {
    /// The tenant the record is about.
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Decoded::Commerce(r) => &r.envelope.tenant_id,
            Decoded::Provisioning(r) => &r.envelope.tenant_id,
        }
    }

    /// Applies the record to `context`; `false` when it was stale or a duplicate.
    pub fn fold_into(&self, context: &mut TenantContext) -> bool {
        match self {
            Decoded::Commerce(r) => context.apply_commerce(r),
            Decoded::Provisioning(r) => context.apply_provisioning(r),
        }
    }
}

/// Decodes `record` by its topic. `Ok(None)`: permanently undecodable or from
/// an unknown topic — logged and skipped. `Err`: the schema registry is
/// unavailable; retry later.
pub async fn decode(
    codec: &Codec,
    topics: &Topics,
    record: &Record,
) -> Result<Option<Decoded>, DecodeError> {
    let Some(payload) = record.payload.as_deref() else {
        return Ok(None);
    };
    let decoded = if record.topic == topics.commerce {
        codec.decode_commerce(payload).await.map(Decoded::Commerce)
    } else if record.topic == topics.provisioning {
        codec
            .decode_provisioning(payload)
            .await
            .map(Decoded::Provisioning)
    } else {
        return Ok(None);
    };
    match decoded {
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
    records: &[Decoded],
) -> Result<bool, StoreError> {
    loop {
        let current = store.get_with_revision(tenant).await?;
        let (mut context, revision) = match current {
            Some((context, revision)) => (context, Some(revision)),
            None => (TenantContext::empty(tenant.clone()), None),
        };
        let mut changed = false;
        for record in records {
            changed |= record.fold_into(&mut context);
        }
        if !changed {
            return Ok(false);
        }
        if store.put_if(&context, revision).await? {
            return Ok(true);
        }
    }
}
