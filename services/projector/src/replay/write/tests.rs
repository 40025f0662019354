use super::*;
use tenantry_sagas::TenantStatus;
use tenantry_store::memory::MemoryContexts;

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn context(id: &str, sequence: i64, status: TenantStatus) -> TenantContext {
    let mut context = TenantContext::empty(tenant(id));
    context.state.status = status;
    context.version.provisioning_sequence = sequence;
    context
}

async fn revision(store: &MemoryContexts, id: &str) -> Option<i64> {
    store
        .get_many(&[&tenant(id)])
        .await
        .unwrap()
        .remove(&tenant(id))
        .map(|(_, revision)| revision)
}

/// a: tampered (rewritten), b: equal, c: not stored (added), d: stored
/// only (removed), e: newer in the store (kept).
async fn store_and_rebuild() -> (MemoryContexts, BTreeMap<TenantId, TenantContext>) {
    let store = MemoryContexts::new();
    let active = |id, sequence| context(id, sequence, TenantStatus::Active);
    store.put(&active("a", 2)).await.unwrap();
    store.put(&active("a", 2)).await.unwrap();
    store
        .put(&context("a", 2, TenantStatus::Failed))
        .await
        .unwrap();
    store.put(&active("b", 1)).await.unwrap();
    store.put(&active("d", 1)).await.unwrap();
    store.put(&active("e", 9)).await.unwrap();
    let rebuilt = [
        active("a", 2),
        active("b", 1),
        active("c", 1),
        active("e", 5),
    ]
    .into_iter()
    .map(|c| (c.tenant_id.clone(), c))
    .collect();
    (store, rebuilt)
}

/// The tenants stored before the read: all of [`store_and_rebuild`]'s.
fn stored_before() -> std::collections::BTreeSet<TenantId> {
    ["a", "b", "d", "e"].map(tenant).into()
}

fn all() -> Vec<TenantId> {
    ["a", "b", "c", "d", "e"].map(tenant).to_vec()
}

#[tokio::test]
async fn with_delete_a_write_raises_revisions_deletes_the_removed_and_keeps_the_newer() {
    let (store, rebuilt) = store_and_rebuild().await;
    let outcome = reconcile(
        &store,
        &rebuilt,
        &stored_before(),
        &all(),
        Mode::Write,
        Missing::Delete,
    )
    .await
    .unwrap();
    assert_eq!(outcome.unchanged, 1);
    assert_eq!(outcome.newer_in_store, [tenant("e")]);
    let kinds: Vec<(&str, &str)> = outcome
        .differences
        .iter()
        .map(|d| {
            let kind = match d.difference {
                Difference::Added { .. } => "added",
                Difference::Removed { .. } => "removed",
                Difference::Changed { .. } => "changed",
            };
            (d.tenant_id.as_str(), kind)
        })
        .collect();
    assert_eq!(kinds, [("a", "changed"), ("c", "added"), ("d", "removed")]);
    assert_eq!(revision(&store, "a").await, Some(4), "3, then one more");
    assert_eq!(
        store.get(&tenant("a")).await.unwrap(),
        Some(rebuilt[&tenant("a")].clone())
    );
    assert_eq!(revision(&store, "c").await, Some(1));
    assert_eq!(revision(&store, "d").await, None);
    assert_eq!(revision(&store, "e").await, Some(1), "kept");
    assert_eq!(
        outcome.published,
        [
            Published::Version(Box::new(ContextChange {
                revision: 4,
                context: rebuilt[&tenant("a")].clone()
            })),
            Published::Version(Box::new(ContextChange {
                revision: 1,
                context: rebuilt[&tenant("c")].clone()
            })),
            Published::Removed(tenant("d")),
        ]
    );
    // Again: nothing left to do.
    let again = reconcile(
        &store,
        &rebuilt,
        &stored_before(),
        &all(),
        Mode::Write,
        Missing::Delete,
    )
    .await
    .unwrap();
    assert!(again.differences.is_empty(), "{:?}", again.differences);
    assert!(again.published.is_empty());
}

#[tokio::test]
async fn a_dry_run_reports_the_same_and_changes_nothing() {
    let (store, rebuilt) = store_and_rebuild().await;
    let before = store.all().await.unwrap();
    let outcome = reconcile(
        &store,
        &rebuilt,
        &stored_before(),
        &all(),
        Mode::DryRun,
        Missing::Delete,
    )
    .await
    .unwrap();
    assert_eq!(outcome.differences.len(), 3);
    assert!(outcome.published.is_empty());
    assert_eq!(store.all().await.unwrap(), before);
    assert_eq!(revision(&store, "a").await, Some(3));
}

#[tokio::test]
async fn by_default_a_context_the_rebuild_lacks_is_kept_and_reported_missing() {
    let (store, rebuilt) = store_and_rebuild().await;
    for mode in [Mode::DryRun, Mode::Write] {
        let outcome = reconcile(
            &store,
            &rebuilt,
            &stored_before(),
            &all(),
            mode,
            Missing::Keep,
        )
        .await
        .unwrap();
        assert_eq!(
            outcome.missing,
            [MissingContext {
                tenant_id: tenant("d"),
                revision: 1
            }],
            "{mode:?}"
        );
        assert!(
            !outcome
                .differences
                .iter()
                .any(|d| matches!(d.difference, Difference::Removed { .. })),
            "{mode:?}: {:?}",
            outcome.differences
        );
        assert!(
            !outcome
                .published
                .iter()
                .any(|p| matches!(p, Published::Removed(_))),
            "{mode:?}: no tombstone"
        );
        assert_eq!(revision(&store, "d").await, Some(1), "{mode:?}: d is kept");
    }
    // The write did the rest: a again at 4, c added; d still reported.
    assert_eq!(revision(&store, "a").await, Some(4));
    assert_eq!(revision(&store, "c").await, Some(1));
}

#[tokio::test]
async fn tenants_not_named_are_untouched() {
    let (store, rebuilt) = store_and_rebuild().await;
    let outcome = reconcile(
        &store,
        &rebuilt,
        &stored_before(),
        &[tenant("a")],
        Mode::Write,
        Missing::Delete,
    )
    .await
    .unwrap();
    assert_eq!(outcome.differences.len(), 1);
    assert_eq!(revision(&store, "d").await, Some(1), "d is not deleted");
    assert_eq!(revision(&store, "c").await, None, "c is not added");
}

/// A store whose first compare-and-set loses, as when a projector writes
/// the tenant between the replay's read and its write.
#[derive(Debug)]
struct Racing {
    inner: MemoryContexts,
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl TenantContexts for Racing {
    async fn get(&self, t: &TenantId) -> Result<Option<TenantContext>, ContextsError> {
        self.inner.get(t).await
    }
    async fn get_by_host(&self, h: &str) -> Result<Option<TenantContext>, ContextsError> {
        self.inner.get_by_host(h).await
    }
    async fn get_many(
        &self,
        t: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, ContextsError> {
        self.inner.get_many(t).await
    }
    async fn put_many_if(
        &self,
        contexts: &[(TenantContext, Option<i64>)],
    ) -> Result<std::collections::BTreeSet<TenantId>, ContextsError> {
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // The projector's write lands first.
            let mut theirs = contexts[0].0.clone();
            theirs.state.status = TenantStatus::Failed;
            self.inner.put(&theirs).await?;
        }
        self.inner.put_many_if(contexts).await
    }
    async fn delete_many_if(
        &self,
        t: &[(TenantId, i64)],
    ) -> Result<std::collections::BTreeSet<TenantId>, ContextsError> {
        self.inner.delete_many_if(t).await
    }
    async fn put(&self, c: &TenantContext) -> Result<(), ContextsError> {
        self.inner.put(c).await
    }
    async fn all(&self) -> Result<Vec<TenantContext>, ContextsError> {
        self.inner.all().await
    }
    async fn ping(&self) -> Result<(), ContextsError> {
        Ok(())
    }
    async fn clear(&self) -> Result<u64, ContextsError> {
        self.inner.clear().await
    }
}

#[tokio::test]
async fn a_lost_compare_and_set_reads_again_and_writes_above_the_winner() {
    let (inner, rebuilt) = store_and_rebuild().await;
    let store = Racing {
        inner: inner.clone(),
        raced: false.into(),
    };
    let outcome = reconcile(
        &store,
        &rebuilt,
        &stored_before(),
        &[tenant("a")],
        Mode::Write,
        Missing::Delete,
    )
    .await
    .unwrap();
    // Read at 3, lost to the write at 4, read again, written at 5.
    assert_eq!(revision(&inner, "a").await, Some(5));
    assert_eq!(
        inner.get(&tenant("a")).await.unwrap(),
        Some(rebuilt[&tenant("a")].clone())
    );
    let [Published::Version(change)] = outcome.published.as_slice() else {
        panic!("one version published: {:?}", outcome.published);
    };
    assert_eq!(change.revision, 5);
}

#[tokio::test]
async fn a_context_stored_after_the_read_is_kept_not_deleted() {
    let (store, rebuilt) = store_and_rebuild().await;
    // d appeared in the store after the topic was read.
    let stored_before = ["a", "b", "e"].map(tenant).into();
    let outcome = reconcile(
        &store,
        &rebuilt,
        &stored_before,
        &[tenant("d")],
        Mode::Write,
        Missing::Delete,
    )
    .await
    .unwrap();
    assert_eq!(outcome.newer_in_store, [tenant("d")]);
    assert!(outcome.differences.is_empty());
    assert_eq!(revision(&store, "d").await, Some(1));
    // Kept as newer, not reported missing, by default too.
    let outcome = reconcile(
        &store,
        &rebuilt,
        &stored_before,
        &[tenant("d")],
        Mode::Write,
        Missing::Keep,
    )
    .await
    .unwrap();
    assert_eq!(outcome.newer_in_store, [tenant("d")]);
    assert!(outcome.missing.is_empty());
}
