//! Tenant records and the tenant states a commit publishes: one per
//! tenant whose state changed, under its next provisioning sequence; none
//! for a tenant whose state did not change; nothing from a unit of work
//! dropped without a commit.

use crate::harness::{Subject, created, event, published, saga, tenant};
use tenantry_sagas::admission::ParkKind;
use tenantry_sagas::work::{EventState, ParkedTenant};
use tenantry_sagas::{OutboxClaim, TenantRecord, UnitOfWork};

/// A record whose state says commerce sequence `sequence`.
fn at(sequence: i64) -> TenantRecord {
    let mut record = TenantRecord::default();
    record.ledger.commerce_sequence = sequence;
    record
}

/// Records read back in their unit of work and after it commits.
pub(crate) async fn a_tenant_record_is_read_back<S: Subject>(store: &S) {
    let t1 = tenant("t1");
    let mut work = store.begin().await.unwrap();
    assert_eq!(work.tenant(&t1).await.unwrap(), TenantRecord::default());
    let mut record = at(3);
    record.desired.apply(&created("t1", 3)).unwrap();
    work.save_tenant(&t1, record.clone()).await.unwrap();
    assert_eq!(work.tenant(&t1).await.unwrap(), record, "own write");
    work.commit().await.unwrap();
    let mut work = store.begin().await.unwrap();
    assert_eq!(work.tenant(&t1).await.unwrap(), record);
}

/// Two saves of one tenant and one of another in one commit publish one
/// state each, the last one; the next change is the tenant's next sequence.
pub(crate) async fn one_state_is_published_per_changed_tenant_per_commit<S: Subject>(store: &S) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = store.begin().await.unwrap();
    work.save_tenant(&t1, at(1)).await.unwrap();
    work.save_tenant(&t2, at(7)).await.unwrap();
    work.save_tenant(&t1, at(2)).await.unwrap();
    work.commit().await.unwrap();
    let states: Vec<_> = published(store)
        .await
        .into_iter()
        .map(|(tenant, sequence, state)| (tenant, sequence, state.commerce_sequence))
        .collect();
    assert_eq!(states, vec![(t1.clone(), 1, 2), (t2.clone(), 1, 7)]);

    let mut work = store.begin().await.unwrap();
    let record = work.tenant(&t1).await.unwrap();
    assert_eq!(record, at(2));
    work.save_tenant(&t1, at(4)).await.unwrap();
    work.commit().await.unwrap();
    let last = published(store).await.pop().unwrap();
    assert_eq!((last.0, last.1, last.2.commerce_sequence), (t1, 2, 4));
}

/// Saving a record unchanged, changing it and back, or changing what the
/// state does not show publishes nothing.
pub(crate) async fn no_state_is_published_when_it_did_not_change<S: Subject>(store: &S) {
    let (t1, t2, t3) = (tenant("t1"), tenant("t2"), tenant("t3"));
    let mut work = store.begin().await.unwrap();
    work.save_tenant(&t1, at(1)).await.unwrap();
    work.commit().await.unwrap();
    let before = published(store).await.len();

    let mut work = store.begin().await.unwrap();
    let same = work.tenant(&t1).await.unwrap();
    work.save_tenant(&t1, same).await.unwrap();
    work.save_tenant(&t2, at(5)).await.unwrap();
    work.save_tenant(&t2, TenantRecord::default())
        .await
        .unwrap();
    let mut unseen = TenantRecord::default();
    unseen.desired.last_accepted = Some(created("t3", 1).envelope);
    assert_eq!(unseen.state(), TenantRecord::default().state());
    work.save_tenant(&t3, unseen.clone()).await.unwrap();
    work.commit().await.unwrap();

    assert_eq!(published(store).await.len(), before);
    let mut work = store.begin().await.unwrap();
    assert_eq!(
        work.tenant(&t3).await.unwrap(),
        unseen,
        "stored all the same"
    );
}

/// A unit of work dropped without a commit leaves nothing behind.
pub(crate) async fn a_unit_of_work_dropped_without_commit_writes_nothing<S: Subject>(store: &S) {
    let t1 = tenant("t1");
    let record = created("t1", 1);
    let id = record.envelope.event_id;
    let started = saga("t1");
    {
        let mut work = store.begin().await.unwrap();
        assert!(work.mark_processed(&record).await.unwrap());
        work.append(&event(&record, EventState::Waiting))
            .await
            .unwrap();
        work.reject(id, &t1, "no").await.unwrap();
        work.save_tenant(&t1, at(1)).await.unwrap();
        work.set_cursor(&t1, 1).await.unwrap();
        let parked = ParkedTenant {
            tenant_id: t1.clone(),
            kind: ParkKind::SequenceGap,
            reason: "gap".into(),
            saga_id: None,
            event_id: Some(id),
        };
        work.park(&parked).await.unwrap();
        assert!(work.insert_saga(&started).await.unwrap());
    }
    let mut work = store.begin().await.unwrap();
    assert!(work.mark_processed(&record).await.unwrap());
    assert_eq!(work.recorded(id).await.unwrap(), None);
    assert_eq!(work.next_waiting(&t1).await.unwrap(), None);
    assert_eq!(work.tenant(&t1).await.unwrap(), TenantRecord::default());
    assert_eq!(work.parked(&t1).await.unwrap(), None);
    assert_eq!(work.saga(started.saga_id).await.unwrap(), None);
    drop(work);
    assert_eq!(store.saga(started.saga_id).await.unwrap(), None);
    assert!(published(store).await.is_empty());
    assert!(store.rejections(&t1).await.is_empty());
}

/// The relay's view of the outbox: a claim takes the oldest records in id
/// order up to its limit; dropped, it leaves them to be claimed again with
/// the same event ids (case D6); removed, they are gone.
pub(crate) async fn outbox_records_are_claimed_oldest_first_and_removed_once_published<
    S: Subject,
>(
    store: &S,
) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    for (tenant, sequence) in [(&t1, 1), (&t2, 1), (&t1, 2)] {
        let mut work = store.begin().await.unwrap();
        work.save_tenant(tenant, at(sequence)).await.unwrap();
        work.commit().await.unwrap();
    }
    let claim = store.claim(2).await.unwrap();
    let first: Vec<_> = claim.records().to_vec();
    assert_eq!(first.len(), 2);
    assert!(first[0].id < first[1].id, "in id order");
    let tenants: Vec<_> = first
        .iter()
        .map(|r| r.record.envelope.tenant_id.clone())
        .collect();
    assert_eq!(tenants, vec![t1.clone(), t2.clone()]);
    drop(claim);

    let claim = store.claim(10).await.unwrap();
    let again: Vec<_> = claim.records().to_vec();
    assert_eq!(again.len(), 3);
    assert_eq!(
        again[..2],
        first[..],
        "a dropped claim leaves its records as they were"
    );
    claim.remove().await.unwrap();
    assert!(store.claim(10).await.unwrap().records().is_empty());
    assert!(store.outbox().await.is_empty());
}
