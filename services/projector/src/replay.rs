//! `tenantry replay`: rebuild the context store from the topics.

use crate::apply::decode;
use std::collections::BTreeMap;
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, read_to_end};
use tenantry_sagas::TenantContext;
use tenantry_schemas::{Codec, TenantId, Topics};
use tenantry_store::ContextStore;

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records read from both topics.
    pub records_read: usize,
    /// Events that changed a context.
    pub events_applied: usize,
    /// Records skipped (undecodable, duplicate or stale).
    pub skipped: usize,
    /// Contexts written.
    pub tenants: usize,
}

/// Clears `store`, reads both topics from the beginning up to their current
/// end, folds every record and writes the contexts. Because the fold does not
/// depend on how the two topics interleave, the result equals the live one.
///
/// Errors: the broker or store is unreachable, or the registry is unavailable.
pub async fn replay(
    kafka: &KafkaConfig,
    topics: &Topics,
    codec: &Codec,
    store: &ContextStore,
    timeout: Duration,
) -> anyhow::Result<ReplayReport> {
    let mut records = read_to_end(kafka, &topics.commerce, timeout).await?;
    records.extend(read_to_end(kafka, &topics.provisioning, timeout).await?);
    let mut contexts: BTreeMap<TenantId, TenantContext> = BTreeMap::new();
    let (mut applied, mut skipped) = (0, 0);
    for record in &records {
        let Some(decoded) = decode(codec, topics, record).await? else {
            skipped += 1;
            continue;
        };
        let tenant = decoded.tenant_id().clone();
        let context = contexts
            .entry(tenant.clone())
            .or_insert_with(|| TenantContext::empty(tenant));
        if decoded.fold_into(context) {
            applied += 1;
        } else {
            skipped += 1;
        }
    }
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
