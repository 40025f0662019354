//! The batch store: what a commit writes is what the next load reads, and
//! a commit that finds a row it counted on being new (a site host, an
//! event id, a saga id) taken writes nothing.

use crate::harness::{Subject, created, event, published, saga, tenant};
use std::collections::{BTreeMap, BTreeSet};
use tenantry_sagas::work::{
    Changes, Committed, EventState, Keys, PlacedDatabase, RecordedEvent, Shard,
};
use tenantry_sagas::{SagaAction, StepOutput, TenantRecord, UnitOfWork};
use tenantry_schemas::{CommerceRecord, ProductKey, Region};

const HOST: &str = "acme.tenantry.test";

/// A batch recording `record` (released) for its tenant, taking `host`.
fn taking(record: &CommerceRecord, host: &str) -> Changes {
    let tenant_id = record.envelope.tenant_id.clone();
    let mut changes = Changes::default();
    changes.events.push(event(record, EventState::Processed));
    changes
        .effects
        .sites
        .push((host.into(), tenant_id.clone(), "acme".into()));
    let mut state = TenantRecord::default();
    state.ledger.commerce_sequence = record.envelope.sequence;
    changes.records.insert(tenant_id, state);
    changes
}

fn keys(records: &[&CommerceRecord], hosts: &[&str]) -> Keys {
    Keys {
        tenants: records
            .iter()
            .map(|r| r.envelope.tenant_id.clone())
            .collect(),
        event_ids: records.iter().map(|r| r.envelope.event_id).collect(),
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
    }
}

/// Everything a commit writes, as the next load reads it.
pub(crate) async fn a_batch_is_read_back_as_committed<S: Subject>(store: &S) {
    let shard = store.add_shard("de", 1, 10).await;
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let jira = ProductKey::parse("jira").unwrap();
    let created_t1 = created("t1", 1);
    let waiting_t2 = created("t2", 2);
    let mut changes = taking(&created_t1, HOST);
    changes.events.push(event(&waiting_t2, EventState::Waiting));
    let mut record = TenantRecord::default();
    record.desired.apply(&created_t1).unwrap();
    record.ledger.commerce_sequence = 1;
    changes.records.insert(t1.clone(), record.clone());
    changes.states.insert(t1.clone(), record.state());
    changes.provisioning_sequences.insert(t1.clone(), 0);
    let mut done = saga("t1");
    while let SagaAction::Run(step) = done.next_action() {
        done.step_succeeded(step, StepOutput::new()).unwrap();
    }
    changes.sagas.push(done.clone());
    let effects = &mut changes.effects;
    effects.placements.push((t1.clone(), "de".into(), true));
    effects.groups.push((t1.clone(), "site-admins".into()));
    effects.databases.push((
        t1.clone(),
        jira.clone(),
        shard.shard_id.clone(),
        "t_t1__jira".into(),
        "00".into(),
    ));
    effects.shard_usage.insert(shard.shard_id.clone(), 1);
    assert_eq!(store.commit(&changes).await.unwrap(), Committed::Done);

    let loaded = store
        .load(&keys(
            &[&created_t1, &waiting_t2],
            &[HOST, "free.tenantry.test"],
        ))
        .await
        .unwrap();
    assert_eq!(loaded.records.get(&t1), Some(&record));
    assert!(!loaded.records.contains_key(&t2), "t2 has no record");
    assert_eq!(
        loaded.recorded.get(&created_t1.envelope.event_id),
        Some(&RecordedEvent {
            tenant_id: t1.clone(),
            sequence: 1,
            kind: "tenant_created".into(),
        })
    );
    assert_eq!(loaded.recorded.len(), 2);
    assert_eq!(loaded.waiting, BTreeSet::from([t2.clone()]));
    assert_eq!(
        loaded.sites,
        BTreeMap::from([(HOST.to_owned(), t1.clone())])
    );
    assert_eq!(
        loaded.placements,
        BTreeMap::from([(t1.clone(), (Region::parse("de", "region").unwrap(), true))])
    );
    assert_eq!(
        loaded.groups,
        BTreeMap::from([(t1.clone(), BTreeSet::from(["site-admins".to_owned()]))])
    );
    assert_eq!(
        loaded.databases,
        BTreeMap::from([(
            (t1.clone(), jira),
            PlacedDatabase {
                shard: shard.shard_id.clone(),
                database: "t_t1__jira".into(),
            }
        )])
    );
    assert_eq!(
        loaded.shards,
        vec![Shard {
            used: 1,
            ..shard.clone()
        }]
    );
    assert_eq!(loaded.shard_counts, BTreeMap::from([("de".to_owned(), 1)]));
    assert_eq!(
        loaded.provisioning_sequences,
        BTreeMap::from([(t1.clone(), 1)])
    );
    assert_eq!(loaded.hosts_asked.len(), 2);
    assert_eq!(store.saga(done.saga_id).await.unwrap(), Some(done));
    assert_eq!(
        published(store).await,
        vec![(t1.clone(), 1, record.state())]
    );
    let mut work = store.begin().await.unwrap();
    assert_eq!(work.tenant(&t1).await.unwrap(), record);
    assert!(!work.mark_processed(&created_t1).await.unwrap());
}

/// Asserts `changes` conflict naming `what` and wrote nothing of
/// `record`'s tenant: no record, no site, no published state.
async fn conflicts<S: Subject>(store: &S, changes: &Changes, what: &str, record: &CommerceRecord) {
    let outbox = published(store).await;
    let Committed::Conflict(reason) = store.commit(changes).await.unwrap() else {
        panic!("committed a batch whose {what} was taken");
    };
    assert!(reason.contains(what), "{reason}");
    let tenant_id = &record.envelope.tenant_id;
    let loaded = store.load(&keys(&[record], &[])).await.unwrap();
    assert!(
        !loaded.records.contains_key(tenant_id),
        "its tenant record was written"
    );
    assert!(
        !loaded.sites.values().any(|owner| owner == tenant_id),
        "its site was taken"
    );
    assert_eq!(published(store).await, outbox, "its state was published");
}

/// A second owner of a site host: nothing of its batch is written.
pub(crate) async fn a_batch_taking_a_taken_host_writes_nothing<S: Subject>(store: &S) {
    let first = created("t1", 1);
    assert_eq!(
        store.commit(&taking(&first, HOST)).await.unwrap(),
        Committed::Done
    );
    let second = created("t2", 1);
    conflicts(store, &taking(&second, HOST), "site hosts", &second).await;
    let loaded = store.load(&keys(&[&second], &[])).await.unwrap();
    assert!(loaded.recorded.is_empty(), "its event was recorded");
}

/// An event id recorded since the load: nothing of the batch is written,
/// and the id still identifies the first event.
pub(crate) async fn a_batch_recording_a_recorded_event_writes_nothing<S: Subject>(store: &S) {
    let first = created("t1", 1);
    assert_eq!(
        store.commit(&taking(&first, HOST)).await.unwrap(),
        Committed::Done
    );
    let mut again = created("t2", 1);
    again.envelope.event_id = first.envelope.event_id;
    let mut changes = taking(&again, "other.tenantry.test");
    let fresh = created("t2", 2);
    changes.events.push(event(&fresh, EventState::Processed));
    conflicts(store, &changes, "commerce events", &again).await;
    let loaded = store.load(&keys(&[&again, &fresh], &[])).await.unwrap();
    let recorded = &loaded.recorded[&first.envelope.event_id];
    assert_eq!(recorded.tenant_id, tenant("t1"));
    assert!(!loaded.recorded.contains_key(&fresh.envelope.event_id));
}

/// A saga inserted since the load: nothing of the batch is written.
pub(crate) async fn a_batch_inserting_an_inserted_saga_writes_nothing<S: Subject>(store: &S) {
    let started = saga("t1");
    let mut work = store.begin().await.unwrap();
    assert!(work.insert_saga(&started).await.unwrap());
    work.commit().await.unwrap();
    let record = created("t1", 1);
    let mut changes = taking(&record, HOST);
    changes.sagas.push(started.clone());
    conflicts(store, &changes, "sagas", &record).await;
    let loaded = store.load(&keys(&[&record], &[HOST])).await.unwrap();
    assert!(loaded.recorded.is_empty(), "its event was recorded");
    assert_eq!(store.saga(started.saga_id).await.unwrap(), Some(started));
}
