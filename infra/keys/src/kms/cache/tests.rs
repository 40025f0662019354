use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};
use tenantry_schemas::TenantId;

use super::{CacheKey, CacheLimits, Clock, DataKey, DataKeyCache};
use crate::KeyError;

fn key(tenant: &str) -> CacheKey {
    CacheKey {
        tenant: TenantId::parse(tenant).unwrap(),
        context: vec![("tenant_id".into(), tenant.into())],
    }
}

/// A clock that moves only when told to.
#[derive(Clone)]
struct ManualClock {
    start: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            offset_ms: Arc::default(),
        }
    }

    fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    fn clock(&self) -> Clock {
        let this = self.clone();
        Arc::new(move || this.start + Duration::from_millis(this.offset_ms.load(Ordering::SeqCst)))
    }
}

/// A generator that counts its calls, takes 10 ms and wraps
/// the data key as the call number, so tests can tell keys apart.
#[derive(Default)]
struct Generator {
    calls: AtomicU64,
}

impl Generator {
    async fn generate(&self) -> Result<DataKey, KeyError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(DataKey {
            cipher: crate::envelope::cipher(&[7; 32]).unwrap(),
            wrapped: n.to_be_bytes().to_vec(),
        })
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

fn limits(max_seals: u64, ttl_secs: u64) -> CacheLimits {
    CacheLimits {
        max_seals,
        ttl: Duration::from_secs(ttl_secs),
        max_entries: 100,
    }
}

#[tokio::test]
async fn concurrent_misses_share_one_generation() {
    let cache = Arc::new(DataKeyCache::new(CacheLimits::default()));
    let generator = Arc::new(Generator::default());
    let seals = (0..64).map(|_| {
        let (cache, generator) = (cache.clone(), generator.clone());
        tokio::spawn(async move {
            cache
                .data_key(&key("t13"), || generator.generate())
                .await
                .unwrap()
                .wrapped
                .clone()
        })
    });
    let seals: Vec<_> = seals.collect(); // all spawned before any is awaited
    for seal in seals {
        assert_eq!(seal.await.unwrap(), 1u64.to_be_bytes());
    }
    assert_eq!(generator.calls(), 1);
}

#[tokio::test]
async fn rotates_after_max_seals() {
    let cache = DataKeyCache::new(limits(3, 3600));
    let generator = Generator::default();
    let mut wrapped = Vec::new();
    for _ in 0..7 {
        wrapped.push(
            cache
                .data_key(&key("t1"), || generator.generate())
                .await
                .unwrap()
                .wrapped[7],
        );
    }
    assert_eq!(wrapped, [1, 1, 1, 2, 2, 2, 3]);
    assert_eq!(generator.calls(), 3);
}

#[tokio::test]
async fn rotates_after_ttl() {
    let clock = ManualClock::new();
    let cache = DataKeyCache::with_clock(limits(1_000, 60), clock.clock());
    let generator = Generator::default();
    cache
        .data_key(&key("t1"), || generator.generate())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(59));
    cache
        .data_key(&key("t1"), || generator.generate())
        .await
        .unwrap();
    assert_eq!(generator.calls(), 1);
    clock.advance(Duration::from_secs(1));
    let rotated = cache
        .data_key(&key("t1"), || generator.generate())
        .await
        .unwrap();
    assert_eq!((generator.calls(), rotated.wrapped[7]), (2, 2));
}

#[tokio::test]
async fn tenants_never_share_a_data_key() {
    let cache = DataKeyCache::new(CacheLimits::default());
    let generator = Generator::default();
    let t13 = cache
        .data_key(&key("t13"), || generator.generate())
        .await
        .unwrap();
    let t14 = cache
        .data_key(&key("t14"), || generator.generate())
        .await
        .unwrap();
    assert_ne!(t13.wrapped, t14.wrapped);
    let other_context = CacheKey {
        context: vec![("tenant_id".into(), "t14".into())],
        ..key("t13")
    };
    cache
        .data_key(&other_context, || generator.generate())
        .await
        .unwrap();
    assert_eq!(generator.calls(), 3);
}

#[tokio::test]
async fn a_failure_reaches_every_waiter_and_is_not_cached() {
    let cache = Arc::new(DataKeyCache::new(CacheLimits::default()));
    let calls = Arc::new(AtomicU64::new(0));
    let failing = |calls: Arc<AtomicU64>| async move {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err::<DataKey, _>(KeyError::Unavailable("ThrottlingException".into()))
    };
    let waiters = (0..8).map(|_| {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .data_key(&key("t1"), || failing(calls.clone()))
                .await
                .err()
        })
    });
    let waiters: Vec<_> = waiters.collect();
    for waiter in waiters {
        assert!(waiter.await.unwrap().unwrap().is_retryable());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.len(), 0);
    let generator = Generator::default();
    cache
        .data_key(&key("t1"), || generator.generate())
        .await
        .unwrap();
    assert_eq!(generator.calls(), 1);
}

#[tokio::test]
async fn eviction_and_capacity() {
    let clock = ManualClock::new();
    let limits = CacheLimits {
        max_entries: 2,
        ..CacheLimits::default()
    };
    let cache = DataKeyCache::with_clock(limits, clock.clock());
    let generator = Generator::default();
    for tenant in ["t1", "t2", "t3"] {
        cache
            .data_key(&key(tenant), || generator.generate())
            .await
            .unwrap();
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(cache.len(), 2, "the oldest entry (t1) makes room");
    cache.evict_tenant(&TenantId::parse("t3").unwrap());
    assert_eq!(cache.len(), 1);
    cache
        .data_key(&key("t2"), || generator.generate())
        .await
        .unwrap();
    assert_eq!(generator.calls(), 3, "t2 is still cached");
}

/// A seal that generated its data key is a miss, every other a hit — a
/// rotation too is a miss (one `GenerateDataKey` each): five seals with
/// three to a key are miss, hit, hit, miss, hit.
#[tokio::test]
async fn lookups_are_counted_as_hits_and_misses() {
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
    let recorder: PrometheusRecorder = PrometheusBuilder::new().build_recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let cache = DataKeyCache::new(limits(3, 3600));
    let generator = Generator::default();
    for _ in 0..5 {
        cache
            .data_key(&key("t1"), || generator.generate())
            .await
            .unwrap();
    }
    let text = recorder.handle().render();
    for line in [
        r#"tenantry_keys_data_key_cache_lookups_total{result="miss"} 2"#,
        r#"tenantry_keys_data_key_cache_lookups_total{result="hit"} 3"#,
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
}
