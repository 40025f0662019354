//! The data-key cache in front of `GenerateDataKey` (case K3).
//!
//! One slot per [`CacheKey`] (tenant + encryption context). A slot is a
//! `tokio::sync::OnceCell`: the first seal that misses runs the generation,
//! every concurrent seal of the same key awaits that one call and shares its
//! result — the data key, or the error. A data key is retired when it has
//! sealed [`CacheLimits::max_seals`] values or is [`CacheLimits::ttl`] old,
//! whichever comes first (seed, "Cryptographic key management": "rotated after
//! reaching either five million operations or 24 hours").

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use aes_gcm::Aes256Gcm;
use std::time::{Duration, Instant};
use tenantry_schemas::TenantId;
use tokio::sync::OnceCell;

use super::events::DataKeyLookup;
use crate::KeyError;
use tenantry_telemetry::metrics::Event as _;

/// Usage limits of a cached data key, and the size of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Seals one data key may perform before a new one is generated.
    /// Default 5,000,000 (seed). Clamped to 1..=2^32: NIST SP 800-38D §8.3
    /// caps random-nonce GCM at 2^32 invocations per key.
    pub max_seals: u64,
    /// Age after which a data key is no longer used to seal. Default 24 h (seed).
    pub ttl: Duration,
    /// Cached data keys at most (one per tenant and context); when full, expired
    /// entries are dropped, then the oldest. Default 10,000.
    pub max_entries: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_seals: 5_000_000,
            ttl: Duration::from_secs(24 * 60 * 60),
            max_entries: 10_000,
        }
    }
}

/// NIST SP 800-38D §8.3: at most 2^32 random-nonce encryptions per key.
const MAX_SEALS_PER_KEY: u64 = 1 << 32;

/// Tenant and encryption context: t13's data key never seals t14's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub tenant: TenantId,
    /// Encryption context pairs, sorted by name.
    pub context: Vec<(String, String)>,
}

/// A plaintext data key, ready to seal, and its wrapped form for the header.
pub(crate) struct DataKey {
    pub cipher: Aes256Gcm,
    pub wrapped: Vec<u8>,
}

struct Entry {
    data_key: Arc<DataKey>,
    created: Instant,
    seals: AtomicU64,
}

type Slot = Arc<OnceCell<Result<Arc<Entry>, KeyError>>>;

/// The monotonic clock of the cache; tests substitute a manual one.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// See the module documentation.
pub(crate) struct DataKeyCache {
    limits: CacheLimits,
    clock: Clock,
    /// A std mutex: it is never held across an await, only to find a slot.
    slots: Mutex<HashMap<CacheKey, Slot>>,
}

impl DataKeyCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self::with_clock(limits, Arc::new(Instant::now))
    }

    pub fn with_clock(mut limits: CacheLimits, clock: Clock) -> Self {
        limits.max_seals = limits.max_seals.clamp(1, MAX_SEALS_PER_KEY);
        Self {
            limits,
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn age(&self, entry: &Entry) -> Duration {
        (self.clock)().saturating_duration_since(entry.created)
    }

    /// A data key for one more seal under `key`, calling `generate` on a miss
    /// (at most one call in flight per key). A generation error is returned
    /// to every waiter of that call and not cached. Emits one
    /// [`DataKeyLookup`]: a miss when this call ran `generate`, a hit
    /// otherwise (a waiter on another seal's `generate` makes no KMS call).
    pub async fn data_key<F, Fut>(
        &self,
        key: &CacheKey,
        generate: F,
    ) -> Result<Arc<DataKey>, KeyError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<DataKey, KeyError>>,
    {
        let generated = AtomicBool::new(false);
        let result = self
            .lookup(key, || {
                generated.store(true, Ordering::Relaxed);
                generate()
            })
            .await;
        DataKeyLookup {
            hit: !generated.load(Ordering::Relaxed),
        }
        .emit();
        result
    }

    async fn lookup<F, Fut>(&self, key: &CacheKey, generate: F) -> Result<Arc<DataKey>, KeyError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<DataKey, KeyError>>,
    {
        loop {
            let slot = self.slot(key);
            let outcome = slot
                .get_or_init(|| async {
                    let data_key = Arc::new(generate().await?);
                    Ok(Arc::new(Entry {
                        data_key,
                        created: (self.clock)(),
                        seals: AtomicU64::new(0),
                    }))
                })
                .await;
            match outcome {
                Err(error) => {
                    self.remove(key, &slot);
                    return Err(error.clone());
                }
                Ok(entry) => {
                    let seals = entry.seals.fetch_add(1, Ordering::Relaxed) + 1;
                    // The first seal always proceeds, so even a degenerate
                    // limit (ttl of zero) makes progress.
                    if seals == 1
                        || (seals <= self.limits.max_seals && self.age(entry) < self.limits.ttl)
                    {
                        return Ok(entry.data_key.clone());
                    }
                    self.remove(key, &slot);
                }
            }
        }
    }

    /// Forgets every data key of `tenant` (before its key is destroyed).
    pub fn evict_tenant(&self, tenant: &TenantId) {
        self.lock().retain(|key, _| key.tenant != *tenant);
    }

    fn slot(&self, key: &CacheKey) -> Slot {
        let mut slots = self.lock();
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        if slots.len() >= self.limits.max_entries {
            self.make_room(&mut slots);
        }
        slots.entry(key.clone()).or_default().clone()
    }

    fn make_room(&self, slots: &mut HashMap<CacheKey, Slot>) {
        let expired = |entry: &Entry| {
            self.age(entry) >= self.limits.ttl
                || entry.seals.load(Ordering::Relaxed) >= self.limits.max_seals
        };
        // Slots still generating (no value yet) are kept: callers await them.
        slots.retain(|_, slot| !matches!(slot.get(), Some(Ok(entry)) if expired(entry)));
        slots.retain(|_, slot| !matches!(slot.get(), Some(Err(_))));
        if slots.len() >= self.limits.max_entries {
            let oldest = slots
                .iter()
                .filter_map(|(key, slot)| match slot.get() {
                    Some(Ok(entry)) => Some((entry.created, key.clone())),
                    _ => None,
                })
                .min_by_key(|(created, _)| *created);
            if let Some((_, key)) = oldest {
                slots.remove(&key);
            }
        }
    }

    /// Removes `key`'s slot if it is still `slot` (a newer one is kept).
    fn remove(&self, key: &CacheKey, slot: &Slot) {
        let mut slots = self.lock();
        if slots
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
        {
            slots.remove(key);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Slot>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every change is one HashMap call), so poisoning is ignored.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of cached slots (tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests;
