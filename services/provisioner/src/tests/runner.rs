//! [`crate::runner::SagaRunner`] on a memory store with fake steps and
//! paused time: retries with backoff, timeouts, compensation in reverse
//! order, failed compensations, and a lost compare-and-set.

use super::support::{Behaviour, Call, FakeEffects, runner, tenant, tenant_saga};
use crate::runner::Interrupted;
use std::sync::Arc;
use std::time::Duration;
use tenantry_sagas::admission::ParkKind;
use tenantry_sagas::{
    ProvisionerStore, SagaState, SagaStatus, Step, StepEffects, StepError, UnitOfWork,
};
use tenantry_store::memory::MemoryStore;
use tokio_util::sync::CancellationToken;

use Call::{Compensate, Execute};
use Step::{CreateIdentity, CreateSite, PlaceRegion, RecordLicence, StoreMetadata};

/// Steps 6 and 7 of a tenant saga, which follow the five named ones.
const LAST: [Call; 2] = [Execute(Step::ProvisionDatabase), Execute(Step::InstallApps)];

/// `saga`, inserted into `store` as the ingest inserts it.
async fn inserted(store: &MemoryStore, saga: SagaState) -> SagaState {
    let mut work = store.begin().await.unwrap();
    assert!(work.insert_saga(&saga).await.unwrap());
    work.commit().await.unwrap();
    saga
}

async fn stored(store: &MemoryStore, saga: &SagaState) -> SagaState {
    store.saga(saga.saga_id).await.unwrap().expect("stored")
}

/// When each call of `call` to `saga`'s steps started.
fn starts(effects: &FakeEffects, saga: &SagaState, call: Call) -> Vec<tokio::time::Instant> {
    effects
        .timed_calls(saga.saga_id)
        .into_iter()
        .filter(|(c, _)| *c == call)
        .map(|(_, at)| at)
        .collect()
}

/// A retryable failure is retried up to the attempts allowed (3 here),
/// each after an exponential delay with jitter — 100 ms, then 200 ms, each
/// plus up to as much again (the step's policy) — then counts as permanent:
/// the completed steps are compensated in reverse order, the saga ends
/// failed, and its tenant is parked on it.
#[tokio::test(start_paused = true)]
async fn a_retryable_failure_is_retried_with_backoff_then_compensated_in_reverse() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let unavailable = StepError::retryable("identity service unavailable");
    effects.execute(CreateIdentity, Behaviour::Fail(unavailable), 10);
    let saga = inserted(&store, tenant_saga("t1")).await;

    runner(&store, &effects)
        .drive(saga.clone(), &CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(
        effects.calls(),
        vec![
            Execute(RecordLicence),
            Execute(CreateSite),
            Execute(PlaceRegion),
            Execute(StoreMetadata),
            Execute(CreateIdentity),
            Execute(CreateIdentity),
            Execute(CreateIdentity),
            Compensate(StoreMetadata),
            Compensate(PlaceRegion),
            Compensate(CreateSite),
            Compensate(RecordLicence),
        ]
    );
    let at = starts(&effects, &saga, Execute(CreateIdentity));
    let (first, second) = (at[1] - at[0], at[2] - at[1]);
    let ms = Duration::from_millis;
    // Full jitter adds up to the delay again; the timer rounds up to the
    // millisecond, so the upper bound is reached.
    assert!(
        first >= ms(100) && first <= ms(200),
        "first delay {first:?}"
    );
    assert!(
        second >= ms(200) && second <= ms(400),
        "second delay {second:?}"
    );

    let ended = stored(&store, &saga).await;
    assert_eq!(ended.status, SagaStatus::Failed);
    let failure = ended.failure.unwrap();
    assert!(failure.contains("gave up after 3 attempts"), "{failure}");
    let parked = store.parked(&tenant("t1")).await.unwrap().expect("parked");
    assert_eq!(
        (parked.kind, parked.saga_id),
        (ParkKind::SagaFailed, Some(saga.saga_id))
    );
    let record = store.tenant_record(&tenant("t1")).unwrap();
    assert!(record.ledger.parked.is_some() && record.ledger.failure.is_some());
}

/// A step whose dependency is down (a KMS or database that does not
/// answer) is retried past the step's attempts, backing off 1 s, 2 s, 4 s …
/// up to 30 s, and the saga goes on when the dependency answers: an outage
/// compensates nothing and parks no tenant.
#[tokio::test(start_paused = true)]
async fn an_outage_is_waited_out_without_using_up_attempts() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let down = StepError::unavailable("KMS GenerateDataKey: cannot reach kms");
    // Eight failures: more than the 3 attempts a retryable failure gets.
    effects.execute(CreateIdentity, Behaviour::Fail(down), 8);
    let saga = inserted(&store, tenant_saga("t1")).await;

    runner(&store, &effects)
        .drive(saga.clone(), &CancellationToken::new())
        .await
        .unwrap();

    let at = starts(&effects, &saga, Execute(CreateIdentity));
    assert_eq!(
        at.len(),
        9,
        "eight failures, then the attempt that succeeds"
    );
    let pauses: Vec<u64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
    assert!(
        !effects.calls().iter().any(|c| matches!(c, Compensate(_))),
        "{:?}",
        effects.calls()
    );
    assert_eq!(stored(&store, &saga).await.status, SagaStatus::Completed);
    assert!(store.parked(&tenant("t1")).await.unwrap().is_none());
}

/// A permanent failure is not retried.
#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_compensated_at_once() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let taken = StepError::permanent("site host taken");
    effects.execute(PlaceRegion, Behaviour::Fail(taken), 1);
    let saga = inserted(&store, tenant_saga("t1")).await;

    runner(&store, &effects)
        .drive(saga.clone(), &CancellationToken::new())
        .await
        .unwrap();

    assert_eq!(
        effects.calls(),
        vec![
            Execute(RecordLicence),
            Execute(CreateSite),
            Execute(PlaceRegion),
            Compensate(CreateSite),
            Compensate(RecordLicence),
        ]
    );
    assert_eq!(stored(&store, &saga).await.status, SagaStatus::Failed);
}

/// A step that does not answer within its policy's timeout (10 s for step
/// 2) counts as a retryable failure: it is tried again after the backoff,
/// and the saga completes.
#[tokio::test(start_paused = true)]
async fn a_step_timeout_is_a_retryable_failure() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    effects.execute(CreateSite, Behaviour::Hang, 1);
    let saga = inserted(&store, tenant_saga("t1")).await;

    runner(&store, &effects)
        .drive(saga.clone(), &CancellationToken::new())
        .await
        .unwrap();

    let mut expected = vec![
        Execute(RecordLicence),
        Execute(CreateSite),
        Execute(CreateSite),
        Execute(PlaceRegion),
        Execute(StoreMetadata),
        Execute(CreateIdentity),
    ];
    expected.extend(LAST);
    assert_eq!(effects.calls(), expected);
    let at = starts(&effects, &saga, Execute(CreateSite));
    let waited = at[1] - at[0];
    let timeout = effects.policy(CreateSite).timeout;
    assert_eq!(timeout, Duration::from_secs(10));
    assert!(
        waited >= timeout + Duration::from_millis(100)
            && waited <= timeout + Duration::from_millis(200),
        "{waited:?}"
    );
    assert_eq!(stored(&store, &saga).await.status, SagaStatus::Completed);
    assert_eq!(store.parked(&tenant("t1")).await.unwrap(), None);
    assert!(
        store
            .tenant_record(&tenant("t1"))
            .unwrap()
            .provisioned
            .tenant
    );
}

/// A compensation that keeps failing ends the saga `compensation_failed`
/// (the steps before it are not compensated) and parks the tenant; the
/// compensation retry schedule lists it, and compensating again finishes
/// the saga failed with the tenant still parked.
#[tokio::test(start_paused = true)]
async fn a_failed_compensation_ends_compensation_failed_and_parks_the_tenant() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    effects
        .execute(PlaceRegion, Behaviour::Fail(StepError::permanent("no")), 1)
        .compensate(
            CreateSite,
            Behaviour::Fail(StepError::retryable("site registry down")),
            3,
        );
    let saga = inserted(&store, tenant_saga("t1")).await;
    let runner = runner(&store, &effects);
    let shutdown = CancellationToken::new();

    runner.drive(saga.clone(), &shutdown).await.unwrap();

    assert_eq!(
        effects.calls(),
        vec![
            Execute(RecordLicence),
            Execute(CreateSite),
            Execute(PlaceRegion),
            Compensate(CreateSite),
            Compensate(CreateSite),
            Compensate(CreateSite),
        ]
    );
    let ended = stored(&store, &saga).await;
    assert_eq!(ended.status, SagaStatus::CompensationFailed);
    let failure = ended.failure.unwrap();
    assert!(
        failure.contains("compensation of step 2 create_site failed"),
        "{failure}"
    );
    let t1 = tenant("t1");
    let parked = store.parked(&t1).await.unwrap().expect("parked");
    assert_eq!(parked.saga_id, Some(saga.saga_id));
    assert!(
        parked.reason.contains("compensation_failed"),
        "{}",
        parked.reason
    );
    assert_eq!(
        store.compensation_failed().await.unwrap(),
        vec![(saga.saga_id, t1.clone())]
    );

    // The retry schedule: the registry is back.
    runner.retry(saga.saga_id, false, &shutdown).await.unwrap();
    assert_eq!(
        effects.calls()[6..],
        [Compensate(CreateSite), Compensate(RecordLicence)]
    );
    assert_eq!(stored(&store, &saga).await.status, SagaStatus::Failed);
    assert!(store.parked(&t1).await.unwrap().is_some(), "still parked");
    assert_eq!(store.compensation_failed().await.unwrap(), vec![]);
}

/// Case S1: another runner moves the saga on while a step runs; this
/// runner's compare-and-set loses, and it stops without running another
/// step or overwriting the other's write.
#[tokio::test(start_paused = true)]
async fn a_lost_compare_and_set_stops_the_runner() {
    let store = MemoryStore::new();
    let effects = FakeEffects::default();
    let other = store.clone();
    effects.on_execute(
        StoreMetadata,
        Arc::new(move |saga: SagaState| {
            let store = other.clone();
            Box::pin(async move {
                let mut work = store.begin().await.unwrap();
                let mut theirs = work.saga(saga.saga_id).await.unwrap().unwrap();
                let expected = theirs.version;
                theirs.version += 1;
                theirs.failure = Some("written by another runner".into());
                work.compare_and_set(&theirs, expected).await.unwrap();
                work.commit().await.unwrap();
            })
        }),
    );
    let saga = inserted(&store, tenant_saga("t1")).await;

    let result = runner(&store, &effects)
        .drive(saga.clone(), &CancellationToken::new())
        .await;

    assert!(matches!(result, Err(Interrupted::Stale)), "{result:?}");
    assert_eq!(
        effects.calls(),
        vec![
            Execute(RecordLicence),
            Execute(CreateSite),
            Execute(PlaceRegion),
            Execute(StoreMetadata),
        ]
    );
    let theirs = stored(&store, &saga).await;
    assert_eq!(theirs.failure.as_deref(), Some("written by another runner"));
    assert!(!theirs.results.contains_key(&StoreMetadata));
}
