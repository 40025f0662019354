//! [`ContextCache`]: the tenant contexts this API instance serves from
//! memory, bounded in bytes, each kept at the newest version it was given.
//!
//! The cache is modelled on the seed vendor's node-local tenant context
//! cache (InfoQ, 2022: a sidecar cache kept fresh by invalidation, hit ratio
//! above 99.5 %): it is filled from the context changelog
//! ([`crate::changelog`]) and, in the API, from the store on a miss.
//!
//! Rules:
//! - **Keyed by tenant.** A context is stored under its tenant id only; a
//!   site host maps to a tenant id, and a lookup by host returns the
//!   tenant's entry only when that entry still names the host. A host can
//!   therefore never lead to another tenant's context, whatever order the
//!   changelog's partitions interleave in.
//! - **Monotonic.** An entry is replaced only by a higher version: the
//!   context's provisioning sequence (`version.provisioning_sequence`, the
//!   tenant-state record it shows). It identifies a context in every store
//!   and survives `tenantry replay`, which rebuilds the same contexts under
//!   new store revisions. A late store read or a redelivered changelog
//!   record never brings an older context back.
//! - **Bounded in bytes.** Each entry weighs its encoded JSON body plus a
//!   fixed overhead ([`ENTRY_OVERHEAD`]); host entries weigh the host name
//!   plus the tenant id plus [`HOST_ENTRY_OVERHEAD`]. The bound is on this
//!   estimate, calibrated against the process's resident memory. moka evicts by its TinyLFU policy beyond the bound;
//!   evictions are counted ([`ContextCache::evictions`]), since after one a
//!   miss no longer proves that a tenant is unknown.
//! - **Served as encoded.** An entry holds the response body (the
//!   [`ContextView`] JSON) and its `ETag`, encoded once when the version
//!   arrives, so a lookup copies nothing.

use axum::body::Bytes;
use axum::http::HeaderValue;
use metrics::{Counter, Gauge};
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tenantry_sagas::{ContextChange, TenantContext, TenantStatus};
use tenantry_schemas::TenantId;
use tokio::sync::watch;

use crate::metrics::{CACHE_BYTES, CACHE_ENTRIES, CACHE_EVICTIONS_TOTAL, CACHE_LOOKUPS_TOTAL};
use crate::view::ContextView;

/// Bytes counted for a context entry on top of its body: the key, the
/// [`Served`] fields, the `Arc`, moka's bookkeeping and the allocator's
/// slack. Calibrated on `tenantry bench api`: 100,000 contexts of about
/// 700 bytes of JSON grew the sidecar's RSS by about 2.1 KiB each (after
/// the process and librdkafka's buffers), host entries included.
pub const ENTRY_OVERHEAD: u32 = 1024;

/// Bytes counted for a host entry on top of the host name and tenant id.
pub const HOST_ENTRY_OVERHEAD: u32 = 320;

/// Default bound of a cache: 512 MiB, room for about 250,000 tenants of the
/// size above.
pub const DEFAULT_CAPACITY_BYTES: u64 = 512 * 1024 * 1024;

/// One context version as it is served.
#[derive(Debug)]
pub struct Served {
    /// Whose context.
    pub tenant_id: TenantId,
    /// The version: the provisioning sequence of the tenant-state record the
    /// context shows (`version.provisioning_sequence`).
    pub version: i64,
    /// The last commerce sequence it reflects (`version.commerce_sequence`).
    pub commerce_sequence: i64,
    /// The tenant was destroyed (served as `410`).
    pub destroyed: bool,
    /// Its site host, lower case, once step 2 created it.
    pub host: Option<String>,
    /// The `200` body: the [`ContextView`] as JSON.
    pub body: Bytes,
    /// `ETag`: the version, quoted (`"4"`): a strong validator, since one
    /// tenant-state record always gives the same context and body.
    pub etag: HeaderValue,
}

impl Served {
    /// Encodes `context`.
    pub fn new(context: &TenantContext) -> Self {
        let view = ContextView::from(context);
        let version = context.version.provisioning_sequence;
        let body = serde_json::to_vec(&view).expect("a context view encodes as JSON");
        Self {
            tenant_id: context.tenant_id.clone(),
            version,
            commerce_sequence: context.state.commerce_sequence,
            destroyed: context.state.status == TenantStatus::Destroyed,
            host: context.state.site_host.clone(),
            body: Bytes::from(body),
            etag: etag(version),
        }
    }

    fn weight(&self) -> u32 {
        u32::try_from(self.body.len())
            .unwrap_or(u32::MAX)
            .saturating_add(ENTRY_OVERHEAD)
    }
}

/// The `ETag` of a version: `"<provisioning sequence>"`.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header value")
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Tenant(TenantId),
    Host(Box<str>),
}

#[derive(Debug, Clone)]
enum Value {
    Context(Arc<Served>),
    Host(TenantId),
}

/// What [`ContextCache::offer`] did with a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// It is now the served version of its tenant.
    Stored,
    /// The cache already had this version or a newer one.
    NotNewer,
}

/// The cache; share it behind an `Arc`. Lookups take no lock of ours and
/// never wait on anything.
#[derive(Debug)]
pub struct ContextCache {
    entries: moka::sync::Cache<Key, Value>,
    capacity_bytes: u64,
    evictions: Arc<AtomicU64>,
    /// Bumped after every version stored; waiters for a newer version
    /// (`min_sequence`) watch it.
    updates: watch::Sender<u64>,
    hits: Counter,
    misses: Counter,
    entries_gauge: Gauge,
    bytes_gauge: Gauge,
}

impl ContextCache {
    /// An empty cache holding at most about `capacity_bytes` (see the
    /// module docs for what an entry weighs).
    pub fn new(capacity_bytes: u64) -> Self {
        // The counters below are bound to the recorder installed when they
        // are registered: the services build the cache before the router
        // (which installs the recorder), and without this the cache's
        // metrics would be no-ops that `/metrics` never shows.
        crate::metrics::install_recorder();
        let evictions = Arc::new(AtomicU64::new(0));
        let evicted = evictions.clone();
        let evictions_total = metrics::counter!(CACHE_EVICTIONS_TOTAL);
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &Key, value: &Value| match (key, value) {
                (_, Value::Context(served)) => served.weight(),
                (Key::Host(host), Value::Host(tenant)) => {
                    u32::try_from(host.len() + tenant.as_str().len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(HOST_ENTRY_OVERHEAD)
                }
                (Key::Tenant(_), Value::Host(_)) => ENTRY_OVERHEAD,
            })
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evictions_total.increment(1);
                    if evicted.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(capacity_bytes, "Context cache full: evicting to stay within its bound. A cache without a store (context-sidecar) then answers 503 context_not_cached for what it evicted; raise --cache-mib.");
                    }
                }
            })
            .build();
        Self {
            entries,
            capacity_bytes,
            evictions,
            updates: watch::Sender::new(0),
            hits: metrics::counter!(CACHE_LOOKUPS_TOTAL, "result" => "hit"),
            misses: metrics::counter!(CACHE_LOOKUPS_TOTAL, "result" => "miss"),
            entries_gauge: metrics::gauge!(CACHE_ENTRIES),
            bytes_gauge: metrics::gauge!(CACHE_BYTES),
        }
    }

    /// The bound given to [`ContextCache::new`].
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Entries dropped to stay within the bound since the cache was made.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Entries (contexts and host names) and their weight in bytes, after
    /// moka has applied pending writes.
    pub fn size(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        let size = (self.entries.entry_count(), self.entries.weighted_size());
        self.entries_gauge.set(size.0 as f64);
        self.bytes_gauge.set(size.1 as f64);
        size
    }

    /// A receiver that changes after every version stored.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// Offers a changelog record: stored when newer than what the cache has.
    pub fn apply(&self, change: &ContextChange) -> Offer {
        self.offer(Arc::new(Served::new(&change.context)))
    }

    /// Forgets `tenant` (its context was deleted from the store: a
    /// changelog tombstone), and its host if the host still names it. A
    /// later version of the tenant is stored again as new.
    pub fn remove(&self, tenant: &TenantId) {
        let removed = self.entries.remove(&Key::Tenant(tenant.clone()));
        if let Some(Value::Context(old)) = removed
            && let Some(host) = old.host.as_deref()
        {
            self.entries
                .entry(Key::Host(host.into()))
                .and_compute_with(|current| match current {
                    Some(entry) if matches!(entry.value(), Value::Host(t) if t == tenant) => {
                        Op::Remove
                    }
                    _ => Op::Nop,
                });
        }
        self.updates.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Stores `served` unless the cache has its version or a newer one;
    /// then points its host at its tenant (see the module docs).
    pub fn offer(&self, served: Arc<Served>) -> Offer {
        let mut replaced: Option<Arc<Served>> = None;
        let result = self
            .entries
            .entry(Key::Tenant(served.tenant_id.clone()))
            .and_compute_with(|current| {
                if let Some(entry) = current
                    && let Value::Context(old) = entry.into_value()
                {
                    if old.version >= served.version {
                        return Op::Nop;
                    }
                    replaced = Some(old);
                }
                Op::Put(Value::Context(served.clone()))
            });
        if matches!(result, moka::ops::compute::CompResult::Unchanged(_)) {
            return Offer::NotNewer;
        }
        if let Some(old_host) = replaced.as_ref().and_then(|old| old.host.as_deref())
            && served.host.as_deref() != Some(old_host)
        {
            // The tenant left this host: forget the mapping if it is still ours.
            let key = Key::Host(old_host.into());
            self.entries.entry(key).and_compute_with(|current| match current {
                Some(entry) if matches!(entry.value(), Value::Host(t) if *t == served.tenant_id) => {
                    Op::Remove
                }
                _ => Op::Nop,
            });
        }
        if let Some(host) = &served.host {
            self.claim_host(host, &served);
        }
        self.updates.send_modify(|n| *n = n.wrapping_add(1));
        Offer::Stored
    }

    /// Points `host` at `served`'s tenant unless another tenant holds it
    /// and should keep it: as in the store, a tenant that is not destroyed
    /// wins over a destroyed one; between two live ones the latest offered
    /// wins.
    fn claim_host(&self, host: &str, served: &Served) {
        let holder_alive = |tenant: &TenantId| {
            tenant != &served.tenant_id
                && matches!(
                    self.entries.get(&Key::Tenant(tenant.clone())),
                    Some(Value::Context(other))
                        if !other.destroyed && other.host.as_deref() == Some(host)
                )
        };
        let current = match self.entries.get(&Key::Host(host.into())) {
            Some(Value::Host(tenant)) => Some(tenant),
            _ => None,
        };
        match current {
            Some(tenant) if tenant == served.tenant_id => {}
            Some(tenant) if served.destroyed && holder_alive(&tenant) => {}
            _ => self.entries.insert(
                Key::Host(host.into()),
                Value::Host(served.tenant_id.clone()),
            ),
        }
    }

    /// The context of `tenant`, counting a hit or a miss.
    pub fn get(&self, tenant: &TenantId) -> Option<Arc<Served>> {
        self.count(self.peek(tenant))
    }

    /// The context of the tenant whose site host is `host` (lower case),
    /// counting a hit or a miss. Only an entry that names `host` itself is
    /// returned.
    pub fn get_by_host(&self, host: &str) -> Option<Arc<Served>> {
        self.count(self.peek_by_host(host))
    }

    /// [`ContextCache::get`] without counting: a second look within one
    /// request.
    pub fn peek(&self, tenant: &TenantId) -> Option<Arc<Served>> {
        // moka keys are looked up by `Borrow`; the enum key is built from
        // a clone of the id (one small allocation).
        match self.entries.get(&Key::Tenant(tenant.clone())) {
            Some(Value::Context(served)) => Some(served),
            _ => None,
        }
    }

    /// [`ContextCache::get_by_host`] without counting.
    pub fn peek_by_host(&self, host: &str) -> Option<Arc<Served>> {
        match self.entries.get(&Key::Host(host.into())) {
            Some(Value::Host(tenant)) => match self.entries.get(&Key::Tenant(tenant)) {
                Some(Value::Context(served)) if served.host.as_deref() == Some(host) => {
                    Some(served)
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn count(&self, found: Option<Arc<Served>>) -> Option<Arc<Served>> {
        if found.is_some() {
            self.hits.increment(1);
        } else {
            self.misses.increment(1);
        }
        found
    }
}

#[cfg(test)]
mod tests;
