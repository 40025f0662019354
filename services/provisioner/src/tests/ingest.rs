//! [`crate::ingest::Ingest::handle_batch`] and the operator's actions on a
//! memory store with fake steps, a fake dead-letter queue and paused time:
//! how a worker's records split between the batch path and the per-record
//! path, that each is reported finished once with the outcome it should
//! have, and what a shutdown in the middle of a saga leaves behind.

use super::support::{
    Behaviour, Call, FakeDeadLetters, FakeEffects, TOPIC, activated, created, ingest,
    licence_updated, record, tenant,
};
use crate::ingest::ShuttingDown;
use crate::operator;
use std::collections::BTreeMap;
use std::sync::Arc;
use tenantry_kafka::Record;
use tenantry_sagas::admission::{OperatorAction, ParkKind};
use tenantry_sagas::work::EventState;
use tenantry_sagas::{ProvisionerStore, SagaKind, SagaStatus, Step, StepError};
use tenantry_schemas::{ProductState, TenantId, TenantStatus};
use tenantry_store::memory::MemoryStore;
use tokio_util::sync::CancellationToken;

use EventState::{Processed, Waiting};

/// Hands `records` to the ingest; returns how often each offset was
/// reported finished.
async fn handle(
    ingest: &crate::ingest::Ingest<MemoryStore, FakeEffects, FakeDeadLetters>,
    records: &[Record],
    shutdown: &CancellationToken,
) -> (Result<(), ShuttingDown>, BTreeMap<i64, usize>) {
    let mut finished = BTreeMap::new();
    let result = ingest
        .handle_batch(records, shutdown, |record| {
            *finished.entry(record.offset).or_default() += 1;
        })
        .await;
    (result, finished)
}

fn stream(store: &MemoryStore, id: &str) -> Vec<(i64, EventState)> {
    store
        .stream(&tenant(id))
        .into_iter()
        .map(|(sequence, _, state)| (sequence, state))
        .collect()
}

fn status(store: &MemoryStore, id: &str) -> TenantStatus {
    store.tenant_record(&tenant(id)).unwrap().state().status
}

/// The seven steps of a product saga, executed in order.
fn executed() -> Vec<Call> {
    SagaKind::ProvisionProduct
        .steps()
        .iter()
        .map(|step| Call::Execute(*step))
        .collect()
}

/// A batch of nine records: the batch path takes what it can; a product
/// with an app (step 7 calls out), whose saga fails, is handled on its own
/// and parks its tenant; the tenant's next event then waits, on its own
/// too; a tombstone and a record keyed by another tenant are
/// dead-lettered; a redelivery changes nothing. Every record is reported
/// finished exactly once.
#[tokio::test(start_paused = true)]
async fn a_batch_splits_at_what_it_cannot_handle_and_finishes_every_record_once() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let dead_letters = FakeDeadLetters::default();
    let keys = tempfile::tempdir().unwrap();
    let ingest = ingest(&store, &effects, &dead_letters, &keys);
    let refused = StepError::permanent("the app refused the install");
    effects.execute(Step::InstallApps, Behaviour::Fail(refused), 1);

    let t1_created = created("t1");
    let mut records = vec![
        record(0, &t1_created).await,
        record(1, &activated("t1", &[])).await,
        Record {
            topic: TOPIC.into(),
            partition: 0,
            offset: 2,
            key: Some(b"t9".to_vec()),
            payload: None,
            headers: Vec::new(),
            timestamp_ms: None,
        },
        record(3, &created("t2")).await,
        record(4, &activated("t2", &["jira-slack"])).await,
        record(5, &licence_updated("t2", 3)).await,
        record(6, &created("t3")).await,
        record(7, &t1_created).await,
    ];
    let mut stray = record(8, &created("t4")).await;
    stray.key = Some(b"t5".to_vec());
    records.push(stray);

    let (result, finished) = handle(&ingest, &records, &CancellationToken::new()).await;

    assert!(result.is_ok());
    assert_eq!(finished, (0..9).map(|offset| (offset, 1)).collect());
    let dead: Vec<i64> = dead_letters.published().iter().map(|(o, _)| *o).collect();
    assert_eq!(dead, vec![2, 8]);
    let reasons = dead_letters.published();
    assert!(reasons[0].1.contains("tombstone"), "{}", reasons[0].1);
    assert!(reasons[1].1.starts_with("key:"), "{}", reasons[1].1);

    assert_eq!(stream(&store, "t1"), vec![(1, Processed), (2, Processed)]);
    assert_eq!(status(&store, "t1"), TenantStatus::Active);
    let t1 = store.tenant_record(&tenant("t1")).unwrap().state();
    assert_eq!(
        t1.products[&super::support::jira()].state,
        ProductState::Active
    );
    assert_eq!(status(&store, "t3"), TenantStatus::Active);
    assert_eq!(
        stream(&store, "t2"),
        vec![(1, Processed), (2, Processed), (3, Waiting)]
    );
    let parked = store.parked(&tenant("t2")).await.unwrap().expect("parked");
    assert_eq!(parked.kind, ParkKind::SagaFailed);
    let t2 = store.tenant_record(&tenant("t2")).unwrap().state();
    assert_eq!(t2.parked.map(|p| p.waiting), Some(1));
    assert!(store.tenant_record(&tenant("t4")).is_none());

    // Only t2's product saga left the batch: its seven steps, the seventh
    // failing, then the six before it compensated in reverse.
    let mut expected = executed();
    expected.extend(executed()[..6].iter().rev().map(|call| match call {
        Call::Execute(step) => Call::Compensate(*step),
        other => *other,
    }));
    assert_eq!(effects.calls(), expected);
    let saga = store.saga(parked.saga_id.unwrap()).await.unwrap().unwrap();
    assert_eq!(saga.status, SagaStatus::Failed);
}

/// Shutdown while a saga of a record handled on its own is between
/// attempts: the record is not reported finished, the saga stays in the
/// store as it got, and resuming it runs only the steps it had not done;
/// the record's redelivery then changes nothing.
#[tokio::test(start_paused = true)]
async fn shutdown_mid_saga_leaves_the_record_unfinished_and_the_saga_resumes() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let dead_letters = FakeDeadLetters::default();
    let keys = tempfile::tempdir().unwrap();
    let ingest = ingest(&store, &effects, &dead_letters, &keys);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    effects
        .on_execute(
            Step::StoreMetadata,
            Arc::new(move |_| {
                stop.cancel();
                Box::pin(async {})
            }),
        )
        .execute(
            Step::StoreMetadata,
            Behaviour::Fail(StepError::retryable("metadata store restarting")),
            1,
        );
    let records = [
        record(0, &created("t1")).await,
        record(1, &activated("t1", &["jira-slack"])).await,
    ];

    let (result, finished) = handle(&ingest, &records, &shutdown).await;

    assert!(result.is_err(), "shutting down");
    assert_eq!(finished, BTreeMap::from([(0, 1)]));
    let unfinished = store.unfinished_sagas().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].results.len(), 3, "three steps done");

    // The next process.
    effects.on_execute(Step::StoreMetadata, Arc::new(|_| Box::pin(async {})));
    let running = CancellationToken::new();
    ingest.runner.resume_unfinished(&running).await.unwrap();
    let mut expected = executed();
    expected.insert(3, Call::Execute(Step::StoreMetadata));
    assert_eq!(effects.calls(), expected);
    let done = store.saga(unfinished[0].saga_id).await.unwrap().unwrap();
    assert_eq!(done.status, SagaStatus::Completed);

    let (result, finished) = handle(&ingest, &records[1..], &running).await;
    assert!(result.is_ok());
    assert_eq!(finished, BTreeMap::from([(1, 1)]));
    assert_eq!(effects.calls().len(), expected.len(), "nothing ran again");
    let state = store.tenant_record(&tenant("t1")).unwrap().state();
    let jira = &state.products[&super::support::jira()];
    assert_eq!(jira.state, ProductState::Active);
    assert_eq!(jira.installed_apps.len(), 1);
    assert_eq!(stream(&store, "t1"), vec![(1, Processed), (2, Processed)]);
}

/// The failed activation of `tenant_id` (its app refuses the install),
/// with a licence update waiting behind it.
async fn parked_on_a_failed_activation(
    ingest: &crate::ingest::Ingest<MemoryStore, FakeEffects, FakeDeadLetters>,
    effects: &FakeEffects,
    tenant_id: &str,
) {
    let refused = StepError::permanent("the app refused the install");
    effects.execute(Step::InstallApps, Behaviour::Fail(refused), 1);
    let records = [
        record(0, &created(tenant_id)).await,
        record(1, &activated(tenant_id, &["jira-slack"])).await,
        record(2, &licence_updated(tenant_id, 3)).await,
    ];
    let (result, _) = handle(ingest, &records, &CancellationToken::new()).await;
    assert!(result.is_ok());
    assert!(
        ingest
            .store
            .parked(&tenant(tenant_id))
            .await
            .unwrap()
            .is_some()
    );
}

/// An operator's skip gives the failed activation up (its trigger is
/// rejected with why), un-parks the tenant and releases what waited.
#[tokio::test(start_paused = true)]
async fn an_operator_skip_gives_the_failed_change_up_and_releases_what_waited() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let keys = tempfile::tempdir().unwrap();
    let ingest = ingest(&store, &effects, &FakeDeadLetters::default(), &keys);
    parked_on_a_failed_activation(&ingest, &effects, "t1").await;
    let t1: TenantId = tenant("t1");

    assert!(store.request(&t1, OperatorAction::Skip).is_recorded());
    let owned = [("commerce.lifecycle.v1".to_owned(), 0)];
    let requests = store.take_operator_requests(&owned).await.unwrap();
    assert_eq!(requests, vec![(t1.clone(), OperatorAction::Skip)]);
    let shutdown = CancellationToken::new();
    operator::carry_out_one(&ingest, &t1, OperatorAction::Skip, &shutdown)
        .await
        .unwrap();

    assert_eq!(store.parked(&t1).await.unwrap(), None);
    assert_eq!(
        stream(&store, "t1"),
        vec![(1, Processed), (2, Processed), (3, Processed)]
    );
    let state = store.tenant_record(&t1).unwrap().state();
    assert!(state.parked.is_none());
    let skipped = state.rejections.iter().find(|r| r.sequence == 2).unwrap();
    assert!(
        skipped.reason.contains("skipped by an operator"),
        "{}",
        skipped.reason
    );
    assert_eq!(store.rejections(&t1)[0].0, 2);
}

/// An operator's retry runs the failed saga again, un-parks the tenant and
/// releases what waited (the licence update then gets its own saga).
#[tokio::test(start_paused = true)]
async fn an_operator_retry_runs_the_failed_saga_again_and_releases_what_waited() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let keys = tempfile::tempdir().unwrap();
    let ingest = ingest(&store, &effects, &FakeDeadLetters::default(), &keys);
    parked_on_a_failed_activation(&ingest, &effects, "t1").await;
    let t1 = tenant("t1");
    let before = effects.calls().len();

    let shutdown = CancellationToken::new();
    operator::carry_out_one(&ingest, &t1, OperatorAction::Retry, &shutdown)
        .await
        .unwrap();

    assert_eq!(store.parked(&t1).await.unwrap(), None);
    assert_eq!(
        stream(&store, "t1"),
        vec![(1, Processed), (2, Processed), (3, Processed)]
    );
    let mut expected = executed();
    expected.push(Call::Execute(Step::UpdateLicence));
    assert_eq!(effects.calls()[before..], expected[..]);
    let state = store.tenant_record(&t1).unwrap().state();
    let jira = &state.products[&super::support::jira()];
    assert_eq!(jira.state, ProductState::Active);
    assert_eq!(jira.licence.map(|l| l.seats), Some(20));
}
