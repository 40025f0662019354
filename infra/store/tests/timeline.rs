//! The operators' timeline rows ([`tenantry_store::timeline`]) on PostgreSQL
//! and SQLite: every saga version a unit of work writes is recorded once,
//! with the steps done and compensated at it; a lost compare-and-set records
//! nothing; events come back with their rejection.

#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/stores.rs"]
mod stores;

use tenantry_sagas::saga::{SagaSpec, TenantSpec};
use tenantry_sagas::work::{EventSource, EventState, NewEvent};
use tenantry_sagas::{ProvisionerStore, SagaAction, SagaKind, SagaState, StepOutput, UnitOfWork};
use tenantry_schemas::{
    CommerceEvent, CommerceRecord, CountryCode, Envelope, MIN_OCCURRED_AT_MS, SiteName,
    TenantCreated, TenantId,
};
use tenantry_store::{Store, timeline};
use uuid::Uuid;

fn created(tenant: &str) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: TenantId::parse(tenant).unwrap(),
            sequence: 1,
            occurred_at_ms: MIN_OCCURRED_AT_MS,
            source: "timeline".into(),
            correlation_id: None,
            causation_id: None,
        },
        event: CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(tenant).unwrap(),
            owner_email: format!("owner@{tenant}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    }
}

fn saga(record: &CommerceRecord) -> SagaState {
    let CommerceEvent::TenantCreated(created) = &record.event else {
        unreachable!()
    };
    let spec = SagaSpec {
        tenant: TenantSpec {
            site: created.site.clone(),
            owner_email: created.owner_email.clone(),
            country: created.country.clone(),
            residency_pin: None,
            kms_key: None,
        },
        product: None,
        products: vec![],
    };
    SagaState::start(SagaKind::ProvisionTenant, &record.envelope, spec)
}

fn advanced(saga: &SagaState) -> SagaState {
    let mut next = saga.clone();
    let SagaAction::Run(step) = next.next_action() else {
        panic!("nothing to run: {next:?}");
    };
    next.step_succeeded(step, StepOutput::new()).unwrap();
    next
}

async fn versions_and_events_are_read_back(store: &Store) {
    let tenant = TenantId::parse("t1").unwrap();
    let record = created("t1");
    let started = saga(&record);
    let mut work = store.begin().await.unwrap();
    work.append(&NewEvent {
        record: record.clone(),
        source: EventSource {
            topic: "commerce.lifecycle.v1".into(),
            partition: 0,
            offset: 0,
        },
        state: EventState::Processed,
    })
    .await
    .unwrap();
    work.reject(record.envelope.event_id, &tenant, "a guard said no")
        .await
        .unwrap();
    assert!(work.insert_saga(&started).await.unwrap());
    // A redelivered insert records no second version 1.
    assert!(!work.insert_saga(&started).await.unwrap());
    work.commit().await.unwrap();
    let one = advanced(&started);
    let two = advanced(&one);
    for (next, expected) in [(&one, started.version), (&two, one.version)] {
        let mut work = store.begin().await.unwrap();
        work.compare_and_set(next, expected).await.unwrap();
        work.commit().await.unwrap();
    }
    // A late writer of an old version loses and records nothing.
    let mut work = store.begin().await.unwrap();
    assert!(
        work.compare_and_set(&advanced(&one), one.version)
            .await
            .is_err()
    );
    drop(work);

    let rows = timeline::transitions(store.pool(), &tenant).await.unwrap();
    let got: Vec<(i64, &str, &str)> = rows
        .iter()
        .map(|r| (r.version, r.status.as_str(), r.done.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "running", ""),
            (2, "running", "record_licence"),
            (3, "running", "record_licence,create_site"),
        ]
    );
    assert!(rows.windows(2).all(|w| w[0].written_at <= w[1].written_at));
    let sagas = timeline::sagas(store.pool(), &tenant).await.unwrap();
    assert_eq!(sagas.len(), 1);
    assert_eq!(sagas[0].saga, two);
    assert!(sagas[0].created_at <= sagas[0].updated_at);
    let events = timeline::events(store.pool(), &tenant).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state, "processed");
    assert_eq!(events[0].rejection.as_deref(), Some("a guard said no"));
    assert!(events[0].rejected_at.is_some());
    let other = TenantId::parse("t2").unwrap();
    assert!(
        timeline::transitions(store.pool(), &other)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn postgres_saga_versions_and_events_are_read_back() {
    let db = stores::Postgres::new("timeline").await;
    versions_and_events_are_read_back(&db.store).await;
}

#[tokio::test]
async fn sqlite_saga_versions_and_events_are_read_back() {
    let db = stores::Sqlite::new().await;
    versions_and_events_are_read_back(&db.store).await;
}
