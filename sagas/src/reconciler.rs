//! The reconciler: desired state (what commerce asked) × provisioned state
//! (what completed sagas did) → the next saga that closes the gap, or nothing
//! when they agree.
//!
//! Seed, "Tenant provisioning and lifecycle": a provisioning orchestration
//! system "aligns the state of the provisioned resources with the license
//! state through a series of tenant and product events". One saga at a time
//! per tenant: the provisioner drives it to the end, then plans again from the
//! latest desired state, so a newer desired state is queued, never raced.

use crate::desired::{DesiredState, Goal, Licence};
use crate::saga::{ProductSpec, SagaKind, SagaSpec, SagaState};
use crate::steps::Step;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tenantry_schemas::{AppKey, ProductKey, Region};

/// One provisioned product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedProduct {
    /// Access is suspended.
    pub suspended: bool,
    /// Licence in force.
    pub licence: Licence,
    /// Installed apps.
    pub apps: Vec<AppKey>,
    /// Commerce sequence of the activation that provisioned it.
    pub activated_at: i64,
    /// Shard holding the product database (step 6, or the move that switched it).
    #[serde(default)]
    pub shard: Option<String>,
    /// Product database name on the shard.
    #[serde(default)]
    pub database: Option<String>,
}

/// What completed sagas did for one tenant: what the reconciler compares
/// with the desired state, and where the tenant's resources are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProvisionedState {
    /// The tenant saga completed (site, region, identity exist).
    pub tenant: bool,
    /// The destruction saga completed.
    pub destroyed: bool,
    /// Products by key.
    pub products: BTreeMap<ProductKey, ProvisionedProduct>,
    /// Commerce sequence up to which the residency pin is honoured: the
    /// trigger of the last completed tenant or move saga (compared with
    /// [`DesiredState::pin_sequence`]).
    #[serde(default)]
    pub pin_sequence: i64,
    /// Site host (step 2); kept after destruction so lookups by host find
    /// the destroyed tenant.
    #[serde(default)]
    pub site_host: Option<String>,
    /// Region the tenant's products live in (step 3, or a move's switch).
    #[serde(default)]
    pub region: Option<Region>,
    /// Whether `region` is the data-residency pin.
    #[serde(default)]
    pub region_pinned: bool,
    /// Identity groups (step 5).
    #[serde(default)]
    pub groups: BTreeSet<String>,
}

impl ProvisionedState {
    /// Records what a *completed* saga did.
    pub fn apply_completed(&mut self, saga: &SagaState) {
        let spec = saga.spec.product.as_ref();
        let outcome = saga.outcome();
        match (saga.kind, spec) {
            (SagaKind::ProvisionTenant, _) => {
                self.tenant = true;
                self.pin_sequence = saga.trigger_sequence;
                self.site_host.clone_from(&outcome.site_host);
                self.region = outcome.region;
                self.region_pinned = outcome.region_pinned;
            }
            (SagaKind::MoveTenant, _) => {
                self.apply_switch(saga);
                self.pin_sequence = saga.trigger_sequence;
            }
            (SagaKind::ProvisionProduct, Some(p)) => {
                self.products.insert(
                    p.product.clone(),
                    ProvisionedProduct {
                        suspended: false,
                        licence: Licence {
                            seats: p.seats,
                            edition: p.edition,
                        },
                        apps: p.apps.clone(),
                        activated_at: saga.trigger_sequence,
                        shard: outcome.shard.clone(),
                        database: outcome.database.clone(),
                    },
                );
            }
            (SagaKind::SuspendProduct | SagaKind::UnsuspendProduct, Some(p)) => {
                if let Some(product) = self.products.get_mut(&p.product) {
                    product.suspended = saga.kind == SagaKind::SuspendProduct;
                }
            }
            (SagaKind::UpdateLicence, Some(p)) => {
                if let Some(product) = self.products.get_mut(&p.product) {
                    product.licence = Licence {
                        seats: p.seats,
                        edition: p.edition,
                    };
                }
            }
            (SagaKind::DeactivateProduct, Some(p)) => {
                self.products.remove(&p.product);
            }
            (SagaKind::DestroyTenant, _) => {
                self.destroyed = true;
                self.products.clear();
                self.groups.clear();
                return;
            }
            (_, None) => {}
        }
        // Step 5 reports the tenant's groups after the saga; a deactivation
        // that removed the last product group reports none.
        if !outcome.groups.is_empty() || saga.kind == SagaKind::DeactivateProduct {
            self.groups = outcome.groups.into_iter().collect();
        }
    }

    /// Records what a move saga's `switch_placement` step did, once it is
    /// done: the tenant lives in the new region, its products on their new
    /// shards and databases. The switch holds before the saga completes (the
    /// old databases are retired after it), so the provisioner applies it as
    /// soon as the step commits; applying it again changes nothing.
    pub fn apply_switch(&mut self, saga: &SagaState) {
        let Some(switched) = saga.results.get(&Step::SwitchPlacement) else {
            return;
        };
        if let Some(region) = switched.region() {
            self.region = Some(region);
            self.region_pinned = switched.pinned();
        }
        for (product, placed) in switched.moved() {
            if let Some(product) = self.products.get_mut(&product) {
                product.shard = Some(placed.shard);
                product.database = Some(placed.database);
            }
        }
    }
}

/// A saga to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaPlan {
    /// Kind.
    pub kind: SagaKind,
    /// Input.
    pub spec: SagaSpec,
}

fn product_spec(key: &ProductKey, licence: Licence, apps: &[AppKey]) -> ProductSpec {
    ProductSpec {
        product: key.clone(),
        edition: licence.edition,
        seats: licence.seats,
        apps: apps.to_vec(),
    }
}

/// The next saga that brings `provisioned` closer to `desired`; `None` when
/// they agree (or nothing can be done before `tenant_created`).
///
/// Order: destruction first (nothing else matters then), the tenant saga
/// before any product, then a move to a newly pinned region (so products
/// provisioned later are placed in it), then products in order of activation
/// — provisioning, deactivation, suspension, un-suspension, licence update.
pub fn reconcile(desired: &DesiredState, provisioned: &ProvisionedState) -> Option<SagaPlan> {
    let tenant = desired.tenant.clone()?;
    let plan = |kind, product: Option<ProductSpec>, products: Vec<ProductSpec>| {
        Some(SagaPlan {
            kind,
            spec: SagaSpec {
                tenant: tenant.clone(),
                product,
                products,
            },
        })
    };
    if desired.destroyed {
        if provisioned.destroyed {
            return None;
        }
        // Reverse order of activation: the last product activated goes first.
        let mut products: Vec<(&ProductKey, &ProvisionedProduct)> =
            provisioned.products.iter().collect();
        products.sort_by_key(|(_, p)| std::cmp::Reverse(p.activated_at));
        let products = products
            .into_iter()
            .map(|(key, p)| product_spec(key, p.licence, &p.apps))
            .collect();
        return plan(SagaKind::DestroyTenant, None, products);
    }
    if !provisioned.tenant {
        return plan(SagaKind::ProvisionTenant, None, vec![]);
    }
    if desired.pin_sequence > provisioned.pin_sequence {
        let products = provisioned
            .products
            .iter()
            .map(|(key, p)| product_spec(key, p.licence, &p.apps))
            .collect();
        return plan(SagaKind::MoveTenant, None, products);
    }
    let mut products: Vec<(&ProductKey, _)> = desired.products.iter().collect();
    products.sort_by_key(|(_, d)| d.activated_at);
    for (key, wanted) in products {
        let have = provisioned.products.get(key);
        let kind = match (wanted.goal, have) {
            (Goal::Active | Goal::Suspended, None) => SagaKind::ProvisionProduct,
            (Goal::Deactivated, Some(_)) => SagaKind::DeactivateProduct,
            (Goal::Deactivated, None) => continue,
            (Goal::Suspended, Some(p)) if !p.suspended => SagaKind::SuspendProduct,
            (Goal::Active, Some(p)) if p.suspended => SagaKind::UnsuspendProduct,
            (_, Some(p)) if p.licence != wanted.licence => SagaKind::UpdateLicence,
            _ => continue,
        };
        let apps = match (kind, have) {
            (SagaKind::DeactivateProduct, Some(p)) => &p.apps,
            _ => &wanted.apps,
        };
        return plan(kind, Some(product_spec(key, wanted.licence, apps)), vec![]);
    }
    None
}

#[cfg(test)]
mod tests;
