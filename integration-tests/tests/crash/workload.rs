//! The commerce side of a run: tenants, the events that provision them, and
//! publishing those events with `tenantry publish --file`.
//!
//! Tenant `t<i>` gets `tenant_created` (sequence 1) and one or two
//! `product_activated` (jira and/or confluence, sequences 2 and 3), each with
//! an explicit event id, so the test knows exactly which events the engine
//! must have processed once.

use rand::Rng;
use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::Path;
use tenantry_integration_tests::tenantry;
use tenantry_store::product_db::database_name;
use uuid::Uuid;

/// The products of the seed.
pub const PRODUCTS: [&str; 2] = ["jira", "confluence"];

/// Countries the tenants are spread over, so they land in several regions
/// (and shards) — `sagas/src/placement.rs`.
const COUNTRIES: [&str; 8] = ["DE", "US", "GB", "AU", "JP", "IN", "CA", "FR"];

/// One tenant and what commerce asks for it.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Tenant id, `t<i>`.
    pub id: String,
    /// Products activated, in activation order.
    pub products: Vec<&'static str>,
    /// Event ids: `tenant_created`, then one per product.
    pub event_ids: Vec<Uuid>,
    country: &'static str,
}

/// The tenants of one run.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    /// Tenants in publication order.
    pub tenants: Vec<Tenant>,
}

impl Workload {
    /// `count` tenants `t1…t<count>`, each with jira, confluence or both
    /// (chosen by `rng`).
    pub fn generate(count: usize, rng: &mut impl Rng) -> Self {
        let mut workload = Self::default();
        workload.extend(count, rng);
        workload
    }

    /// Adds `count` tenants after the last one (`t<len+1>`…), each with jira,
    /// confluence or both (chosen by `rng`); returns their index range.
    pub fn extend(&mut self, count: usize, rng: &mut impl Rng) -> Range<usize> {
        let first = self.tenants.len();
        self.tenants.extend((first + 1..=first + count).map(|i| {
            let products = match rng.random_range(0..3) {
                0 => vec![PRODUCTS[0]],
                1 => vec![PRODUCTS[1]],
                _ => PRODUCTS.to_vec(),
            };
            Tenant {
                id: format!("t{i}"),
                event_ids: (0..=products.len()).map(|_| Uuid::new_v4()).collect(),
                products,
                country: COUNTRIES[i % COUNTRIES.len()],
            }
        }));
        first..self.tenants.len()
    }

    /// Number of `product_activated` events (and product sagas).
    pub fn activations(&self) -> usize {
        self.tenants.iter().map(|t| t.products.len()).sum()
    }

    /// Sagas the engine must complete: one per tenant and one per activation.
    pub fn sagas(&self) -> usize {
        self.tenants.len() + self.activations()
    }

    /// Every commerce event id.
    pub fn event_ids(&self) -> HashSet<String> {
        self.tenants
            .iter()
            .flat_map(|t| t.event_ids.iter().map(Uuid::to_string))
            .collect()
    }

    /// `(tenant, product, database name)` of every product database that must
    /// exist, named by `tenantry_store::product_db::database_name`.
    pub fn databases(&self) -> BTreeSet<(String, String, String)> {
        self.tenants
            .iter()
            .flat_map(|t| {
                t.products
                    .iter()
                    .map(|p| (t.id.clone(), (*p).to_owned(), database_name(&t.id, p)))
            })
            .collect()
    }

    /// `(tenant, group)` of every identity group that must exist:
    /// `site-admins` per tenant and `<product>-users` per activation.
    pub fn groups(&self) -> BTreeSet<(String, String)> {
        self.tenants
            .iter()
            .flat_map(|t| {
                std::iter::once((t.id.clone(), "site-admins".to_owned())).chain(
                    t.products
                        .iter()
                        .map(|p| (t.id.clone(), format!("{p}-users"))),
                )
            })
            .collect()
    }

    /// The events of `tenants[range]` as JSON lines for `tenantry publish
    /// --file`, tenant by tenant, with explicit sequences and event ids.
    pub fn jsonl(&self, range: Range<usize>) -> String {
        let mut lines = String::new();
        for tenant in &self.tenants[range] {
            let i = &tenant.id[1..];
            let created = serde_json::json!({
                "kind": "tenant_created",
                "tenant_id": tenant.id,
                "sequence": 1,
                "event_id": tenant.event_ids[0].to_string(),
                "site": format!("site-{i}"),
                "owner_email": format!("owner@{}.test", tenant.id),
                "country": tenant.country,
            });
            lines.push_str(&format!("{created}\n"));
            for (n, product) in tenant.products.iter().enumerate() {
                let activated = serde_json::json!({
                    "kind": "product_activated",
                    "tenant_id": tenant.id,
                    "sequence": n + 2,
                    "event_id": tenant.event_ids[n + 1].to_string(),
                    "product": product,
                    "seats": 10 + n,
                });
                lines.push_str(&format!("{activated}\n"));
            }
        }
        lines
    }

    /// Publishes the events of `tenants[range]` with `tenantry publish --file
    /// <file>` and the given environment; panics with the CLI's stderr if it fails.
    pub async fn publish(&self, range: Range<usize>, file: &Path, env: &[(&str, &str)]) {
        std::fs::write(file, self.jsonl(range.clone())).expect("write events file");
        let path = file.to_str().expect("UTF-8 path");
        let output = tenantry(&["publish", "--file", path], env).await;
        assert!(
            output.status.success(),
            "tenantry publish --file {path} (tenants {range:?}) failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
