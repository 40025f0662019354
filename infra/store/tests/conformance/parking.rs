//! Parking rows, operator requests and the compensation retry schedule.

use crate::harness::{Subject, created, event, saga, tenant};
use tenantry_sagas::admission::{OperatorAction, ParkKind};
use tenantry_sagas::work::{EventState, ParkedTenant};
use tenantry_sagas::{SagaStatus, StepError, UnitOfWork};
use tenantry_schemas::TenantId;
use tenantry_store::parking::Requested;
use uuid::Uuid;

fn gap(tenant_id: &TenantId) -> ParkedTenant {
    ParkedTenant {
        tenant_id: tenant_id.clone(),
        kind: ParkKind::SequenceGap,
        reason: "sequence gap: waiting for commerce sequence 2, received 3".into(),
        saga_id: None,
        event_id: Some(Uuid::new_v4()),
    }
}

fn failed(tenant_id: &TenantId, saga_id: Uuid) -> ParkedTenant {
    ParkedTenant {
        tenant_id: tenant_id.clone(),
        kind: ParkKind::SagaFailed,
        reason: "provision_tenant saga failed".into(),
        saga_id: Some(saga_id),
        event_id: Some(Uuid::new_v4()),
    }
}

/// A parking row is written, replaced (clearing a pending request),
/// requested on, taken once, and removed.
pub(crate) async fn parking_rows_are_replaced_requested_and_removed<S: Subject>(store: &S) {
    let t1 = tenant("t1");
    let first = gap(&t1);
    let mut work = store.begin().await.unwrap();
    work.park(&first).await.unwrap();
    assert_eq!(work.parked(&t1).await.unwrap(), Some(first.clone()));
    work.commit().await.unwrap();
    assert_eq!(store.parked(&t1).await.unwrap(), Some(first));
    assert_eq!(store.parked(&tenant("t2")).await.unwrap(), None);

    assert!(store.request(&t1, OperatorAction::Skip).await.is_recorded());
    let second = failed(&t1, Uuid::new_v4());
    let mut work = store.begin().await.unwrap();
    work.park(&second).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(store.parked(&t1).await.unwrap(), Some(second));
    let owned = [("commerce.lifecycle.v1".to_owned(), 0)];
    assert_eq!(store.take_operator_requests(&owned).await.unwrap(), vec![]);

    assert!(
        store
            .request(&t1, OperatorAction::Retry)
            .await
            .is_recorded()
    );
    // A tenant with no events read from the asker's partitions is another
    // replica's: its request stays for that one.
    assert_eq!(store.take_operator_requests(&owned).await.unwrap(), vec![]);
    let mut work = store.begin().await.unwrap();
    work.append(&event(&created("t1", 1), EventState::Processed))
        .await
        .unwrap();
    work.commit().await.unwrap();
    let elsewhere = [("commerce.lifecycle.v1".to_owned(), 1)];
    assert_eq!(
        store.take_operator_requests(&elsewhere).await.unwrap(),
        vec![]
    );
    assert_eq!(store.take_operator_requests(&[]).await.unwrap(), vec![]);
    assert_eq!(
        store.take_operator_requests(&owned).await.unwrap(),
        vec![(t1.clone(), OperatorAction::Retry)]
    );
    assert_eq!(store.take_operator_requests(&owned).await.unwrap(), vec![]);

    let mut work = store.begin().await.unwrap();
    work.unpark(&t1).await.unwrap();
    assert_eq!(work.parked(&t1).await.unwrap(), None);
    work.unpark(&t1).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(store.parked(&t1).await.unwrap(), None);
    assert_eq!(
        store.request(&t1, OperatorAction::Retry).await,
        Requested::NotParked
    );
}

/// A retry of a tenant parked on a sequence gap has no saga to run again:
/// it is refused with the parking's reason and nothing is recorded (the
/// provisioner would do nothing with it); a skip of the same gap is recorded.
pub(crate) async fn a_retry_of_a_sequence_gap_is_refused_and_records_nothing<S: Subject>(
    store: &S,
) {
    let t1 = tenant("t1");
    let parked = gap(&t1);
    let mut work = store.begin().await.unwrap();
    work.append(&event(&created("t1", 1), EventState::Processed))
        .await
        .unwrap();
    work.park(&parked).await.unwrap();
    work.commit().await.unwrap();
    let refused = store.request(&t1, OperatorAction::Retry).await;
    assert_eq!(
        refused,
        Requested::NothingToRetry {
            kind: ParkKind::SequenceGap,
            reason: parked.reason.clone(),
        }
    );
    let sentence = refused.nothing_to_retry(&t1).unwrap();
    assert!(
        sentence.contains("t1")
            && sentence.contains("sequence gap")
            && sentence.contains("nothing to retry")
            && sentence.contains("tenantry sagas skip t1"),
        "{sentence}"
    );
    let owned = [("commerce.lifecycle.v1".to_owned(), 0)];
    assert_eq!(store.take_operator_requests(&owned).await.unwrap(), vec![]);
    assert!(store.request(&t1, OperatorAction::Skip).await.is_recorded());
    assert_eq!(
        store.take_operator_requests(&owned).await.unwrap(),
        vec![(t1, OperatorAction::Skip)]
    );
}

/// A saga in `compensation_failed` is on the retry schedule while its
/// tenant is parked on it, and only then.
pub(crate) async fn failed_compensations_are_listed_while_parked_on<S: Subject>(store: &S) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut mine = saga("t1");
    let mut other = saga("t2");
    let mut work = store.begin().await.unwrap();
    for saga in [&mut mine, &mut other] {
        assert!(work.insert_saga(saga).await.unwrap());
        let expected = saga.version;
        let step = match saga.next_action() {
            tenantry_sagas::SagaAction::Run(step) => step,
            other => panic!("{other:?}"),
        };
        saga.step_succeeded(step, tenantry_sagas::StepOutput::new())
            .unwrap();
        let next = match saga.next_action() {
            tenantry_sagas::SagaAction::Run(step) => step,
            other => panic!("{other:?}"),
        };
        saga.step_failed(next, &StepError::permanent("no")).unwrap();
        saga.compensation_failed(step, &StepError::permanent("no either"))
            .unwrap();
        assert_eq!(saga.status, SagaStatus::CompensationFailed);
        work.compare_and_set(saga, expected).await.unwrap();
    }
    work.park(&failed(&t1, mine.saga_id)).await.unwrap();
    work.park(&failed(&t2, Uuid::new_v4())).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(
        store.compensation_failed().await.unwrap(),
        vec![(mine.saga_id, t1.clone())]
    );

    let mut work = store.begin().await.unwrap();
    work.unpark(&t1).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(store.compensation_failed().await.unwrap(), vec![]);
}
