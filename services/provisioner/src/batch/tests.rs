//! [`plan`] against hand-built [`Loaded`] views: what a batch records, which
//! sagas and effect rows it decides, the state it publishes, and the first
//! record it leaves to the per-record path ([`crate::ingest`]) and why.
//!
//! Keys are the real local adapter in a temporary directory; shards a full
//! region gets are added by an in-memory [`ShardProvisioner`] (the store's
//! needs a database); nothing else leaves memory.

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
struct FakeShards {
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
struct Fixture {
    ctx: StepContext,
    keys: Arc<LocalKeyService>,
    shards: Arc<FakeShards>,
    _dir: TempDir,
}

fn fixture() -> Fixture {
    fixture_with(FakeShards::new(100, 0))
}

fn fixture_with(shards: FakeShards) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(LocalKeyService::new(dir.path().join("keys")).unwrap());
    let shards = Arc::new(shards);
    Fixture {
        ctx: StepContext {
            site_domain: DOMAIN.into(),
            keys: keys.clone(),
            transactional_databases: true,
            shards: shards.clone(),
        },
        keys,
        shards,
        _dir: dir,
    }
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

fn commerce(tenant_id: &str, sequence: i64, event: CommerceEvent) -> CommerceRecord {
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
fn created(tenant_id: &str, site: &str) -> CommerceRecord {
    created_pinned(tenant_id, site, None)
}

fn created_pinned(tenant_id: &str, site: &str, pin: Option<Region>) -> CommerceRecord {
    commerce(
        tenant_id,
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(site).unwrap(),
            owner_email: format!("owner@{tenant_id}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: pin,
        }),
    )
}

/// `product_activated` of jira, standard, 10 seats.
fn activated(tenant_id: &str, sequence: i64, apps: &[&str]) -> CommerceRecord {
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

fn shard(shard_id: &str, region: &str, capacity: i64, used: i64) -> Shard {
    Shard {
        shard_id: shard_id.into(),
        region: region.into(),
        capacity,
        used,
    }
}

/// An empty store but for `shards`, loaded as the store does: the shards
/// with room, and every region's shard count.
fn loaded(shards: Vec<Shard>) -> Loaded {
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
fn roomy() -> Loaded {
    loaded(vec![
        shard("ch-shard-1", "ch", 100, 0),
        shard("de-shard-1", "de", 100, 0),
    ])
}

/// Plans `commerce` as read at offsets 0, 1, … of partition 0.
async fn plan_of(ctx: &StepContext, loaded: Loaded, commerce: &[CommerceRecord]) -> Plan {
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
    plan(ctx, loaded, &batch).await
}

/// What the store holds once `changes` are committed on top of `loaded`.
fn committed(mut loaded: Loaded, changes: &Changes) -> Loaded {
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
async fn provisioned(fx: &Fixture) -> Loaded {
    let before = roomy();
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, before.clone(), &batch).await;
    assert_eq!(plan.stop_at, None);
    committed(before, &plan.changes)
}

fn parked(kind: &str) -> Parking {
    Parking {
        kind: kind.into(),
        reason: "parked by the test".into(),
        waiting: 0,
        last_waiting: 0,
    }
}

/// The stop index, asserting the reason contains `reason`.
fn stopped_at(plan: &Plan, reason: &str) -> usize {
    let Some((index, why)) = &plan.stop_at else {
        panic!("the plan did not stop; expected a stop because {reason:?}");
    };
    assert!(why.contains(reason), "stop reason {why:?} lacks {reason:?}");
    *index
}

#[test]
fn keys_name_the_tenants_event_ids_and_asked_hosts() {
    let batch = [created("t1", "acme"), activated("t2", 2, &[])];
    let record = Record {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        key: None,
        payload: None,
        headers: Vec::new(),
        timestamp_ms: None,
    };
    let pairs: Vec<(&Record, CommerceRecord)> =
        batch.iter().map(|c| (&record, c.clone())).collect();
    let keys = keys(&pairs, DOMAIN);
    assert_eq!(
        keys.tenants.into_iter().collect::<Vec<_>>(),
        [tenant("t1"), tenant("t2")]
    );
    assert_eq!(keys.event_ids.len(), 2);
    assert!(keys.event_ids.contains(&batch[0].envelope.event_id));
    assert!(keys.event_ids.contains(&batch[1].envelope.event_id));
    assert_eq!(
        keys.hosts.into_iter().collect::<Vec<_>>(),
        ["acme.tenantry.test"]
    );
}

#[tokio::test]
async fn a_new_tenant_and_its_product_are_provisioned_in_one_batch() {
    let fx = fixture();
    let t1 = tenant("t1");
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    assert_eq!(plan.stop_at, None);
    let changes = &plan.changes;

    let recorded: Vec<_> = changes
        .events
        .iter()
        .map(|e| (e.record.envelope.event_id, e.source.offset, e.state))
        .collect();
    assert_eq!(
        recorded,
        [
            (batch[0].envelope.event_id, 0, EventState::Processed),
            (batch[1].envelope.event_id, 1, EventState::Processed),
        ]
    );
    assert!(changes.rejections.is_empty(), "{:?}", changes.rejections);

    let sagas: Vec<_> = changes.sagas.iter().map(|s| (s.kind, s.status)).collect();
    assert_eq!(
        sagas,
        [
            (SagaKind::ProvisionTenant, SagaStatus::Completed),
            (SagaKind::ProvisionProduct, SagaStatus::Completed),
        ]
    );
    assert_eq!(
        changes.sagas[1].trigger_event_id,
        batch[1].envelope.event_id
    );

    let effects = &changes.effects;
    let database = database_name("t1", "jira");
    assert_eq!(
        effects.accounts,
        [(t1.clone(), "owner@t1.test".into(), "DE".into(), None)]
    );
    assert_eq!(
        effects.licences,
        [(t1.clone(), jira(), "standard".into(), 10)]
    );
    assert_eq!(
        effects.sites,
        [("acme.tenantry.test".into(), t1.clone(), "acme".into())]
    );
    assert_eq!(effects.site_products, [(t1.clone(), jira())]);
    assert_eq!(effects.placements, [(t1.clone(), "de".into(), false)]);
    assert_eq!(effects.create_databases, std::slice::from_ref(&database));
    assert_eq!(
        effects.shard_usage,
        BTreeMap::from([("de-shard-1".to_owned(), 1)])
    );
    assert_eq!(effects.databases.len(), 1, "{:?}", effects.databases);
    let (owner, product, shard, name, sealed) = &effects.databases[0];
    assert_eq!(
        (owner, product, shard.as_str(), name),
        (&t1, &jira(), "de-shard-1", &database)
    );
    assert!(!sealed.is_empty());
    let sealed = hex::decode(sealed).expect("sealed credentials are hex");
    let secret = fx.keys.open(&t1, &sealed).await.unwrap();
    let secret = String::from_utf8(secret).unwrap();
    assert!(
        secret.contains(&format!("\"database\":\"{database}\"")),
        "{secret}"
    );
    assert!(effects.installed_apps.is_empty());

    assert_eq!(changes.records.len(), 1);
    assert_eq!(changes.records[&t1].ledger.commerce_sequence, 2);
    assert_eq!(changes.states.len(), 1, "exactly one published state");
    let state = &changes.states[&t1];
    assert_eq!(state.status, TenantStatus::Active);
    assert_eq!(state.commerce_sequence, 2);
    assert_eq!(state.site_host.as_deref(), Some("acme.tenantry.test"));
    assert_eq!(state.region, Some(Region::De));
    let product = &state.products[&jira()];
    assert_eq!(product.state, ProductState::Active);
    assert_eq!(product.shard.as_deref(), Some("de-shard-1"));
    assert_eq!(product.database.as_deref(), Some(database.as_str()));
}

#[tokio::test]
async fn a_redelivered_batch_changes_nothing() {
    let fx = fixture();
    let before = roomy();
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let first = plan_of(&fx.ctx, before.clone(), &batch).await;
    assert_eq!(first.stop_at, None);
    let after = committed(before, &first.changes);
    assert_eq!(after.recorded.len(), 2);

    let again = plan_of(&fx.ctx, after, &batch).await;
    assert_eq!(again.stop_at, None);
    assert_eq!(again.changes, Changes::default());
}

#[tokio::test]
async fn a_record_repeated_within_a_batch_is_recorded_once() {
    let fx = fixture();
    let event = created("t1", "acme");
    let batch = [event.clone(), event];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    assert_eq!(plan.stop_at, None);
    assert_eq!(plan.changes.events.len(), 1);
    assert_eq!(plan.changes.sagas.len(), 1);
    assert_eq!(plan.changes.effects.sites.len(), 1);
}

#[tokio::test]
async fn a_site_taken_earlier_in_the_batch_stops_the_second_tenant() {
    let fx = fixture();
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let batch = [created("t1", "acme"), created("t2", "acme")];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    let index = stopped_at(&plan, "acme.tenantry.test");
    assert_eq!(index, 1);
    let reason = &plan.stop_at.as_ref().unwrap().1;
    assert!(reason.contains("taken by tenant t1"), "{reason}");

    // What t1's record decided is in the plan, and no site went to t2.
    let changes = &plan.changes;
    assert_eq!(
        changes.effects.sites,
        [("acme.tenantry.test".into(), t1.clone(), "acme".into())]
    );
    let t1_sagas: Vec<_> = changes
        .sagas
        .iter()
        .filter(|s| s.tenant_id == t1)
        .map(|s| (s.kind, s.status))
        .collect();
    assert_eq!(
        t1_sagas,
        [(SagaKind::ProvisionTenant, SagaStatus::Completed)]
    );
    assert!(changes.sagas.iter().all(|s| s.tenant_id != t2));
    assert!(changes.effects.placements.iter().all(|p| p.0 != t2));

    // The records before the stop, decided again as the ingest does, are
    // t1's alone and complete.
    let prefix = plan_of(&fx.ctx, roomy(), &batch[..index]).await;
    assert_eq!(prefix.stop_at, None);
    assert_eq!(
        prefix.changes.effects.sites,
        [("acme.tenantry.test".into(), t1.clone(), "acme".into())]
    );
    assert_eq!(prefix.changes.events.len(), 1);
    assert_eq!(prefix.changes.records.keys().collect::<Vec<_>>(), [&t1]);
    assert_eq!(prefix.changes.states[&t1].status, TenantStatus::Active);
}

#[tokio::test]
async fn a_site_another_tenant_holds_in_the_store_stops_the_batch() {
    let fx = fixture();
    let mut before = roomy();
    before
        .sites
        .insert("acme.tenantry.test".into(), tenant("t9"));
    let plan = plan_of(&fx.ctx, before, &[created("t1", "acme")]).await;
    assert_eq!(stopped_at(&plan, "taken by tenant t9"), 0);
}

#[tokio::test]
async fn a_stale_event_is_recorded_stale_and_changes_nothing_else() {
    let fx = fixture();
    let before = provisioned(&fx).await;
    // Sequence 2 again under a new event id: not newer than the cursor.
    let stale = activated("t1", 2, &[]);
    let plan = plan_of(&fx.ctx, before, std::slice::from_ref(&stale)).await;
    assert_eq!(plan.stop_at, None);
    let changes = &plan.changes;
    assert_eq!(changes.events.len(), 1);
    assert_eq!(
        changes.events[0].record.envelope.event_id,
        stale.envelope.event_id
    );
    assert_eq!(changes.events[0].state, EventState::Stale);
    assert!(changes.rejections.is_empty());
    assert!(changes.sagas.is_empty());
    assert!(changes.records.is_empty());
    assert!(changes.states.is_empty());
    assert_eq!(changes.effects, EffectRows::default());
}

#[tokio::test]
async fn an_event_beyond_the_next_sequence_stops_the_batch() {
    let fx = fixture();
    let before = provisioned(&fx).await;
    // t1's cursor is 2; 4 leaves a gap at 3.
    let batch = [created("t2", "beta"), activated("t1", 4, &[])];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(stopped_at(&plan, ""), 1);
    assert!(
        plan.changes
            .events
            .iter()
            .all(|e| e.record.envelope.event_id != batch[1].envelope.event_id),
        "the waiting event is not recorded in the batch"
    );
}

#[tokio::test]
async fn an_event_of_a_parked_tenant_stops_the_batch() {
    let fx = fixture();
    for kind in ["saga_failed", "sequence_gap"] {
        let mut before = provisioned(&fx).await;
        let record = before.records.get_mut(&tenant("t1")).unwrap();
        record.ledger.parked = Some(parked(kind));
        let plan = plan_of(&fx.ctx, before, &[activated("t1", 3, &[])]).await;
        assert_eq!(stopped_at(&plan, ""), 0, "parked at {kind}");
    }
}

#[tokio::test]
async fn a_redelivered_event_of_a_parked_tenant_stops_the_batch() {
    let fx = fixture();
    let before = roomy();
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let first = plan_of(&fx.ctx, before.clone(), &batch).await;
    let mut after = committed(before, &first.changes);
    let record = after.records.get_mut(&tenant("t1")).unwrap();
    record.ledger.parked = Some(parked("saga_failed"));
    let plan = plan_of(&fx.ctx, after, &batch[1..]).await;
    assert_eq!(stopped_at(&plan, "parked"), 0);
}

#[tokio::test]
async fn a_tenant_with_waiting_events_stops_the_batch() {
    let fx = fixture();
    let mut before = provisioned(&fx).await;
    before.waiting.insert(tenant("t1"));
    let batch = [created("t2", "beta"), activated("t1", 3, &[])];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(stopped_at(&plan, "waiting"), 1);
}

#[tokio::test]
async fn an_event_id_recorded_for_another_event_stops_the_batch() {
    let fx = fixture();
    let t9 = tenant("t9");
    let event = created("t1", "acme");
    let other_events = [
        (t9.clone(), 1, "tenant_created"),
        (tenant("t1"), 2, "tenant_created"),
        (tenant("t1"), 1, "product_activated"),
    ];
    for (owner, sequence, kind) in other_events {
        let mut before = roomy();
        before.recorded.insert(
            event.envelope.event_id,
            RecordedEvent {
                tenant_id: owner.clone(),
                sequence,
                kind: kind.into(),
            },
        );
        let plan = plan_of(&fx.ctx, before, std::slice::from_ref(&event)).await;
        assert_eq!(
            stopped_at(&plan, "another event"),
            0,
            "{owner} {sequence} {kind}"
        );
        assert!(plan.changes.events.is_empty());
    }

    // The same id on two events of one batch: the second stops.
    let mut reused = created("t2", "beta");
    reused.envelope.event_id = event.envelope.event_id;
    let plan = plan_of(&fx.ctx, roomy(), &[event, reused]).await;
    assert_eq!(stopped_at(&plan, "another event"), 1);
}

#[tokio::test]
async fn a_region_without_room_gets_its_next_shard_and_the_database_lands_there() {
    // (case, shards loaded, the shard number asked for)
    let cases = [
        ("no shard at all", vec![], 1),
        (
            "only another region",
            vec![shard("us-shard-1", "us", 10, 0)],
            1,
        ),
        ("full", vec![shard("de-shard-1", "de", 2, 2)], 2),
    ];
    for (case, shards, number) in cases {
        let fx = fixture();
        let batch = [created("t1", "acme"), activated("t1", 2, &[])];
        let plan = plan_of(&fx.ctx, loaded(shards), &batch).await;
        assert_eq!(plan.stop_at, None, "{case}");
        assert_eq!(fx.shards.asked(), [("de".to_owned(), number)], "{case}");
        let added = format!("de-shard-{number}");
        let effects = &plan.changes.effects;
        let placed: Vec<_> = effects.databases.iter().map(|d| d.2.as_str()).collect();
        assert_eq!(placed, [added.as_str()], "{case}");
        assert_eq!(
            effects.shard_usage,
            BTreeMap::from([(added.clone(), 1)]),
            "{case}"
        );
        let state = &plan.changes.states[&tenant("t1")];
        assert_eq!(
            state.products[&jira()].shard.as_deref(),
            Some(added.as_str()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_shard_that_cannot_be_added_or_filled_up_meanwhile_stops_the_batch() {
    let full = FakeShards::new(1, 1);
    let unavailable = FakeShards {
        unavailable: true,
        ..FakeShards::new(1, 0)
    };
    let cases = [
        ("filled up meanwhile", full, "filled up meanwhile"),
        ("store unavailable", unavailable, "the store is unavailable"),
    ];
    for (case, shards, reason) in cases {
        let fx = fixture_with(shards);
        let batch = [created("t1", "acme"), activated("t1", 2, &[])];
        let plan = plan_of(&fx.ctx, loaded(vec![]), &batch).await;
        assert_eq!(stopped_at(&plan, reason), 1, "{case}");
    }
}

#[tokio::test]
async fn the_last_room_on_a_shard_goes_to_the_first_tenant() {
    let fx = fixture();
    let before = loaded(vec![shard("de-shard-1", "de", 1, 0)]);
    let batch = [
        created("t1", "acme"),
        activated("t1", 2, &[]),
        created("t2", "beta"),
        activated("t2", 2, &[]),
    ];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(plan.stop_at, None);
    let effects = &plan.changes.effects;
    let placed: Vec<_> = effects
        .databases
        .iter()
        .map(|d| (d.0.as_str(), d.2.as_str()))
        .collect();
    assert_eq!(placed, [("t1", "de-shard-1"), ("t2", "de-shard-2")]);
    assert_eq!(fx.shards.asked(), [("de".to_owned(), 2)]);
    assert_eq!(
        effects.shard_usage,
        BTreeMap::from([("de-shard-1".to_owned(), 1), ("de-shard-2".to_owned(), 1)])
    );
}

#[tokio::test]
async fn a_shard_added_for_one_tenant_takes_the_next_one_while_it_has_room() {
    let fx = fixture_with(FakeShards::new(2, 0));
    let batch = [
        created("t1", "acme"),
        activated("t1", 2, &[]),
        created("t2", "beta"),
        activated("t2", 2, &[]),
        created("t3", "gamma"),
        activated("t3", 2, &[]),
    ];
    let plan = plan_of(&fx.ctx, loaded(vec![]), &batch).await;
    assert_eq!(plan.stop_at, None);
    let placed: Vec<_> = plan
        .changes
        .effects
        .databases
        .iter()
        .map(|d| (d.0.as_str(), d.2.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            ("t1", "de-shard-1"),
            ("t2", "de-shard-1"),
            ("t3", "de-shard-2")
        ]
    );
    assert_eq!(
        fx.shards.asked(),
        [("de".to_owned(), 1), ("de".to_owned(), 2)]
    );
}

#[tokio::test]
async fn a_product_with_apps_stops_the_batch() {
    let fx = fixture();
    let batch = [created("t1", "acme"), activated("t1", 2, &["jira-slack"])];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    let index = stopped_at(&plan, "step install_apps of a provision_product saga");
    assert_eq!(index, 1);
    assert!(plan.changes.effects.installed_apps.is_empty());
}

#[tokio::test]
async fn without_transactional_databases_a_product_stops_the_batch() {
    let mut fx = fixture();
    fx.ctx.transactional_databases = false;
    // The tenant's saga has no database to create and still runs here.
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    let index = stopped_at(&plan, "step provision_database of a provision_product saga");
    assert_eq!(index, 1);
    assert!(plan.changes.effects.create_databases.is_empty());
}

#[tokio::test]
async fn a_pinned_tenant_is_placed_in_its_pin_and_its_database_lands_there() {
    let fx = fixture();
    let t1 = tenant("t1");
    // Germany's nearest region is `de`; the pin says `ch`.
    let batch = [
        created_pinned("t1", "acme", Some(Region::Ch)),
        activated("t1", 2, &[]),
    ];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    assert_eq!(plan.stop_at, None);
    let effects = &plan.changes.effects;
    assert_eq!(effects.placements, [(t1.clone(), "ch".into(), true)]);
    assert_eq!(effects.accounts[0].3.as_deref(), Some("ch"));
    let shards: Vec<_> = effects.databases.iter().map(|d| d.2.as_str()).collect();
    assert_eq!(shards, ["ch-shard-1"]);
    assert_eq!(
        effects.shard_usage,
        BTreeMap::from([("ch-shard-1".to_owned(), 1)])
    );
    let state = &plan.changes.states[&t1];
    assert_eq!(
        (state.region, state.region_pinned),
        (Some(Region::Ch), true)
    );
    assert_eq!(state.products[&jira()].shard.as_deref(), Some("ch-shard-1"));
}

#[tokio::test]
async fn a_guard_rejection_is_recorded_and_plans_no_saga() {
    let fx = fixture();
    let t1 = tenant("t1");
    let event = activated("t1", 1, &[]);
    let plan = plan_of(&fx.ctx, roomy(), std::slice::from_ref(&event)).await;
    assert_eq!(plan.stop_at, None);
    let changes = &plan.changes;
    assert_eq!(changes.events.len(), 1);
    assert_eq!(changes.events[0].state, EventState::Processed);
    assert_eq!(changes.rejections.len(), 1);
    let (event_id, owner, reason) = &changes.rejections[0];
    assert_eq!((event_id, owner), (&event.envelope.event_id, &t1));
    assert!(reason.contains("unknown"), "{reason}");
    assert!(changes.sagas.is_empty());
    assert_eq!(changes.effects, EffectRows::default());

    let ledger = &changes.records[&t1].ledger;
    assert_eq!(ledger.commerce_sequence, 1);
    assert_eq!(ledger.rejections.len(), 1);
    assert_eq!(ledger.rejections[0].sequence, 1);
    assert_eq!(ledger.rejections[0].kind, "product_activated");
    assert_eq!(&ledger.rejections[0].reason, reason);
    let state = &changes.states[&t1];
    assert_eq!(state.status, TenantStatus::Pending);
    assert_eq!(state.rejections, ledger.rejections);
}
