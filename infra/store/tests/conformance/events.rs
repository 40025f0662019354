//! The inbox and the event stream: dedup by event id, what an id
//! identifies, event states, the waiting order, rejections.

use crate::harness::{Subject, created, event, tenant};
use tenantry_sagas::UnitOfWork;
use tenantry_sagas::work::{EventState, RecordedEvent, WaitingEvents};
use uuid::Uuid;

/// An event id is processed once; the event it was recorded as stays
/// readable, in the unit of work that recorded it and after.
pub(crate) async fn an_event_id_is_processed_once_and_keeps_its_identity<S: Subject>(store: &S) {
    let record = created("t1", 1);
    let id = record.envelope.event_id;
    let identity = RecordedEvent {
        tenant_id: tenant("t1"),
        sequence: 1,
        kind: "tenant_created".into(),
    };
    let mut work = store.begin().await.unwrap();
    assert!(work.mark_processed(&record).await.unwrap());
    assert!(!work.mark_processed(&record).await.unwrap(), "own write");
    work.append(&event(&record, EventState::Processed))
        .await
        .unwrap();
    assert_eq!(work.recorded(id).await.unwrap(), Some(identity.clone()));
    work.commit().await.unwrap();

    let mut work = store.begin().await.unwrap();
    assert!(!work.mark_processed(&record).await.unwrap(), "a redelivery");
    assert_eq!(work.recorded(id).await.unwrap(), Some(identity));
    assert_eq!(work.recorded(Uuid::new_v4()).await.unwrap(), None);
    // A second id for the same tenant and sequence is another event.
    assert!(work.mark_processed(&created("t1", 1)).await.unwrap());
}

/// States as recorded and set; waiting events come out lowest sequence
/// first, counted per tenant.
pub(crate) async fn waiting_events_are_released_lowest_sequence_first<S: Subject>(store: &S) {
    let (one, two, three, five) = (
        created("t1", 1),
        created("t1", 2),
        created("t1", 3),
        created("t1", 5),
    );
    let other = created("t2", 9);
    let mut work = store.begin().await.unwrap();
    for (record, state) in [
        (&three, EventState::Waiting),
        (&one, EventState::Processed),
        (&five, EventState::Stale),
        (&two, EventState::Waiting),
        (&other, EventState::Waiting),
    ] {
        work.append(&event(record, state)).await.unwrap();
    }
    let t1 = tenant("t1");
    assert_eq!(
        work.waiting(&t1).await.unwrap(),
        WaitingEvents {
            count: 2,
            last_sequence: 3
        }
    );
    let next = work.next_waiting(&t1).await.unwrap().unwrap();
    assert_eq!(next.envelope.event_id, two.envelope.event_id);
    work.set_event_state(two.envelope.event_id, EventState::Processed)
        .await
        .unwrap();
    let next = work.next_waiting(&t1).await.unwrap().unwrap();
    assert_eq!(next, three, "the record as appended");
    work.commit().await.unwrap();

    let mut work = store.begin().await.unwrap();
    assert_eq!(
        work.waiting(&t1).await.unwrap(),
        WaitingEvents {
            count: 1,
            last_sequence: 3
        }
    );
    work.set_event_state(three.envelope.event_id, EventState::Stale)
        .await
        .unwrap();
    assert_eq!(work.next_waiting(&t1).await.unwrap(), None);
    assert_eq!(work.waiting(&t1).await.unwrap(), WaitingEvents::default());
    work.commit().await.unwrap();
    let kind = || "tenant_created".to_owned();
    assert_eq!(
        store.stream(&t1).await,
        vec![
            (1, kind(), EventState::Processed),
            (2, kind(), EventState::Processed),
            (3, kind(), EventState::Stale),
            (5, kind(), EventState::Stale),
        ]
    );
}

/// A rejected event keeps the first reason recorded for it.
pub(crate) async fn a_rejection_keeps_its_first_reason<S: Subject>(store: &S) {
    let record = created("t1", 1);
    let id = record.envelope.event_id;
    let t1 = tenant("t1");
    let mut work = store.begin().await.unwrap();
    work.append(&event(&record, EventState::Processed))
        .await
        .unwrap();
    work.reject(id, &t1, "first").await.unwrap();
    work.reject(id, &t1, "second").await.unwrap();
    work.commit().await.unwrap();
    let mut work = store.begin().await.unwrap();
    work.reject(id, &t1, "third").await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(store.rejections(&t1).await, vec![(1, "first".to_owned())]);
}
