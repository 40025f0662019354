//! The run's tenants: synthetic contexts shaped like those the projector
//! writes once a tenant is provisioned, their changelog records, and the
//! request paths the load generator picks from.
//!
//! Everything here but [`publish`] is pure and deterministic: tenant `i` of
//! a run is always the same context, so a failed run can be repeated.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt, stream};
use tenantry_kafka::{KafkaConfig, Producer};
use tenantry_sagas::{
    ContextChange, ContextVersion, ProductContext, ProductState, TenantContext, TenantStatus,
};
use tenantry_schemas::{AppKey, Edition, Licence, ProductKey, Region, TenantId};
use uuid::Uuid;

/// Company-like names the tenants are called after (`globex-417`), so site
/// hosts vary in length as real ones do (4 to 17 characters before the
/// number).
const NAMES: [&str; 16] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark-industries",
    "wayne-enterprises",
    "tyrell",
    "cyberdyne",
    "soylent",
    "wonka",
    "vandelay",
    "pied-piper",
    "massive-dynamic",
    "aperture",
    "monarch",
];

/// Seats of the tenants' licences, in turn.
const SEATS: [i32; 8] = [10, 25, 50, 100, 250, 500, 1_000, 5_000];

/// Editions of the tenants' licences, in turn.
const EDITIONS: [Edition; 4] = [
    Edition::Free,
    Edition::Standard,
    Edition::Premium,
    Edition::Enterprise,
];

/// Product databases per shard, as the provisioner's default
/// `--shard-capacity`.
const SHARD_CAPACITY: u32 = 500;

/// Tenant `i`'s id: `<name>-<i>` (`globex-1`).
pub fn tenant_id(i: u32) -> TenantId {
    let name = NAMES[i as usize % NAMES.len()];
    TenantId::parse(&format!("{name}-{i}")).expect("a name and a number are a tenant id")
}

/// Tenant `i`'s site host: `<tenant id>.<site_domain>`.
pub fn site_host(i: u32, site_domain: &str) -> String {
    format!("{}.{site_domain}", tenant_id(i))
}

/// Tenant `i`, active, as after every step of its provisioning: site and
/// host, a region (the 11 in turn, one in four pinned), Jira for everyone
/// and Confluence for every other tenant, each with a licence (seats and
/// edition in turn), a shard of its region and a database, an app for every
/// third; the identity groups of its products. Its record is `revision` 1.
pub fn context(i: u32, site_domain: &str) -> TenantContext {
    let tenant = tenant_id(i);
    let region = Region::ALL[i as usize % Region::ALL.len()];
    let confluence = i.is_multiple_of(2);
    let product = |key: &str, apps: &[&str]| {
        let licence = Licence {
            seats: SEATS[i as usize % SEATS.len()],
            edition: EDITIONS[(i / 2) as usize % EDITIONS.len()],
        };
        let context = ProductContext {
            state: ProductState::Active,
            licence: Some(licence),
            shard: Some(format!("{region}-shard-{}", 1 + i / SHARD_CAPACITY)),
            database: Some(format!("t_{tenant}__{key}").replace('-', "_")),
            installed_apps: apps
                .iter()
                .map(|app| AppKey::parse(app).expect("a valid app key"))
                .collect(),
            failure: None,
        };
        (
            ProductKey::parse(key).expect("a valid product key"),
            context,
        )
    };
    let jira_apps: &[&str] = if i.is_multiple_of(3) {
        &["jira-slack"]
    } else {
        &[]
    };
    let mut products = vec![product("jira", jira_apps)];
    let mut groups = vec!["jira-users".to_owned(), "site-admins".to_owned()];
    if confluence {
        products.push(product("confluence", &[]));
        groups.insert(0, "confluence-users".to_owned());
    }
    let mut context = TenantContext::empty(tenant.clone());
    let state = &mut context.state;
    state.commerce_sequence = 2 + i64::from(confluence);
    state.status = TenantStatus::Active;
    state.site = Some(tenant.to_string());
    state.site_host = Some(site_host(i, site_domain));
    state.region = Some(region);
    state.region_pinned = i.is_multiple_of(4);
    state.products = products.into_iter().collect();
    state.groups = groups;
    context.version = ContextVersion {
        // Seven steps for the tenant, seven more for the second product.
        provisioning_sequence: 7 * state.commerce_sequence,
        event_id: Some(Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            tenant.as_str().as_bytes(),
        )),
    };
    context
}

/// Tenant `i`'s changelog record: key the tenant id, value the
/// [`ContextChange`] JSON at revision 1, as the projector writes it.
pub fn record(i: u32, site_domain: &str) -> (TenantId, Vec<u8>) {
    let change = ContextChange {
        revision: 1,
        context: context(i, site_domain),
    };
    let value = serde_json::to_vec(&change).expect("a context encodes as JSON");
    (change.context.tenant_id, value)
}

/// Tenant `i`'s line of the paths file the Lua script reads: the path by
/// tenant id, a tab, the path by site host.
pub fn paths_line(i: u32, site_domain: &str) -> String {
    format!(
        "/v1/tenants/{}/context\t/v1/sites/{}/context",
        tenant_id(i),
        site_host(i, site_domain)
    )
}

/// What [`publish`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// Records written and acknowledged.
    pub records: u32,
    /// Bytes of their values.
    pub bytes: u64,
    /// First enqueue → last acknowledgement.
    pub elapsed: Duration,
}

/// Records enqueued before the first acknowledgement is awaited: librdkafka
/// batches them (its local queue holds 100,000 by default).
const IN_FLIGHT: usize = 20_000;

/// Writes tenants `0..tenants` to `topic` (acks=all, idempotent), many in
/// flight, and waits for every acknowledgement.
///
/// # Errors
/// The producer cannot be made, or a record is refused or not acknowledged
/// within the producer's message timeout (30 s).
pub async fn publish(
    kafka: &KafkaConfig,
    topic: &str,
    tenants: u32,
    site_domain: &str,
) -> anyhow::Result<Published> {
    let producer = Producer::new(kafka)?;
    let started = Instant::now();
    let bytes: Vec<u64> = stream::iter(0..tenants)
        .map(|i| {
            let producer = &producer;
            async move {
                let (tenant, value) = record(i, site_domain);
                producer
                    .send(topic, tenant.as_str(), &value, &[])
                    .await
                    .with_context(|| format!("write {tenant}'s context to {topic}"))?;
                anyhow::Ok(value.len() as u64)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(Published {
        records: tenants,
        bytes: bytes.iter().sum(),
        elapsed: started.elapsed(),
    })
}
