//! The tenant context changelog (`tenant-context.changelog.v1`) read back
//! from the start and held against the context store: what a cache that
//! bootstraps from it would end up with.

use std::collections::BTreeMap;
use std::time::Duration;

use tenantry_kafka::{KafkaConfig, read_to_end};
use tenantry_projector::ContextChange;
use tenantry_sagas::TenantContexts;
use tenantry_schemas::TenantId;

/// What [`assert_converges`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogReport {
    /// Records read (committed ones only).
    pub records: usize,
    /// Tenants (keys) seen.
    pub tenants: usize,
    /// Records that repeated a version already read for their tenant.
    pub repeated: usize,
}

/// Reads `topic` to its end (`read_committed`) and asserts, tenant by
/// tenant, that the versions are in order (never an older after a newer),
/// that none is skipped (revisions 1, 2, … up to the last, each at least
/// once), and that the last is what `store` holds — for every tenant the
/// store has among `tenants`, and only for those with a context.
///
/// # Panics
/// When one of these does not hold, naming the tenant and the revisions.
pub async fn assert_converges(
    kafka: &KafkaConfig,
    topic: &str,
    store: &dyn TenantContexts,
    tenants: &[TenantId],
) -> ChangelogReport {
    let records = read_to_end(kafka, topic, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("read changelog {topic}: {e}"));
    let mut by_tenant: BTreeMap<String, Vec<ContextChange>> = BTreeMap::new();
    for record in &records {
        let key = String::from_utf8(record.key.clone().expect("a changelog record has a key"))
            .expect("the key is a tenant id");
        let change: ContextChange = serde_json::from_slice(
            record
                .payload
                .as_deref()
                .expect("a changelog record has a value"),
        )
        .unwrap_or_else(|e| panic!("changelog record of {key} does not decode: {e}"));
        assert_eq!(
            change.context.tenant_id.as_str(),
            key,
            "the key is the tenant"
        );
        by_tenant.entry(key).or_default().push(change);
    }
    let mut repeated = 0;
    for (tenant, changes) in &by_tenant {
        let revisions: Vec<i64> = changes.iter().map(|c| c.revision).collect();
        let mut expected = 1;
        for pair in revisions.windows(2) {
            assert!(
                pair[0] <= pair[1],
                "tenant {tenant}: revision {} after {} (reordered): {revisions:?}",
                pair[1],
                pair[0]
            );
        }
        for revision in &revisions {
            if *revision == expected - 1 {
                repeated += 1;
                continue;
            }
            assert_eq!(
                *revision, expected,
                "tenant {tenant}: revision {expected} skipped: {revisions:?}"
            );
            expected += 1;
        }
    }
    let wanted: Vec<&TenantId> = tenants.iter().collect();
    let stored = store
        .get_many(&wanted)
        .await
        .unwrap_or_else(|e| panic!("read the context store: {e}"));
    for tenant in tenants {
        let last = by_tenant
            .get(tenant.as_str())
            .and_then(|changes| changes.last())
            .map(|change| (change.context.clone(), change.revision));
        assert_eq!(
            last,
            stored.get(tenant).cloned(),
            "tenant {tenant}: the changelog's last version is the store's"
        );
    }
    ChangelogReport {
        records: records.len(),
        tenants: by_tenant.len(),
        repeated,
    }
}
