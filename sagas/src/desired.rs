//! Desired state: what commerce asked for, per tenant, versioned by the
//! commerce sequence — and the guards that reject what makes no sense.
//!
//! The provisioner applies released commerce events here (to plan sagas and
//! to decide rejections); the tenant state it publishes is computed from
//! this and the provisioned state ([`crate::tenant`]).

use crate::reconciler::ProvisionedState;
use crate::saga::{SagaKind, SagaState, TenantSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tenantry_schemas::{AppKey, CommerceEvent, CommerceRecord, Envelope, ProductKey};
pub use tenantry_schemas::{Licence, Rejection};

/// What commerce wants for a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Usable.
    Active,
    /// Access suspended, data kept.
    Suspended,
    /// Licence ended.
    Deactivated,
}

/// One product as commerce wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredProduct {
    /// Goal.
    pub goal: Goal,
    /// Licence.
    pub licence: Licence,
    /// Licensed apps.
    pub apps: Vec<AppKey>,
    /// Commerce sequence of the (latest) activation: orders products for
    /// destruction (reverse order of activation) and tells a pending
    /// provisioning from a finished one.
    pub activated_at: i64,
}

/// What commerce asked for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DesiredState {
    /// The tenant as created; `None` before `tenant_created`.
    pub tenant: Option<TenantSpec>,
    /// `tenant_destroyed` was accepted.
    pub destroyed: bool,
    /// Products by key.
    pub products: BTreeMap<ProductKey, DesiredProduct>,
    /// Licence updates for products not active or suspended, applied when the
    /// product becomes active (a guard, README "Lifecycle").
    pub pending_licences: BTreeMap<ProductKey, Licence>,
    /// Envelope of the last accepted event: the trigger of sagas planned from
    /// this state.
    pub last_accepted: Option<Envelope>,
    /// Commerce sequence of the last `residency_pinned` that changed the pin
    /// (0: the pin is the one from `tenant_created`). The reconciler starts a
    /// move saga while the provisioned side has not caught up with it.
    #[serde(default)]
    pub pin_sequence: i64,
    /// The tenant's creation failed and an operator skipped it
    /// ([`DesiredState::abandon`]): product events are rejected with that
    /// reason until a new `tenant_created` is accepted.
    #[serde(default)]
    pub creation_skipped: bool,
}

impl DesiredState {
    /// Applies `record` if the guards accept it.
    ///
    /// Errors: a [`Rejection`] naming the rule — a product event or a
    /// residency pin for an unknown or destroyed tenant; a second `tenant_created`; deactivating or
    /// suspending a product that is not active (or suspended); un-suspending
    /// one that is not suspended; a licence update for a product that is not
    /// active or suspended (kept in `pending_licences` and applied when it
    /// becomes active). Activating an active product, or pinning a tenant to
    /// the region it is already pinned to, is accepted and changes nothing (no
    /// second database, no move).
    pub fn apply(&mut self, record: &CommerceRecord) -> Result<(), Rejection> {
        let sequence = record.envelope.sequence;
        let tenant = record.envelope.tenant_id.as_str();
        let reject = |reason: String| Rejection {
            sequence,
            kind: record.event.kind().to_owned(),
            reason,
        };
        if let CommerceEvent::TenantCreated(created) = &record.event {
            if self.tenant.is_some() {
                let what = if self.destroyed {
                    "destroyed"
                } else {
                    "created"
                };
                return Err(reject(format!(
                    "tenant {tenant} was already {what}; tenant ids are not reused"
                )));
            }
            self.creation_skipped = false;
            self.tenant = Some(TenantSpec {
                site: created.site.clone(),
                owner_email: created.owner_email.clone(),
                country: created.country.clone(),
                residency_pin: created.residency_pin,
                kms_key: created.kms_key.clone(),
            });
            self.last_accepted = Some(record.envelope.clone());
            return Ok(());
        }
        if self.tenant.is_none() && self.creation_skipped {
            return Err(reject(format!(
                "tenant {tenant} is unknown: its tenant_created failed to provision and an \
                 operator skipped it; a new tenant_created is needed first"
            )));
        }
        if self.tenant.is_none() {
            return Err(reject(format!(
                "tenant {tenant} is unknown: no tenant_created was accepted"
            )));
        }
        if self.destroyed {
            return Err(reject(format!("tenant {tenant} is destroyed")));
        }
        let goal = |key: &ProductKey| self.products.get(key).map(|p| p.goal);
        match &record.event {
            CommerceEvent::TenantCreated(_) => unreachable!("handled above"),
            CommerceEvent::TenantDestroyed(_) => self.destroyed = true,
            CommerceEvent::ResidencyPinned(e) => {
                if let Some(spec) = self.tenant.as_mut()
                    && spec.residency_pin != Some(e.residency_pin)
                {
                    spec.residency_pin = Some(e.residency_pin);
                    self.pin_sequence = sequence;
                }
            }
            CommerceEvent::ProductActivated(e) => match goal(&e.product) {
                Some(Goal::Active | Goal::Suspended) => {}
                _ => {
                    let licence = self.pending_licences.remove(&e.product).unwrap_or(Licence {
                        seats: e.seats,
                        edition: e.edition,
                    });
                    self.products.insert(
                        e.product.clone(),
                        DesiredProduct {
                            goal: Goal::Active,
                            licence,
                            apps: e.apps.clone(),
                            activated_at: sequence,
                        },
                    );
                }
            },
            CommerceEvent::ProductDeactivated(e) => match goal(&e.product) {
                Some(Goal::Active | Goal::Suspended) => {
                    self.set_goal(&e.product, Goal::Deactivated)
                }
                _ => {
                    return Err(reject(format!(
                        "product {} is not active or suspended",
                        e.product
                    )));
                }
            },
            CommerceEvent::ProductSuspended(e) => match goal(&e.product) {
                Some(Goal::Active) => self.set_goal(&e.product, Goal::Suspended),
                Some(Goal::Suspended) => {}
                _ => return Err(reject(format!("product {} is not active", e.product))),
            },
            CommerceEvent::ProductUnsuspended(e) => match goal(&e.product) {
                Some(Goal::Suspended) => self.set_goal(&e.product, Goal::Active),
                _ => return Err(reject(format!("product {} is not suspended", e.product))),
            },
            CommerceEvent::LicenceUpdated(e) => {
                let licence = Licence {
                    seats: e.seats,
                    edition: e.edition,
                };
                match self.products.get_mut(&e.product) {
                    Some(p) if matches!(p.goal, Goal::Active | Goal::Suspended) => {
                        p.licence = licence
                    }
                    _ => {
                        self.pending_licences.insert(e.product.clone(), licence);
                        return Err(reject(format!(
                            "product {} is not active or suspended; the licence is recorded and applied when it becomes active",
                            e.product
                        )));
                    }
                }
            }
        }
        self.last_accepted = Some(record.envelope.clone());
        Ok(())
    }

    /// Gives up the change `failed` was bringing about, so the reconciler
    /// stops planning it: what the saga's kind governs is set back to
    /// `provisioned` (case D4, `tenantry sagas skip`). Returns a sentence for
    /// operators saying what was given up.
    ///
    /// - tenant creation (not provisioned): the tenant is forgotten — later
    ///   product events are rejected, a new `tenant_created` is accepted (a
    ///   site name that was taken can be chosen again);
    /// - a product saga: the product goes back to what is provisioned (its
    ///   goal, licence and apps), or out of the desired state when nothing is;
    /// - a move: the pin goes back to the provisioned one (the tenant's
    ///   region if it is pinned there, else none), so nothing shows the tenant
    ///   moving and its later sagas act where it lives; a new
    ///   `residency_pinned` asks again;
    /// - destruction: the tenant is no longer to be destroyed.
    ///
    /// Without this, the next event the skip releases re-plans the same
    /// change, which fails the same way and parks the tenant again.
    pub fn abandon(&mut self, failed: &SagaState, provisioned: &ProvisionedState) -> String {
        let sequence = failed.trigger_sequence;
        match (failed.kind, failed.product()) {
            (SagaKind::ProvisionTenant, _) if !provisioned.tenant => {
                self.tenant = None;
                self.products.clear();
                self.pending_licences.clear();
                self.pin_sequence = 0;
                self.creation_skipped = true;
                format!("tenant creation (sequence {sequence}) given up")
            }
            (SagaKind::MoveTenant, _) => {
                self.pin_sequence = provisioned.pin_sequence;
                if let Some(tenant) = self.tenant.as_mut() {
                    tenant.residency_pin = provisioned.region.filter(|_| provisioned.region_pinned);
                }
                format!("move to the residency pin (sequence {sequence}) given up")
            }
            (SagaKind::DestroyTenant, _) => {
                self.destroyed = false;
                format!("tenant destruction (sequence {sequence}) given up")
            }
            (_, Some(key)) => {
                match provisioned.products.get(key) {
                    Some(have) => {
                        self.products.insert(
                            key.clone(),
                            DesiredProduct {
                                goal: if have.suspended {
                                    Goal::Suspended
                                } else {
                                    Goal::Active
                                },
                                licence: have.licence,
                                apps: have.apps.clone(),
                                activated_at: have.activated_at,
                            },
                        );
                    }
                    None => {
                        self.products.remove(key);
                    }
                }
                format!(
                    "{} of {key} (sequence {sequence}) given up; the product stays as provisioned",
                    failed.kind.as_str()
                )
            }
            (kind, None) => format!(
                "{} (sequence {sequence}) left as it is: nothing to give up",
                kind.as_str()
            ),
        }
    }

    fn set_goal(&mut self, product: &ProductKey, goal: Goal) {
        if let Some(p) = self.products.get_mut(product) {
            p.goal = goal;
        }
    }
}

#[cfg(test)]
mod tests;
