use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use tenantry_sagas::{ContextChange, ContextsError, TenantContext};

/// A store that has no context and counts how often it is read.
#[derive(Debug, Default)]
struct CountingStore {
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl TenantContexts for CountingStore {
    async fn get(&self, _: &TenantId) -> Result<Option<TenantContext>, ContextsError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }
    async fn get_by_host(&self, _: &str) -> Result<Option<TenantContext>, ContextsError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }
    async fn get_many(
        &self,
        _: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, ContextsError> {
        unreachable!("the API does not read many")
    }
    async fn put_many_if(
        &self,
        _: &[(TenantContext, Option<i64>)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        unreachable!("the API does not write")
    }
    async fn delete_many_if(
        &self,
        _: &[(TenantId, i64)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        unreachable!("the API does not delete")
    }
    async fn put(&self, _: &TenantContext) -> Result<(), ContextsError> {
        unreachable!("the API does not write")
    }
    async fn all(&self) -> Result<Vec<TenantContext>, ContextsError> {
        unreachable!("the API does not list")
    }
    async fn ping(&self) -> Result<(), ContextsError> {
        Ok(())
    }
    async fn clear(&self) -> Result<u64, ContextsError> {
        unreachable!("the API does not clear")
    }
}

fn change(tenant: &str, sequence: i64) -> ContextChange {
    let mut context = TenantContext::empty(TenantId::parse(tenant).unwrap());
    context.state.commerce_sequence = sequence;
    context.version.provisioning_sequence = sequence;
    ContextChange {
        revision: sequence,
        context,
    }
}

#[tokio::test]
async fn a_waiter_reads_the_store_at_its_start_and_end_not_at_every_update() {
    let store = Arc::new(CountingStore::default());
    let cache = Arc::new(ContextCache::new(crate::cache::DEFAULT_CAPACITY_BYTES));
    let (_status, follower) = watch::channel(FollowStatus {
        caught_up: true,
        ..FollowStatus::default()
    });
    let source = ContextSource::cached(cache.clone(), follower, Some(store.clone()));
    let writer = tokio::spawn(async move {
        for n in 0..50 {
            cache.apply(&change(&format!("other-{n}"), 1));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        cache.apply(&change("ghost", 3));
    });
    let ghost = TenantId::parse("ghost").unwrap();
    let found = source
        .get_at_least(Lookup::Tenant(&ghost), 3, Duration::from_secs(5))
        .await
        .unwrap();
    writer.await.unwrap();
    assert_eq!(found.map(|served| served.commerce_sequence), Some(3));
    assert_eq!(
        store.reads.load(Ordering::SeqCst),
        1,
        "one store read, at the start"
    );

    // Never arriving: one more read when the wait ends, none in between.
    let nobody = TenantId::parse("nobody").unwrap();
    let found = source
        .get_at_least(Lookup::Tenant(&nobody), 1, Duration::from_millis(50))
        .await
        .unwrap();
    assert!(found.is_none());
    assert_eq!(store.reads.load(Ordering::SeqCst), 3);
}
