//! `ContextCache` lookups in a cache holding 100,000 contexts: by tenant
//! id ([`ContextCache::get`]) and by site host
//! ([`ContextCache::get_by_host`]), each request of the context API makes
//! one of them. Goal: at most 5 µs per lookup.
//!
//! The keys are visited in a shuffled order, so successive lookups touch
//! unrelated entries, as requests for random tenants do (a hot key would
//! stay in the CPU's caches and measure less). Each lookup counts a hit in
//! the cache's metrics, as in the API. A third case looks up one tenant
//! over and over, to show what the lookup costs without the memory
//! latency of random entries.
//!
//! Run: `cargo bench -p tenantry-context-api --bench lookup`.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use tenantry_context_api::ContextCache;
use tenantry_context_api::cache::DEFAULT_CAPACITY_BYTES;
use tenantry_sagas::{ContextChange, ContextVersion, TenantContext};
use tenantry_schemas::{
    Edition, Licence, ProductContext, ProductKey, ProductState, Region, TenantId, TenantState,
    TenantStatus,
};

/// Contexts in the cache.
const TENANTS: u32 = 100_000;

/// Tenant `i`: active, with a site host, a region and Jira (as
/// `tests/api/fixtures.rs`'s `active_tenant`), revision 1.
fn change(i: u32) -> ContextChange {
    let tenant = format!("tenant-{i}");
    let jira = ProductContext {
        state: ProductState::Active,
        licence: Some(Licence {
            seats: 25,
            edition: Edition::Standard,
        }),
        shard: Some("eu-shard-1".into()),
        database: Some(format!("t_tenant_{i}__jira")),
        installed_apps: Vec::new(),
        failure: None,
    };
    let state = TenantState {
        commerce_sequence: 2,
        status: TenantStatus::Active,
        site: Some(tenant.clone()),
        site_host: Some(host(i)),
        region: Some(Region::ALL[i as usize % Region::ALL.len()]),
        products: BTreeMap::from([(ProductKey::parse("jira").unwrap(), jira)]),
        groups: vec!["jira-users".into(), "site-admins".into()],
        ..TenantState::default()
    };
    ContextChange {
        revision: 1,
        context: TenantContext {
            tenant_id: TenantId::parse(&tenant).unwrap(),
            state,
            version: ContextVersion {
                provisioning_sequence: 7,
                event_id: None,
            },
        },
    }
}

fn host(i: u32) -> String {
    format!("tenant-{i}.tenantry.test")
}

/// `0..n` in a fixed pseudo-random order (Fisher–Yates with xorshift64).
fn shuffled(n: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

fn lookups(c: &mut Criterion) {
    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    for i in 0..TENANTS {
        cache.apply(&change(i));
    }
    let (entries, bytes) = cache.size();
    assert_eq!(
        entries,
        2 * u64::from(TENANTS),
        "a context and a host per tenant"
    );
    assert_eq!(cache.evictions(), 0, "{bytes} bytes exceed the bound");
    let order = shuffled(TENANTS);
    let ids: Vec<TenantId> = order.iter().map(|&i| change(i).context.tenant_id).collect();
    let hosts: Vec<String> = order.iter().map(|&i| host(i)).collect();
    assert!(ids.iter().all(|id| cache.get(id).is_some()));
    assert!(hosts.iter().all(|h| cache.get_by_host(h).is_some()));

    let mut group = c.benchmark_group("context_cache_100k");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("get_by_tenant_id", |b| {
        b.iter(|| {
            next = (next + 1) % ids.len();
            black_box(cache.get(black_box(&ids[next])))
        });
    });
    group.bench_function("get_by_host", |b| {
        b.iter(|| {
            next = (next + 1) % hosts.len();
            black_box(cache.get_by_host(black_box(&hosts[next])))
        });
    });
    // The same tenant every time: what a lookup costs when its entry is
    // in the CPU's caches, to tell the memory latency above from the work.
    group.bench_function("get_by_tenant_id_one_hot_tenant", |b| {
        b.iter(|| black_box(cache.get(black_box(&ids[0]))));
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    lookups(&mut criterion);
    criterion.final_summary();
}
