use super::*;
use tenantry_schemas::{TenantState, TenantStatus};

fn context(tenant: &str, host: Option<&str>, status: TenantStatus, sequence: i64) -> TenantContext {
    let mut context = TenantContext::empty(TenantId::parse(tenant).unwrap());
    context.state = TenantState {
        status,
        commerce_sequence: sequence,
        site_host: host.map(str::to_owned),
        ..TenantState::default()
    };
    context.version.provisioning_sequence = sequence;
    context
}

fn change(tenant: &str, host: Option<&str>, status: TenantStatus, revision: i64) -> ContextChange {
    ContextChange {
        revision,
        context: context(tenant, host, status, revision),
    }
}

fn id(tenant: &str) -> TenantId {
    TenantId::parse(tenant).unwrap()
}

#[test]
fn keeps_the_newest_version_whatever_the_order() {
    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    assert_eq!(
        cache.apply(&change("acme", None, TenantStatus::Provisioning, 2)),
        Offer::Stored
    );
    assert_eq!(
        cache.apply(&change("acme", None, TenantStatus::Pending, 1)),
        Offer::NotNewer
    );
    assert_eq!(
        cache.apply(&change("acme", None, TenantStatus::Provisioning, 2)),
        Offer::NotNewer
    );
    let served = cache.get(&id("acme")).expect("cached");
    assert_eq!(served.version, 2);
    assert_eq!(served.etag, "\"2\"");
    let view: ContextView = serde_json::from_slice(&served.body).unwrap();
    assert_eq!(view.version.provisioning_sequence, 2);
    assert_eq!(view.status, TenantStatus::Provisioning);
    assert_eq!(
        cache.apply(&change("acme", None, TenantStatus::Active, 3)),
        Offer::Stored
    );
    assert_eq!(cache.get(&id("acme")).unwrap().version, 3);
}

#[test]
fn a_host_leads_only_to_the_tenant_that_names_it() {
    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    cache.apply(&change("acme", Some("acme.test"), TenantStatus::Active, 1));
    assert_eq!(
        cache.get_by_host("acme.test").unwrap().tenant_id,
        id("acme")
    );
    // The tenant moves to another host: the old one leads nowhere.
    cache.apply(&change("acme", Some("acme2.test"), TenantStatus::Active, 2));
    assert!(cache.get_by_host("acme.test").is_none());
    assert_eq!(
        cache.get_by_host("acme2.test").unwrap().tenant_id,
        id("acme")
    );
    // Another tenant's entry never answers for a host it does not name.
    cache.apply(&change("beta", Some("beta.test"), TenantStatus::Active, 1));
    assert!(cache.get_by_host("acme.test").is_none());
    assert_eq!(
        cache.get_by_host("beta.test").unwrap().tenant_id,
        id("beta")
    );
}

#[test]
fn a_live_tenant_keeps_a_host_a_destroyed_one_still_names() {
    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    // The host was freed by a destroyed tenant and taken by a new one; the
    // changelog's partitions may deliver the two in either order.
    cache.apply(&change("new", Some("shop.test"), TenantStatus::Active, 1));
    cache.apply(&change(
        "old",
        Some("shop.test"),
        TenantStatus::Destroyed,
        5,
    ));
    assert_eq!(cache.get_by_host("shop.test").unwrap().tenant_id, id("new"));

    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    cache.apply(&change(
        "old",
        Some("shop.test"),
        TenantStatus::Destroyed,
        5,
    ));
    assert!(cache.get_by_host("shop.test").unwrap().destroyed);
    cache.apply(&change("new", Some("shop.test"), TenantStatus::Active, 1));
    assert_eq!(cache.get_by_host("shop.test").unwrap().tenant_id, id("new"));
    // The destroyed tenant is still served by id (410 for the API).
    assert!(cache.get(&id("old")).unwrap().destroyed);
}

#[test]
fn stays_within_its_byte_bound_and_counts_evictions() {
    let one = Served::new(&context("t-0", None, TenantStatus::Active, 1)).weight() as u64;
    let cache = ContextCache::new(one * 50);
    for n in 0..500 {
        cache.apply(&change(&format!("t-{n}"), None, TenantStatus::Active, 1));
    }
    let (entries, bytes) = cache.size();
    assert!(bytes <= one * 50, "{bytes} bytes held, bound {}", one * 50);
    assert!(entries <= 50, "{entries} entries");
    assert!(cache.evictions() > 0 || entries < 500);
}

#[test]
fn counts_hits_and_misses_and_wakes_waiters() {
    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    let mut updates = cache.subscribe();
    assert!(cache.get(&id("acme")).is_none());
    cache.apply(&change("acme", None, TenantStatus::Active, 1));
    assert!(updates.has_changed().unwrap());
    updates.mark_unchanged();
    cache.apply(&change("acme", None, TenantStatus::Active, 1));
    assert!(
        !updates.has_changed().unwrap(),
        "a version not stored wakes nobody"
    );
}

#[test]
fn a_removed_tenant_is_gone_by_id_and_host_and_comes_back_with_any_version() {
    let cache = ContextCache::new(DEFAULT_CAPACITY_BYTES);
    cache.apply(&change("acme", Some("acme.test"), TenantStatus::Active, 5));
    cache.apply(&change("beta", Some("beta.test"), TenantStatus::Active, 1));
    cache.remove(&id("acme"));
    assert!(cache.peek(&id("acme")).is_none());
    assert!(cache.peek_by_host("acme.test").is_none());
    assert!(cache.peek(&id("beta")).is_some(), "other tenants stay");
    // Rebuilt later from a lower sequence: stored, not refused as older.
    assert_eq!(
        cache.apply(&change("acme", Some("acme.test"), TenantStatus::Active, 2)),
        Offer::Stored
    );
    assert_eq!(cache.peek_by_host("acme.test").unwrap().version, 2);
}
