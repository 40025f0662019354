//! The contracts of [`TenantContexts`], one test each.

use crate::fixtures::{context, tenant};
use std::collections::BTreeSet;
use std::sync::Arc;
use tenantry_sagas::{TenantContext, TenantContexts, TenantStatus};
use tenantry_schemas::TenantId;

/// Each tenant's stored revision, `None` when absent.
async fn revisions(store: &dyn TenantContexts, tenants: &[&str]) -> Vec<Option<i64>> {
    let ids: Vec<TenantId> = tenants.iter().map(|t| tenant(t)).collect();
    let refs: Vec<&TenantId> = ids.iter().collect();
    let found = store.get_many(&refs).await.unwrap();
    ids.iter()
        .map(|id| found.get(id).map(|(_, revision)| *revision))
        .collect()
}

fn set(tenants: &[&str]) -> BTreeSet<TenantId> {
    tenants.iter().map(|t| tenant(t)).collect()
}

/// A context is read back whole by tenant and by its site host; nothing
/// is found for another tenant or host.
pub(crate) async fn a_put_context_is_read_by_tenant_and_by_host(store: Arc<dyn TenantContexts>) {
    let one = context("t1", 1, Some("one.tenantry.test"));
    let two = context("t2", 4, None);
    store.put(&one).await.unwrap();
    store.put(&two).await.unwrap();
    assert_eq!(store.get(&tenant("t1")).await.unwrap(), Some(one.clone()));
    assert_eq!(store.get(&tenant("t2")).await.unwrap(), Some(two));
    assert_eq!(store.get(&tenant("t3")).await.unwrap(), None);
    assert_eq!(
        store.get_by_host("one.tenantry.test").await.unwrap(),
        Some(one)
    );
    assert_eq!(store.get_by_host("two.tenantry.test").await.unwrap(), None);
    // A put replaces the context: the host follows it.
    let moved = context("t1", 2, Some("uno.tenantry.test"));
    store.put(&moved).await.unwrap();
    assert_eq!(store.get(&tenant("t1")).await.unwrap(), Some(moved.clone()));
    assert_eq!(store.get_by_host("one.tenantry.test").await.unwrap(), None);
    assert_eq!(
        store.get_by_host("uno.tenantry.test").await.unwrap(),
        Some(moved)
    );
}

/// A host several contexts name resolves to the tenant that is not
/// destroyed, whenever it was written; among live ones, the newest write.
pub(crate) async fn a_host_names_the_live_tenant_then_the_newest(store: Arc<dyn TenantContexts>) {
    let host = "shop.tenantry.test";
    let new_owner = context("t2", 1, Some(host));
    store.put(&new_owner).await.unwrap();
    let mut old_owner = context("t1", 5, Some(host));
    old_owner.state.status = TenantStatus::Destroyed;
    store.put(&old_owner).await.unwrap();
    assert_eq!(
        store.get_by_host(host).await.unwrap(),
        Some(new_owner.clone()),
        "the destroyed tenant, though written last, does not win"
    );
    // Only destroyed tenants name it: the newest of them is still found
    // (the API answers 410 with it).
    let mut gone = new_owner.clone();
    gone.state.status = TenantStatus::Destroyed;
    gone.version.provisioning_sequence = 2;
    store.put(&gone).await.unwrap();
    assert_eq!(store.get_by_host(host).await.unwrap(), Some(gone));
    // Two live ones: the one written last. (A pause keeps the SQL stores'
    // millisecond write times apart.)
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let first = context("t3", 1, Some(host));
    store.put(&first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = context("t4", 1, Some(host));
    store.put(&second).await.unwrap();
    assert_eq!(store.get_by_host(host).await.unwrap(), Some(second));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.put(&first).await.unwrap();
    assert_eq!(store.get_by_host(host).await.unwrap(), Some(first));
}

/// `get_many` returns the present tenants with their revisions (counted
/// up by every write) and leaves the absent ones out.
pub(crate) async fn get_many_returns_present_tenants_with_revisions(
    store: Arc<dyn TenantContexts>,
) {
    assert!(store.get_many(&[]).await.unwrap().is_empty());
    let (one, two) = (context("t1", 1, None), context("t2", 1, None));
    store.put(&one).await.unwrap();
    store.put(&two).await.unwrap();
    let one_again = context("t1", 2, None);
    store.put(&one_again).await.unwrap();
    let (t1, t2, t3) = (tenant("t1"), tenant("t2"), tenant("t3"));
    let found = store.get_many(&[&t1, &t3, &t2]).await.unwrap();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        vec![(t1, (one_again, 2)), (t2.clone(), (two.clone(), 1))]
    );
    let found = store.get_many(&[&t3]).await.unwrap();
    assert!(found.is_empty(), "{found:?}");
    let found = store.get_many(&[&t2]).await.unwrap();
    assert_eq!(found.get(&t2), Some(&(two, 1)));
}

/// Each context is written only when the stored revision is the expected
/// one (`None`: nothing stored); the tenants written are returned, the
/// others keep their context and revision.
pub(crate) async fn put_many_if_writes_only_at_the_expected_revision(
    store: Arc<dyn TenantContexts>,
) {
    let written = store
        .put_many_if(&[
            (context("t1", 1, None), None),
            (context("t2", 1, None), None),
        ])
        .await
        .unwrap();
    assert_eq!(written, set(&["t1", "t2"]));
    assert_eq!(
        revisions(store.as_ref(), &["t1", "t2"]).await,
        [Some(1), Some(1)]
    );
    let one = context("t1", 2, Some("one.tenantry.test"));
    let two_stale = context("t2", 2, None);
    let three = context("t3", 1, None);
    let written = store
        .put_many_if(&[
            (one.clone(), Some(1)),
            // Believes t2 has no context yet: it has one.
            (two_stale, None),
            // Has none: inserted.
            (three.clone(), None),
        ])
        .await
        .unwrap();
    assert_eq!(written, set(&["t1", "t3"]));
    assert_eq!(store.get(&tenant("t1")).await.unwrap(), Some(one.clone()));
    assert_eq!(
        store.get_by_host("one.tenantry.test").await.unwrap(),
        Some(one)
    );
    assert_eq!(
        context_of(&store, "t2").await.version.provisioning_sequence,
        1,
        "t2 kept its first context"
    );
    assert_eq!(store.get(&tenant("t3")).await.unwrap(), Some(three));
    assert_eq!(
        revisions(store.as_ref(), &["t1", "t2", "t3"]).await,
        [Some(2), Some(1), Some(1)]
    );
    // An expected revision ahead of the stored one does not write either.
    let written = store
        .put_many_if(&[(context("t2", 3, None), Some(2))])
        .await
        .unwrap();
    assert!(written.is_empty(), "{written:?}");
    assert_eq!(revisions(store.as_ref(), &["t2"]).await, [Some(1)]);
    // Nothing to write writes nothing.
    assert!(store.put_many_if(&[]).await.unwrap().is_empty());
}

/// Each context is deleted only at the expected revision; the tenants
/// deleted are returned, a changed or absent context is left alone, and a
/// deleted tenant is gone by id and by host.
pub(crate) async fn delete_many_if_deletes_only_at_the_expected_revision(
    store: Arc<dyn TenantContexts>,
) {
    store
        .put(&context("t1", 1, Some("one.tenantry.test")))
        .await
        .unwrap();
    store.put(&context("t2", 1, None)).await.unwrap();
    store.put(&context("t2", 2, None)).await.unwrap();
    assert_eq!(
        revisions(store.as_ref(), &["t1", "t2"]).await,
        [Some(1), Some(2)]
    );
    let deleted = store
        .delete_many_if(&[
            (tenant("t1"), 1),
            // Read at revision 1; written again since.
            (tenant("t2"), 1),
            // Never stored.
            (tenant("t3"), 1),
        ])
        .await
        .unwrap();
    assert_eq!(deleted, set(&["t1"]));
    assert_eq!(store.get(&tenant("t1")).await.unwrap(), None);
    assert_eq!(store.get_by_host("one.tenantry.test").await.unwrap(), None);
    assert_eq!(
        revisions(store.as_ref(), &["t1", "t2", "t3"]).await,
        [None, Some(2), None]
    );
    assert_eq!(
        store.delete_many_if(&[(tenant("t2"), 2)]).await.unwrap(),
        set(&["t2"])
    );
    assert!(store.all().await.unwrap().is_empty());
    assert!(store.delete_many_if(&[]).await.unwrap().is_empty());
}

async fn context_of(store: &Arc<dyn TenantContexts>, tenant_id: &str) -> TenantContext {
    store.get(&tenant(tenant_id)).await.unwrap().unwrap()
}

/// A writer that read a context before another writer replaced it cannot
/// write its (older) context over the newer one; read again, it sees the
/// newer one and its revision.
pub(crate) async fn a_stale_writer_never_overwrites_a_newer_context(
    store: Arc<dyn TenantContexts>,
) {
    let t1 = tenant("t1");
    store.put(&context("t1", 1, None)).await.unwrap();
    // Both read revision 1.
    let (_, read) = store.get_many(&[&t1]).await.unwrap().remove(&t1).unwrap();
    assert_eq!(read, 1);
    let newer = context("t1", 5, None);
    let stale = context("t1", 3, None);
    assert_eq!(
        store
            .put_many_if(&[(newer.clone(), Some(read))])
            .await
            .unwrap(),
        set(&["t1"])
    );
    assert!(
        store
            .put_many_if(&[(stale, Some(read))])
            .await
            .unwrap()
            .is_empty(),
        "the stale writer lost"
    );
    assert_eq!(
        store.get_many(&[&t1]).await.unwrap().remove(&t1),
        Some((newer, 2))
    );
}

/// Two writers read the same revision of one tenant and write at once,
/// round after round: exactly one wins each round, the stored context is
/// the winner's, and the revision counts one write per round.
pub(crate) async fn of_two_concurrent_writers_on_one_tenant_one_wins(
    store: Arc<dyn TenantContexts>,
) {
    let t1 = tenant("t1");
    store.put(&context("t1", 1, None)).await.unwrap();
    const ROUNDS: i64 = 20;
    for round in 1..=ROUNDS {
        let (_, read) = store.get_many(&[&t1]).await.unwrap().remove(&t1).unwrap();
        assert_eq!(read, round);
        let writers: Vec<_> = [2 * round, 2 * round + 1]
            .into_iter()
            .map(|sequence| {
                let store = Arc::clone(&store);
                let mine = context("t1", sequence, None);
                tokio::spawn(async move {
                    let written = store.put_many_if(&[(mine.clone(), Some(read))]).await;
                    (mine, written.unwrap().contains(&tenant("t1")))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for writer in writers {
            let (mine, won) = writer.await.unwrap();
            if won {
                winners.push(mine);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            store.get_many(&[&t1]).await.unwrap().remove(&t1),
            Some((winners.remove(0), read + 1)),
            "round {round}"
        );
    }
}

/// `all` lists every context in tenant id order; `clear` deletes them all
/// and says how many.
pub(crate) async fn all_lists_every_context_by_tenant_and_clear_empties_it(
    store: Arc<dyn TenantContexts>,
) {
    assert!(store.all().await.unwrap().is_empty());
    let contexts = [
        context("t3", 1, None),
        context("t1", 2, Some("one.tenantry.test")),
        context("t2", 1, None),
    ];
    for context in &contexts {
        store.put(context).await.unwrap();
    }
    assert_eq!(
        store.all().await.unwrap(),
        vec![
            contexts[1].clone(),
            contexts[2].clone(),
            contexts[0].clone()
        ]
    );
    assert_eq!(store.clear().await.unwrap(), 3);
    assert!(store.all().await.unwrap().is_empty());
    assert_eq!(store.get(&tenant("t1")).await.unwrap(), None);
    assert_eq!(store.get_by_host("one.tenantry.test").await.unwrap(), None);
    assert_eq!(store.clear().await.unwrap(), 0);
    // After a clear a tenant starts again at revision 1.
    assert_eq!(
        store
            .put_many_if(&[(contexts[1].clone(), None)])
            .await
            .unwrap(),
        set(&["t1"])
    );
    assert_eq!(revisions(store.as_ref(), &["t1"]).await, [Some(1)]);
}

/// A reachable store answers `ping`, and keeps answering reads after.
pub(crate) async fn ping_answers(store: Arc<dyn TenantContexts>) {
    store.ping().await.unwrap();
    store.put(&context("t1", 1, None)).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(revisions(store.as_ref(), &["t1"]).await, [Some(1)]);
}
