//! What the provisioner keeps per tenant, and the tenant state it publishes.
//!
//! A [`TenantRecord`] is everything the provisioner decided about a tenant
//! outside its sagas and event stream: the desired state (released commerce
//! events), the provisioned state (completed sagas), and the [`Ledger`] —
//! the released commerce sequence, parking, rejections and the standing saga
//! failure. [`TenantRecord::state`] is a pure function of it: the
//! [`TenantState`] published on `provisioning.events.v1` whenever a
//! transaction changes it, and the tenant context edges read. Because the
//! context is that record and nothing else, it cannot say more (or other)
//! than the provisioner decided.

use crate::desired::{DesiredState, Goal};
use crate::reconciler::{ProvisionedState, reconcile};
use crate::saga::{SagaKind, SagaState, SagaStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tenantry_schemas::{
    Parking, ProductContext, ProductKey, ProductState, Rejection, TenantState, TenantStatus,
};

/// Most rejections kept on a tenant (the oldest go first).
pub const MAX_REJECTIONS: usize = 20;

/// A saga that ended failed (or compensation-failed) and still stands: the
/// tenant is parked on it until an operator retries it (and it completes) or
/// skips it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaFailure {
    /// Kind of the failed saga.
    pub kind: SagaKind,
    /// Its product, for product sagas.
    pub product: Option<ProductKey>,
    /// Commerce sequence of its trigger.
    pub trigger_sequence: i64,
    /// Why it failed, for operators and edges.
    pub reason: String,
}

/// What the provisioner decided about a tenant beyond desired and
/// provisioned state. Kept in the same row and transaction as both.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    /// Last commerce sequence released to the desired state (applied or
    /// rejected); the admission cursor.
    pub commerce_sequence: i64,
    /// Set while the tenant is parked; `waiting` counts the commerce events
    /// recorded behind it.
    pub parked: Option<Parking>,
    /// The latest refused commerce events, oldest first (at most
    /// [`MAX_REJECTIONS`]).
    pub rejections: Vec<Rejection>,
    /// The failed saga the tenant is parked on, while it stands.
    pub failure: Option<SagaFailure>,
}

/// Everything the provisioner keeps per tenant outside sagas and the event
/// stream (one row of `tenant_states`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TenantRecord {
    /// What released commerce events asked for.
    pub desired: DesiredState,
    /// What completed sagas did.
    pub provisioned: ProvisionedState,
    /// Cursor, parking, rejections, failure.
    #[serde(default)]
    pub ledger: Ledger,
}

impl TenantRecord {
    /// Records a refused commerce event, keeping the latest
    /// [`MAX_REJECTIONS`]; the first reason recorded for a sequence stays
    /// (as in the store's `rejections` table).
    pub fn reject(&mut self, rejection: Rejection) {
        let rejections = &mut self.ledger.rejections;
        if rejections.iter().any(|r| r.sequence == rejection.sequence) {
            return;
        }
        rejections.push(rejection);
        if rejections.len() > MAX_REJECTIONS {
            rejections.remove(0);
        }
    }

    /// Records a saga transition that the tenant state reflects: a completed
    /// saga's resources (and the end of a failure it retried), a failed
    /// saga's standing failure, a move's switch as soon as its step is done.
    /// Other transitions change nothing.
    pub fn saga_transition(&mut self, saga: &SagaState) {
        match saga.status {
            SagaStatus::Completed => {
                self.provisioned.apply_completed(saga);
                self.ledger.failure = None;
            }
            SagaStatus::Failed | SagaStatus::CompensationFailed => {
                if saga.kind == SagaKind::MoveTenant {
                    self.provisioned.apply_switch(saga);
                }
                self.ledger.failure = Some(SagaFailure {
                    kind: saga.kind,
                    product: saga.product().cloned(),
                    trigger_sequence: saga.trigger_sequence,
                    reason: saga.failure.clone().unwrap_or_else(|| "failed".to_owned()),
                });
            }
            SagaStatus::Running | SagaStatus::Compensating => {
                if saga.kind == SagaKind::MoveTenant {
                    self.provisioned.apply_switch(saga);
                }
            }
        }
    }

    /// The tenant state to publish: a pure function of this record.
    ///
    /// - `status`: destroyed as soon as `tenant_destroyed` is released;
    ///   active once the tenant saga completed; failed while its failure
    ///   stands; provisioning while `tenant_created` is released and its saga
    ///   not done; else pending.
    /// - Products: every product desired or provisioned. Access reductions
    ///   show at once (a product commerce suspended or deactivated is shown
    ///   so before its saga ends, and every product of a destroyed tenant is
    ///   deactivated); access is granted only once provisioned. A product
    ///   whose activation failed is `failed`; a provisioned product whose
    ///   later saga failed keeps its state and carries the `failure`.
    /// - Waiting commerce events are not in it (they are not released);
    ///   `parked.waiting` counts them.
    pub fn state(&self) -> TenantState {
        let desired = &self.desired;
        let provisioned = &self.provisioned;
        let failure = self.ledger.failure.as_ref();
        let destroyed = desired.destroyed || provisioned.destroyed;
        let status = if destroyed {
            TenantStatus::Destroyed
        } else if provisioned.tenant {
            TenantStatus::Active
        } else if failure.is_some_and(|f| f.kind == SagaKind::ProvisionTenant) {
            TenantStatus::Failed
        } else if desired.tenant.is_some() {
            TenantStatus::Provisioning
        } else {
            TenantStatus::Pending
        };
        let keys: BTreeSet<&ProductKey> = desired
            .products
            .keys()
            .chain(provisioned.products.keys())
            .collect();
        let products = keys
            .into_iter()
            .map(|key| {
                let wanted = desired.products.get(key);
                let have = provisioned.products.get(key);
                let failed = failure
                    .filter(|f| f.product.as_ref() == Some(key))
                    .map(|f| f.reason.clone());
                let state = match (wanted.map(|w| w.goal), have) {
                    _ if destroyed => ProductState::Deactivated,
                    (Some(Goal::Deactivated), _) => ProductState::Deactivated,
                    (Some(Goal::Suspended), _) => ProductState::Suspended,
                    (_, Some(have)) if have.suspended => ProductState::Suspended,
                    (_, Some(_)) => ProductState::Active,
                    (_, None) if failed.is_some() => ProductState::Failed,
                    (_, None) => ProductState::Provisioning,
                };
                let context = ProductContext {
                    state,
                    licence: wanted.map(|w| w.licence).or(have.map(|h| h.licence)),
                    shard: have.and_then(|h| h.shard.clone()),
                    database: have.and_then(|h| h.database.clone()),
                    installed_apps: have.map(|h| h.apps.clone()).unwrap_or_default(),
                    failure: failed,
                };
                (key.clone(), context)
            })
            .collect();
        let pin = desired.tenant.as_ref().and_then(|t| t.residency_pin);
        TenantState {
            commerce_sequence: self.ledger.commerce_sequence,
            status,
            site: desired.tenant.as_ref().map(|t| t.site.to_string()),
            site_host: provisioned.site_host.clone(),
            region: provisioned.region,
            region_pinned: provisioned.region_pinned,
            moving_to: pin.filter(|pin| {
                !destroyed && provisioned.region.is_some_and(|region| region != *pin)
            }),
            products,
            groups: provisioned.groups.iter().cloned().collect(),
            last_failure: failure.map(|f| f.reason.clone()),
            rejections: self.ledger.rejections.clone(),
            parked: self.ledger.parked.clone(),
            pending_saga: match self.ledger.parked {
                Some(_) => None,
                None => reconcile(desired, provisioned).map(|plan| plan.kind.as_str().to_owned()),
            },
        }
    }
}

#[cfg(test)]
mod tests;
