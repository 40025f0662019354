//! `tenantry replay`: rebuild the context store from the provisioning topic.

use crate::apply::decode;
use std::collections::BTreeMap;
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, read_to_end};
use tenantry_sagas::{TenantContext, TenantContexts};
use tenantry_schemas::{Codec, TenantId, Topics};

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records read from the provisioning topic.
    pub records_read: usize,
    /// Records that changed a context.
    pub events_applied: usize,
    /// Records skipped: undecodable, older than a record already applied,
    /// or of the retired saga kinds.
    pub skipped: usize,
    /// Contexts written.
    pub tenants: usize,
}

/// Clears `store`, reads the provisioning topic from the beginning up to
/// its current end, folds every record and writes the contexts. Each
/// context is the newest tenant state of its tenant, so the result equals
/// the live one.
///
/// Errors: the broker or store is unreachable, or the registry is unavailable.
pub async fn replay(
    kafka: &KafkaConfig,
    topics: &Topics,
    codec: &Codec,
    store: &dyn TenantContexts,
    timeout: Duration,
) -> anyhow::Result<ReplayReport> {
    let records = read_to_end(kafka, &topics.provisioning, timeout).await?;
    let mut contexts: BTreeMap<TenantId, TenantContext> = BTreeMap::new();
    let (mut applied, mut skipped) = (0, 0);
    for record in &records {
        let Some(decoded) = decode(codec, record).await? else {
            skipped += 1;
            continue;
        };
        let tenant = decoded.envelope.tenant_id.clone();
        let context = contexts
            .entry(tenant.clone())
            .or_insert_with(|| TenantContext::empty(tenant));
        if context.apply(&decoded) {
            applied += 1;
        } else {
            skipped += 1;
        }
    }
    // Tenants seen only in retired saga records have no state to show.
    contexts.retain(|_, context| context.version.provisioning_sequence > 0);
    store.clear().await?;
    for context in contexts.values() {
        store.put(context).await?;
    }
    Ok(ReplayReport {
        records_read: records.len(),
        events_applied: applied,
        skipped,
        tenants: contexts.len(),
    })
}
