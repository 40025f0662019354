//! Store behaviour on the real PostgreSQL of the local stack
//! (`TENANTRY_DATABASE_URL`'s server); each test gets a fresh database.

#[path = "common/scratch.rs"]
mod scratch;

use scratch::ScratchDatabase;
use tenantry_sagas::saga::{SagaSpec, TenantSpec};
use tenantry_sagas::{SagaKind, SagaState};
use tenantry_schemas::*;
use tenantry_store::{Backend, Store, StoreError, outbox, sagas};
use uuid::Uuid;

async fn fresh_store() -> Store {
    let url = ScratchDatabase::create("st").await.keep();
    Store::connect(&url, 4).await.unwrap()
}

fn saga(tenant: &str) -> SagaState {
    let envelope = Envelope {
        event_id: Uuid::new_v4(),
        tenant_id: TenantId::parse(tenant).unwrap(),
        sequence: 1,
        occurred_at_ms: MIN_OCCURRED_AT_MS,
        source: "test".into(),
        correlation_id: None,
        causation_id: None,
    };
    let spec = SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse(tenant).unwrap(),
            owner_email: "o@x.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        },
        product: None,
        products: vec![],
    };
    SagaState::start(SagaKind::ProvisionTenant, &envelope, spec)
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// A tenant state told apart by its commerce sequence.
fn state(commerce_sequence: i64) -> TenantState {
    let mut state = tenantry_sagas::TenantContext::empty(tenant("x")).state;
    state.commerce_sequence = commerce_sequence;
    state
}

fn commerce_sequence(row: &outbox::OutboxRow) -> i64 {
    match &row.record.event {
        ProvisioningEvent::TenantState(state) => state.commerce_sequence,
        other => panic!("{other:?}"),
    }
}

/// Case S1: two writers holding the same saga version — a late timeout and
/// a stale resume — race; exactly one compare-and-set wins.
#[tokio::test]
async fn s1_only_one_writer_of_a_saga_version_wins() {
    let store = fresh_store().await;
    let original = saga("t9");
    let mut tx = store.pool().begin().await.unwrap();
    assert!(sagas::insert(&mut tx, &original).await.unwrap());
    tx.commit().await.unwrap();

    let mut first = original.clone();
    first.version += 1;
    let mut second = original.clone();
    second.version += 1;
    second.failure = Some("stale resume".into());

    let mut tx = store.pool().begin().await.unwrap();
    sagas::compare_and_set(&mut tx, &first, original.version)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    let lost = sagas::compare_and_set(&mut tx, &second, original.version).await;
    assert!(matches!(lost, Err(StoreError::Stale(_))), "{lost:?}");
    tx.rollback().await.unwrap();
    let stored = sagas::load(store.pool(), original.saga_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, first, "the stale writer changed nothing");
}

/// Case D6: the relay claims the rows that are there, not by a "last id"
/// cursor. Row 101 (transaction A, still open) commits after row 102 was
/// published and is still published; a row published but whose claim did not
/// commit (crash) is claimed again with the same event id and key.
#[tokio::test]
async fn d6_outbox_rows_are_neither_skipped_nor_lost() {
    let store = fresh_store().await;
    assert_eq!(store.backend(), Backend::Postgres);
    // A inserts and stays open; B inserts and commits.
    let mut a = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut a, &tenant("t6"), state(1))
        .await
        .unwrap();
    let mut b = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut b, &tenant("t7"), state(1))
        .await
        .unwrap();
    b.commit().await.unwrap();

    // The relay publishes what it can see: B's row only.
    let mut relay = store.pool().begin().await.unwrap();
    let rows = outbox::claim(&mut relay, store.backend(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.envelope.tenant_id.as_str(), "t7");
    outbox::remove_published(&mut relay, store.backend(), &rows)
        .await
        .unwrap();
    relay.commit().await.unwrap();

    // A commits later; its lower id is still claimed.
    a.commit().await.unwrap();
    let mut relay = store.pool().begin().await.unwrap();
    let rows = outbox::claim(&mut relay, store.backend(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.envelope.tenant_id.as_str(), "t6");
    let first_attempt = rows[0].record.clone();
    // Crash between publish and mark: the transaction never commits (the
    // server rolls it back when the connection dies; explicit here so the
    // row lock is gone before the next claim).
    relay.rollback().await.unwrap();

    let mut relay = store.pool().begin().await.unwrap();
    let rows = outbox::claim(&mut relay, store.backend(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the unmarked row is sent again");
    assert_eq!(rows[0].record, first_attempt, "same event id, key and body");
    outbox::remove_published(&mut relay, store.backend(), &rows)
        .await
        .unwrap();
    relay.commit().await.unwrap();
    assert_eq!(outbox::pending(store.pool()).await.unwrap(), 0);
}

/// Records held back in one transaction ([`outbox::Pending`]): one per
/// tenant — a newer state pushed for a tenant replaces the older, since each
/// record is the whole state — with the tenant's next provisioning sequence,
/// continuing from what earlier transactions allocated.
#[tokio::test]
async fn held_back_records_are_one_per_tenant_with_the_next_sequence() {
    let store = fresh_store().await;
    // An earlier transaction allocated sequence 1 of `ta`.
    let mut tx = store.pool().begin().await.unwrap();
    outbox::enqueue(&mut tx, &tenant("ta"), state(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut pending = outbox::Pending::default();
    pending.push_state(&tenant("ta"), state(2));
    pending.push_state(&tenant("tb"), state(1));
    pending.push_state(&tenant("ta"), state(3));
    assert_eq!(pending.len(), 2);
    let mut tx = store.pool().begin().await.unwrap();
    pending.write(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert!(pending.is_empty());

    let mut relay = store.pool().begin().await.unwrap();
    let rows = outbox::claim(&mut relay, store.backend(), 100)
        .await
        .unwrap();
    let seen: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.record.envelope.tenant_id.to_string(),
                r.record.envelope.sequence,
                commerce_sequence(r),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("ta".to_owned(), 1, 1),
            ("ta".to_owned(), 2, 3),
            ("tb".to_owned(), 1, 1),
        ]
    );
    let ids: std::collections::BTreeSet<_> =
        rows.iter().map(|r| r.record.envelope.event_id).collect();
    assert_eq!(ids.len(), rows.len(), "event ids are distinct");
}

/// Two relays at once do not claim the same row (`FOR UPDATE SKIP LOCKED`).
#[tokio::test]
async fn concurrent_relays_claim_disjoint_rows() {
    let store = fresh_store().await;
    for i in 0..6 {
        let mut tx = store.pool().begin().await.unwrap();
        outbox::enqueue(&mut tx, &tenant(&format!("t{i}")), state(1))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut first = store.pool().begin().await.unwrap();
    let mut second = store.pool().begin().await.unwrap();
    let a = outbox::claim(&mut first, store.backend(), 3).await.unwrap();
    let b = outbox::claim(&mut second, store.backend(), 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(b.len(), 3);
    let ids_a: Vec<i64> = a.iter().map(|r| r.id).collect();
    assert!(b.iter().all(|r| !ids_a.contains(&r.id)));
}

/// The relay's claim takes at most its limit whatever plan PostgreSQL picks.
/// `IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` planned as a nested-loop
/// semi join re-runs the locking subquery per outbox row, and each run skips
/// the rows the statement already deleted: it deleted the whole outbox (seen
/// in `tenantry bench`: 10,458 rows for a limit of 256). The planner settings
/// below force that plan; the claim must still take 256 of 3,000 rows.
#[tokio::test]
async fn a_claim_takes_at_most_its_limit() {
    let store = fresh_store().await;
    let mut pending = outbox::Pending::default();
    for i in 0..3000 {
        pending.push_state(&tenant(&format!("t{i}")), state(1));
    }
    let mut tx = store.pool().begin().await.unwrap();
    pending.write(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    for setting in [
        "enable_hashagg",
        "enable_hashjoin",
        "enable_mergejoin",
        "enable_material",
        "enable_sort",
    ] {
        sqlx::query(&format!("SET LOCAL {setting} = off"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let claimed = outbox::claim(&mut tx, store.backend(), 256).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 256);
    assert_eq!(outbox::pending(store.pool()).await.unwrap(), 3000 - 256);
    let ids: Vec<i64> = claimed.iter().map(|row| row.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "lowest ids, in order");
}

/// A product database whose tables use what only its schema defines (an
/// enum, a `serial` sequence, an identity column) is refused for a copy or
/// a snapshot, naming each column, and nothing is created; a plain table is
/// copied.
#[tokio::test]
async fn a_database_using_its_own_types_or_sequences_is_refused_not_copied_partly() {
    use tenantry_store::ProductDatabases;
    use tenantry_store::product_db::uncopyable_columns;
    let store = fresh_store().await;
    let databases = ProductDatabases::PostgresSchemas(store.pool().clone());
    databases.create("t_a__jira").await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE t_a__jira.pages (id bigint PRIMARY KEY, title text); \
         INSERT INTO t_a__jira.pages VALUES (1, 'one');",
    )
    .execute(store.pool())
    .await
    .unwrap();
    assert!(
        uncopyable_columns(store.pool(), "t_a__jira")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        databases
            .copy_into("t_a__jira", "t_a__jira__ch")
            .await
            .unwrap(),
        1
    );

    sqlx::raw_sql(
        "CREATE TYPE t_a__jira.prio AS ENUM ('low', 'high'); \
         CREATE TABLE t_a__jira.issues (id serial PRIMARY KEY, prio t_a__jira.prio); \
         CREATE TABLE t_a__jira.events (id bigint GENERATED ALWAYS AS IDENTITY, at bigint);",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let columns = uncopyable_columns(store.pool(), "t_a__jira").await.unwrap();
    assert_eq!(
        columns,
        vec![
            "events.id (identity column)",
            "issues.id (default from a sequence)",
            "issues.prio (type prio of the schema)",
        ]
    );
    for refused in [
        databases.copy_into("t_a__jira", "t_a__jira__de").await,
        databases
            .snapshot("t_a__jira", "snap_t_a__jira")
            .await
            .map(|()| 0),
    ] {
        match refused {
            Err(StoreError::Unsupported(reason)) => {
                assert!(
                    reason.contains("issues.prio (type prio of the schema)"),
                    "{reason}"
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert!(!databases.exists("t_a__jira__de").await.unwrap());
    assert!(!databases.exists("snap_t_a__jira").await.unwrap());
}
