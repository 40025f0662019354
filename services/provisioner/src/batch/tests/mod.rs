//! [`plan`] against hand-built [`Loaded`] views: what a batch records, which
//! sagas and effect rows it decides, the state it publishes, and the first
//! record it leaves to the per-record path ([`crate::ingest`]) and why.
//!
//! Keys are the real local adapter in a temporary directory; shards a full
//! region gets are added by an in-memory [`ShardProvisioner`] (the store's
//! needs a database); nothing else leaves memory.

mod records;
mod steps;

use super::*;
use crate::steps::{ShardProvisioner, StepContext};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;
use tenantry_keys::{KeyService, LocalKeyService};
use tenantry_sagas::work::{EffectRows, PlacedDatabase, RecordedEvent, Shard};
use tenantry_sagas::{SagaKind, StepError};
use tenantry_schemas::{
    AppKey, CountryCode, Edition, Envelope, Parking, ProductActivated, ProductKey, ProductState,
    Region, SiteName, TenantCreated, TenantStatus,
};
use tenantry_store::product_db::database_name;
use uuid::Uuid;

const DOMAIN: &str = "tenantry.test";

/// Adds shard `<region>-shard-<number>` in memory, as the store would,
/// with `capacity` and `used` as given (a shard that filled up meanwhile
/// has `used >= capacity`), and remembers what it was asked.
pub(super) struct FakeShards {
    capacity: i64,
    used: i64,
    unavailable: bool,
    asked: Mutex<Vec<(String, usize)>>,
}

impl FakeShards {
    fn new(capacity: i64, used: i64) -> Self {
        Self {
            capacity,
            used,
            unavailable: false,
            asked: Mutex::new(Vec::new()),
        }
    }

    fn asked(&self) -> Vec<(String, usize)> {
        self.asked.lock().unwrap().clone()
    }
}

impl ShardProvisioner for FakeShards {
    fn add_shard<'a>(
        &'a self,
        region: &'a str,
        number: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Shard, StepError>> + Send + 'a>> {
        Box::pin(async move {
            self.asked.lock().unwrap().push((region.to_owned(), number));
            if self.unavailable {
                return Err(StepError::retryable("the store is unavailable"));
            }
            let id = format!("{region}-shard-{number}");
            Ok(shard(&id, region, self.capacity, self.used))
        })
    }
}

/// A step context over a fresh key directory (kept alive by the fixture).
pub(super) struct Fixture {
    ctx: StepContext,
    keys: Arc<LocalKeyService>,
    shards: Arc<FakeShards>,
    _dir: TempDir,
}

pub(super) fn fixture() -> Fixture {
    fixture_with(FakeShards::new(100, 0))
}

pub(super) fn fixture_with(shards: FakeShards) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(LocalKeyService::new(dir.path().join("keys")).unwrap());
    let shards = Arc::new(shards);
    Fixture {
        ctx: StepContext::for_tests(DOMAIN, keys.clone(), shards.clone()),
        keys,
        shards,
        _dir: dir,
    }
}

pub(super) fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

pub(super) fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

pub(super) fn commerce(tenant_id: &str, sequence: i64, event: CommerceEvent) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant(tenant_id),
            sequence,
            occurred_at_ms: 1_700_000_000_000,
            source: "batch-unit-test".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    }
}

/// `tenant_created` (sequence 1) of a tenant in Germany (region `de`).
pub(super) fn created(tenant_id: &str, site: &str) -> CommerceRecord {
    created_pinned(tenant_id, site, None)
}

pub(super) fn created_pinned(tenant_id: &str, site: &str, pin: Option<Region>) -> CommerceRecord {
    commerce(
        tenant_id,
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(site).unwrap(),
            owner_email: format!("owner@{tenant_id}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: pin,
            kms_key: None,
        }),
    )
}

/// `product_activated` of jira, standard, 10 seats.
pub(super) fn activated(tenant_id: &str, sequence: i64, apps: &[&str]) -> CommerceRecord {
    commerce(
        tenant_id,
        sequence,
        CommerceEvent::ProductActivated(ProductActivated {
            product: jira(),
            edition: Edition::Standard,
            seats: 10,
            apps: apps.iter().map(|a| AppKey::parse(a).unwrap()).collect(),
        }),
    )
}

pub(super) fn shard(shard_id: &str, region: &str, capacity: i64, used: i64) -> Shard {
    Shard {
        shard_id: shard_id.into(),
        region: region.into(),
        capacity,
        used,
    }
}

/// An empty store but for `shards`, loaded as the store does: the shards
/// with room, and every region's shard count.
pub(super) fn loaded(shards: Vec<Shard>) -> Loaded {
    let mut shard_counts = BTreeMap::new();
    for shard in &shards {
        *shard_counts.entry(shard.region.clone()).or_default() += 1;
    }
    Loaded {
        shards: shards.into_iter().filter(|s| s.used < s.capacity).collect(),
        shard_counts,
        now_ms: 1_700_000_000_000,
        ..Loaded::default()
    }
}

/// Room for plenty of databases in `de` and `ch`.
pub(super) fn roomy() -> Loaded {
    loaded(vec![
        shard("ch-shard-1", "ch", 100, 0),
        shard("de-shard-1", "de", 100, 0),
    ])
}

/// Plans `commerce` as read at offsets 0, 1, … of partition 0.
/// The hosts are asked for as the ingest asks for them ([`keys`]).
pub(super) async fn plan_of(
    ctx: &StepContext,
    mut loaded: Loaded,
    commerce: &[CommerceRecord],
) -> Plan {
    let records: Vec<Record> = (0..commerce.len())
        .map(|offset| Record {
            topic: "commerce.events.v1".into(),
            partition: 0,
            offset: offset as i64,
            key: None,
            payload: None,
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect();
    let batch: Vec<(&Record, CommerceRecord)> =
        records.iter().zip(commerce.iter().cloned()).collect();
    loaded.hosts_asked = keys(&batch, &ctx.config.site_domain).hosts;
    plan(ctx, loaded, &batch).await
}

/// What the store holds once `changes` are committed on top of `loaded`.
pub(super) fn committed(mut loaded: Loaded, changes: &Changes) -> Loaded {
    for event in &changes.events {
        let env = &event.record.envelope;
        loaded.recorded.insert(
            env.event_id,
            RecordedEvent {
                tenant_id: env.tenant_id.clone(),
                sequence: env.sequence,
                kind: event.record.event.kind().to_owned(),
            },
        );
    }
    loaded.records.extend(changes.records.clone());
    let effects = &changes.effects;
    for (host, owner, _) in &effects.sites {
        loaded.sites.insert(host.clone(), owner.clone());
    }
    for (owner, region, pinned) in &effects.placements {
        let region = Region::parse(region, "region").unwrap();
        loaded.placements.insert(owner.clone(), (region, *pinned));
    }
    for (owner, product, shard, database, _) in &effects.databases {
        loaded.databases.insert(
            (owner.clone(), product.clone()),
            PlacedDatabase {
                shard: shard.clone(),
                database: database.clone(),
            },
        );
    }
    for (owner, group) in &effects.groups {
        let groups = loaded.groups.entry(owner.clone()).or_default();
        groups.insert(group.clone());
    }
    for shard in &mut loaded.shards {
        shard.used += effects.shard_usage.get(&shard.shard_id).unwrap_or(&0);
    }
    loaded
}

/// The store after tenant `t1` (site `acme`) was created and got jira in
/// one batch.
pub(super) async fn provisioned(fx: &Fixture) -> Loaded {
    let before = roomy();
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, before.clone(), &batch).await;
    assert_eq!(plan.stop_at, None);
    committed(before, &plan.changes)
}

pub(super) fn parked(kind: &str) -> Parking {
    Parking {
        kind: kind.into(),
        reason: "parked by the test".into(),
        waiting: 0,
        last_waiting: 0,
    }
}

/// The stop index, asserting the reason contains `reason`.
pub(super) fn stopped_at(plan: &Plan, reason: &str) -> usize {
    let Some((index, why)) = &plan.stop_at else {
        panic!("the plan did not stop; expected a stop because {reason:?}");
    };
    assert!(why.contains(reason), "stop reason {why:?} lacks {reason:?}");
    *index
}
