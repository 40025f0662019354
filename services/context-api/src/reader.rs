//! [`ContextSource`]: where the API finds a context — its cache, the store,
//! or both — and how a caller waits for a version that reflects at least a
//! given commerce sequence (read-your-writes).

use std::sync::Arc;
use std::time::Duration;

use tenantry_sagas::TenantContexts;
use tenantry_schemas::TenantId;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cache::{ContextCache, Served};
use crate::changelog::FollowStatus;
use crate::error::ApiError;
use crate::host::SiteHost;

/// How often a source without a cache reads the store again while a caller
/// waits for a newer version.
const STORE_POLL: Duration = Duration::from_millis(25);

/// What a request looks up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup<'a> {
    /// `GET /v1/tenants/{tenant_id}/context`.
    Tenant(&'a TenantId),
    /// `GET /v1/sites/{host}/context`.
    Host(&'a SiteHost),
}

/// The API's contexts. Three shapes:
///
/// - [`ContextSource::store`]: every lookup reads the store (no cache).
/// - [`ContextSource::cached`] with a store (`tenantry context-api`): the
///   cache, filled from the changelog; a miss reads the store and keeps
///   what it read.
/// - [`ContextSource::cached`] without a store (`tenantry context-sidecar`):
///   memory only. A miss is `404` once the changelog is read to its end
///   while nothing was ever evicted (the cache then holds every tenant the
///   changelog has), else `503` `context_not_cached` (still warming, or the
///   bound is too small for the tenants).
#[derive(Debug, Clone)]
pub struct ContextSource {
    cache: Option<Arc<ContextCache>>,
    store: Option<Arc<dyn TenantContexts>>,
    follower: Option<watch::Receiver<FollowStatus>>,
}

impl ContextSource {
    /// Reads `store` on every lookup.
    pub fn store(store: Arc<dyn TenantContexts>) -> Self {
        Self {
            cache: None,
            store: Some(store),
            follower: None,
        }
    }

    /// Serves from `cache`, kept by the changelog follower whose status is
    /// `follower` ([`crate::changelog::follow`]); misses read `store` when
    /// there is one.
    pub fn cached(
        cache: Arc<ContextCache>,
        follower: watch::Receiver<FollowStatus>,
        store: Option<Arc<dyn TenantContexts>>,
    ) -> Self {
        Self {
            cache: Some(cache),
            store,
            follower: Some(follower),
        }
    }

    /// The cache, when there is one.
    pub fn cache(&self) -> Option<&Arc<ContextCache>> {
        self.cache.as_ref()
    }

    /// `Ok` when lookups can be served: the store answers (when there is
    /// one, within `timeout`) and the cache has read the changelog to its end
    /// (when there is one). `Err` says why not.
    pub async fn ready(&self, timeout: Duration) -> Result<(), String> {
        if let Some(follower) = &self.follower {
            let status = follower.borrow().clone();
            if let Some(waiting) = status.waiting {
                return Err(waiting);
            }
            if !status.caught_up {
                return Err(format!(
                    "context cache warming: {} changelog records read",
                    status.records
                ));
            }
        }
        if let Some(store) = &self.store {
            match tokio::time::timeout(timeout, store.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(format!("database error: {error}")),
                Err(_) => {
                    return Err(format!(
                        "database did not answer within {} ms",
                        timeout.as_millis()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The context `lookup` names, as served now.
    pub(crate) async fn get(&self, lookup: Lookup<'_>) -> Result<Option<Arc<Served>>, ApiError> {
        if let Some(cache) = &self.cache {
            let hit = match lookup {
                Lookup::Tenant(tenant) => cache.get(tenant),
                Lookup::Host(host) => cache.get_by_host(host.as_str()),
            };
            if hit.is_some() {
                return Ok(hit);
            }
        }
        self.miss(lookup).await
    }

    /// The cache only, uncounted: a waiter looking again after an update.
    fn peek(&self, lookup: Lookup<'_>) -> Option<Arc<Served>> {
        let cache = self.cache.as_ref()?;
        match lookup {
            Lookup::Tenant(tenant) => cache.peek(tenant),
            Lookup::Host(host) => cache.peek_by_host(host.as_str()),
        }
    }

    /// A lookup the cache could not answer (or no cache): the store.
    async fn miss(&self, lookup: Lookup<'_>) -> Result<Option<Arc<Served>>, ApiError> {
        let Some(store) = &self.store else {
            return self.memory_miss();
        };
        let read = read_store(&**store, lookup).await?;
        match (&self.cache, read) {
            (Some(cache), Some(served)) => {
                cache.offer(served.clone());
                // Another version may have arrived meanwhile; serve the newest.
                let newest = match lookup {
                    Lookup::Tenant(tenant) => cache.get(tenant),
                    Lookup::Host(host) => cache.get_by_host(host.as_str()),
                };
                Ok(newest
                    .filter(|n| n.version >= served.version)
                    .or(Some(served)))
            }
            (_, read) => Ok(read),
        }
    }

    /// A miss without a store: authoritative only when the cache holds
    /// everything the changelog has.
    fn memory_miss(&self) -> Result<Option<Arc<Served>>, ApiError> {
        if let Some(follower) = &self.follower
            && !follower.borrow().caught_up
        {
            return Err(ApiError::NotCached(
                "the context cache has not read the changelog to its end yet",
            ));
        }
        match &self.cache {
            Some(cache) if cache.evictions() > 0 => Err(ApiError::NotCached(
                "the context cache evicted contexts to stay within its bound; raise --cache-mib",
            )),
            _ => Ok(None),
        }
    }

    /// [`ContextSource::get`], waiting up to `wait` for a version that
    /// reflects at least commerce sequence `min_sequence`. Returns the
    /// newest version it has when the wait ends (older than asked, or
    /// `None`, when none arrived in time).
    pub(crate) async fn get_at_least(
        &self,
        lookup: Lookup<'_>,
        min_sequence: i64,
        wait: Duration,
    ) -> Result<Option<Arc<Served>>, ApiError> {
        let fresh = |found: &Option<Arc<Served>>| {
            found
                .as_ref()
                .is_some_and(|served| served.commerce_sequence >= min_sequence)
        };
        let deadline = Instant::now() + wait;
        let Some(cache) = &self.cache else {
            // No cache to wake the waiter: read the store again now and then.
            loop {
                let found = self.get(lookup).await?;
                let now = Instant::now();
                if fresh(&found) || now >= deadline {
                    return Ok(found);
                }
                tokio::time::sleep_until((now + STORE_POLL).min(deadline)).await;
            }
        };
        let mut updates = cache.subscribe();
        updates.borrow_and_update();
        let found = self.get(lookup).await?;
        if fresh(&found) {
            return Ok(found);
        }
        // New versions reach the cache from the changelog: each one wakes
        // the waiter, which looks in the cache only (a store read per
        // wake-up would cost the store one read per waiter per version of
        // any tenant).
        loop {
            match tokio::time::timeout_at(deadline, updates.changed()).await {
                Ok(Ok(())) => {
                    updates.borrow_and_update();
                    let seen = self.peek(lookup);
                    if fresh(&seen) {
                        return Ok(seen);
                    }
                }
                // Out of time, or the cache is gone (shutdown): one last
                // ordinary lookup answers with the newest there is.
                Ok(Err(_)) | Err(_) => return self.get(lookup).await,
            }
        }
    }
}

/// One store read of `lookup`.
async fn read_store(
    store: &dyn TenantContexts,
    lookup: Lookup<'_>,
) -> Result<Option<Arc<Served>>, ApiError> {
    let context = match lookup {
        Lookup::Tenant(tenant) => store.get(tenant).await?,
        Lookup::Host(host) => store.get_by_host(host.as_str()).await?,
    };
    Ok(context.map(|context| Arc::new(Served::new(&context))))
}

#[cfg(test)]
mod tests;
