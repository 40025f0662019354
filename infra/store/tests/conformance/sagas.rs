//! The saga store: one insert per saga id, compare-and-set on the version
//! (case S1), the sagas to resume.

use crate::harness::{Subject, saga};
use tenantry_sagas::{SagaAction, SagaState, StepOutput, StoreFailure, UnitOfWork};

/// `saga` one step further (a new version).
fn advanced(saga: &SagaState) -> SagaState {
    let mut next = saga.clone();
    let SagaAction::Run(step) = next.next_action() else {
        panic!("nothing to run: {next:?}");
    };
    next.step_succeeded(step, StepOutput::new()).unwrap();
    next
}

/// A saga id is inserted once: a second insert, in the same unit of work
/// or a later one, writes nothing and says so.
pub(crate) async fn a_saga_is_inserted_once<S: Subject>(store: &S) {
    let started = saga("t1");
    let mut work = store.begin().await.unwrap();
    assert!(work.insert_saga(&started).await.unwrap());
    assert!(!work.insert_saga(&advanced(&started)).await.unwrap());
    assert_eq!(
        work.saga(started.saga_id).await.unwrap(),
        Some(started.clone())
    );
    work.commit().await.unwrap();
    let mut work = store.begin().await.unwrap();
    assert!(!work.insert_saga(&started).await.unwrap());
    drop(work);
    assert_eq!(store.saga(started.saga_id).await.unwrap(), Some(started));
}

/// Two writers holding the same version: the first compare-and-set wins,
/// the second is stale and writes nothing; a write of a saga never stored
/// is stale too.
pub(crate) async fn a_compare_and_set_on_an_old_version_is_stale<S: Subject>(store: &S) {
    let started = saga("t1");
    let mut work = store.begin().await.unwrap();
    work.insert_saga(&started).await.unwrap();
    work.commit().await.unwrap();

    let first = advanced(&started);
    let mut work = store.begin().await.unwrap();
    work.compare_and_set(&first, started.version).await.unwrap();
    assert_eq!(work.saga(first.saga_id).await.unwrap(), Some(first.clone()));
    work.commit().await.unwrap();

    let mut second = first.clone();
    second.failure = Some("a late writer".into());
    let mut work = store.begin().await.unwrap();
    let lost = async {
        work.compare_and_set(&second, started.version).await?;
        work.commit().await
    }
    .await;
    let error = lost.expect_err("the second writer must lose");
    assert!(error.is_stale(), "{error}");
    assert!(!error.is_permanent(), "{error}");
    assert_eq!(store.saga(first.saga_id).await.unwrap(), Some(first));

    let mut work = store.begin().await.unwrap();
    let error = work
        .compare_and_set(&saga("t2"), 0)
        .await
        .expect_err("no such saga");
    assert!(error.is_stale(), "{error}");
}

/// Running and compensating sagas are resumed, oldest first; ended ones not.
pub(crate) async fn unfinished_sagas_are_listed_oldest_first<S: Subject>(store: &S) {
    let (a, b, c) = (saga("t1"), saga("t2"), saga("t3"));
    for saga in [&a, &b, &c] {
        let mut work = store.begin().await.unwrap();
        work.insert_saga(saga).await.unwrap();
        work.commit().await.unwrap();
        // Creation times are in milliseconds: apart, so "oldest" is defined.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    // b ends: every step done.
    let mut done = b.clone();
    while let SagaAction::Run(step) = done.next_action() {
        done.step_succeeded(step, StepOutput::new()).unwrap();
    }
    let mut work = store.begin().await.unwrap();
    work.compare_and_set(&done, b.version).await.unwrap();
    work.commit().await.unwrap();
    let ids: Vec<_> = store
        .unfinished_sagas()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.saga_id)
        .collect();
    assert_eq!(ids, vec![a.saga_id, c.saga_id]);
}
