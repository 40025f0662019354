//! The batch store's commit on both backends: everything at once, or —
//! when a row the batch counted on being new was written meanwhile —
//! nothing, with the reason.

#[path = "common/scratch.rs"]
mod scratch;

use scratch::ScratchDatabase;
use tenantry_sagas::BatchStore;
use tenantry_sagas::work::{Changes, Committed, EventSource, EventState, NewEvent};
use tenantry_schemas::*;
use tenantry_store::Store;
use uuid::Uuid;

async fn postgres() -> Store {
    let url = ScratchDatabase::create("st").await.keep();
    Store::connect(&url, 4).await.unwrap()
}

async fn sqlite(dir: &tempfile::TempDir) -> Store {
    let path = dir.path().join("store.db");
    Store::connect(&format!("sqlite://{}", path.display()), 1)
        .await
        .unwrap()
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// A batch recording `tenant`'s creation and taking site host `host`.
fn taking(tenant_id: &str, host: &str) -> Changes {
    let record = CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant(tenant_id),
            sequence: 1,
            occurred_at_ms: MIN_OCCURRED_AT_MS,
            source: "test".into(),
            correlation_id: None,
            causation_id: None,
        },
        event: CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "o@example.com".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    };
    let mut changes = Changes::default();
    changes.events.push(NewEvent {
        record,
        source: EventSource {
            topic: "t".into(),
            partition: 0,
            offset: 0,
        },
        state: EventState::Processed,
    });
    changes
        .effects
        .sites
        .push((host.into(), tenant(tenant_id), "acme".into()));
    changes
        .records
        .insert(tenant(tenant_id), tenantry_sagas::TenantRecord::default());
    changes
}

async fn count(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(store.pool()).await.unwrap();
    n
}

async fn a_taken_host_writes_nothing(store: Store) {
    let first = taking("t1", "acme.tenantry.test");
    assert_eq!(store.commit(&first).await.unwrap(), Committed::Done);
    let second = taking("t2", "acme.tenantry.test");
    let Committed::Conflict(reason) = store.commit(&second).await.unwrap() else {
        panic!("a second owner of one host committed");
    };
    assert!(reason.contains("site hosts"), "{reason}");
    // Nothing of the second batch: its event, its record.
    let events = "SELECT COUNT(*) FROM processed_events";
    assert_eq!(count(&store, events).await, 1);
    let states = "SELECT COUNT(*) FROM tenant_states WHERE tenant_id = 't2'";
    assert_eq!(count(&store, states).await, 0);
    // A batch whose event was recorded meanwhile conflicts too.
    let Committed::Conflict(reason) = store.commit(&first).await.unwrap() else {
        panic!("a recorded event was recorded again");
    };
    assert!(reason.contains("commerce events"), "{reason}");
}

#[tokio::test]
async fn on_postgres_a_taken_host_or_a_recorded_event_writes_nothing() {
    a_taken_host_writes_nothing(postgres().await).await;
}

#[tokio::test]
async fn on_sqlite_a_taken_host_or_a_recorded_event_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    a_taken_host_writes_nothing(sqlite(&dir).await).await;
}

/// A batch publishing `tenant`'s state as the next after sequence `last`.
fn publishing(tenant_id: &str, last: i64) -> Changes {
    let mut changes = Changes::default();
    changes
        .states
        .insert(tenant(tenant_id), TenantState::default());
    changes
        .provisioning_sequences
        .insert(tenant(tenant_id), last);
    changes
}

#[tokio::test]
async fn on_postgres_a_state_is_published_under_the_next_sequence_or_not_at_all() {
    let store = postgres().await;
    assert_eq!(
        store.commit(&publishing("t1", 0)).await.unwrap(),
        Committed::Done
    );
    assert_eq!(
        store.commit(&publishing("t1", 1)).await.unwrap(),
        Committed::Done
    );
    // Loaded before the second commit: sequence 1 was taken meanwhile.
    let Committed::Conflict(reason) = store.commit(&publishing("t1", 1)).await.unwrap() else {
        panic!("a taken provisioning sequence was published again");
    };
    assert!(reason.contains("provisioning sequences"), "{reason}");
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT CAST(provisioning_seq AS BIGINT) FROM tenant_sequences WHERE tenant_id = 't1'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows, vec![(2,)]);
    let outbox = "SELECT COUNT(*) FROM outbox WHERE tenant_id = 't1'";
    assert_eq!(count(&store, outbox).await, 2);
}
