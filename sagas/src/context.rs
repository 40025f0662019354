//! The tenant context (the seed's "tenant context service" record) and its fold.
//!
//! The context is folded from two streams: commerce events (what the tenant
//! *asked for*: site name, residency pin, licences, product requests) and
//! provisioning events (what sagas *did*: host, region, shard, database,
//! groups, apps). Each stream is applied in its own per-tenant order, guarded by
//! its own sequence number, and every derived field is recomputed from the raw
//! fields of both — so the result does not depend on how the two topics
//! interleave, and replaying them into an empty store gives the live context.
//! The fold reads nothing but events: no clock, no lookups.

use crate::desired::{DesiredProduct, DesiredState, Goal, Licence, Rejection};
use crate::saga::SagaKind;
use crate::steps::Step;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tenantry_schemas::{
    AppKey, CommerceRecord, ProductKey, ProvisioningEvent, ProvisioningRecord, Region, TenantId,
};

/// Lifecycle of a tenant as edges see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Only provisioning or product events seen so far.
    Pending,
    /// Tenant created; its saga has not finished.
    Provisioning,
    /// Tenant saga completed.
    Active,
    /// Tenant saga failed.
    Failed,
    /// Tenant destroyed.
    Destroyed,
}

/// A product's state as edges see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductState {
    /// Activation requested; its saga has not completed.
    Provisioning,
    /// Provisioned and usable.
    Active,
    /// Access suspended, data kept.
    Suspended,
    /// Licence ended.
    Deactivated,
    /// The activation saga failed.
    Failed,
}

/// One product in the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductContext {
    /// Derived state (see [`TenantContext::refresh`]).
    pub state: ProductState,
    /// Licence, as commerce last set it.
    pub licence: Option<Licence>,
    /// Shard holding the product database.
    pub shard: Option<String>,
    /// Product database name.
    pub database: Option<String>,
    /// Installed apps.
    pub installed_apps: Vec<AppKey>,
    /// Raw: trigger sequence of the last completed provisioning (0: none).
    pub provisioned_sequence: i64,
    /// Raw: access suspended by a completed suspension saga.
    #[serde(default)]
    pub suspended: bool,
    /// Raw: trigger sequence of the last failed product saga, with its reason.
    pub failed: Option<(i64, String)>,
}

impl ProductContext {
    fn empty() -> Self {
        Self {
            state: ProductState::Provisioning,
            licence: None,
            shard: None,
            database: None,
            installed_apps: Vec::new(),
            provisioned_sequence: 0,
            suspended: false,
            failed: None,
        }
    }
}

/// How far each stream has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContextVersion {
    /// Last commerce sequence applied.
    pub commerce_sequence: i64,
    /// Last provisioning sequence applied.
    pub provisioning_sequence: i64,
    /// Number of events applied from both streams.
    pub events_applied: i64,
}

/// Everything an edge needs about a tenant on every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantContext {
    /// Tenant id.
    pub tenant_id: TenantId,
    /// Derived status.
    pub status: TenantStatus,
    /// Site name from commerce.
    pub site: Option<String>,
    /// Site host `<site>.<domain>`, once created.
    pub site_host: Option<String>,
    /// Region the tenant lives in, once placed.
    pub region: Option<Region>,
    /// Whether the region is a data-residency pin.
    pub region_pinned: bool,
    /// Products by key.
    pub products: BTreeMap<ProductKey, ProductContext>,
    /// Identity groups (`site-admins`, `jira-users`).
    pub groups: BTreeSet<String>,
    /// Last saga failure reason, if the latest saga failed.
    pub last_failure: Option<String>,
    /// Commerce events the guards refused, newest last (at most
    /// [`MAX_REJECTIONS`]).
    #[serde(default)]
    pub rejections: Vec<Rejection>,
    /// Stream positions.
    pub version: ContextVersion,
    /// Raw: what commerce asked for (the same pure state the provisioner plans from).
    #[serde(default)]
    pub desired: DesiredState,
    /// Raw: tenant saga outcome (`Some(true)` completed, `Some(false)` failed).
    pub tenant_saga_succeeded: Option<bool>,
    /// Raw: the destruction saga completed.
    #[serde(default)]
    pub destruction_done: bool,
    /// Raw: commerce events that arrived after a gap, by sequence, held until
    /// the gap fills (or the provisioner vouches it released past it).
    #[serde(default)]
    pub held: BTreeMap<i64, CommerceRecord>,
    /// Raw: highest commerce sequence the provisioner released (from the
    /// `trigger_sequence` of saga events); held events up to it are applied
    /// even across a gap an operator skipped.
    #[serde(default)]
    pub released_floor: i64,
    /// Raw: provisioning records that arrived after a gap, by sequence.
    #[serde(default)]
    pub held_provisioning: BTreeMap<i64, ProvisioningRecord>,
}

impl TenantContext {
    /// The context of a tenant no event has touched.
    pub fn empty(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            status: TenantStatus::Pending,
            site: None,
            site_host: None,
            region: None,
            region_pinned: false,
            products: BTreeMap::new(),
            groups: BTreeSet::new(),
            last_failure: None,
            rejections: Vec::new(),
            version: ContextVersion::default(),
            desired: DesiredState::default(),
            tenant_saga_succeeded: None,
            destruction_done: false,
            held: BTreeMap::new(),
            released_floor: 0,
            held_provisioning: BTreeMap::new(),
        }
    }

    /// Applies a commerce record in commerce-sequence order. Returns `false`
    /// (and changes nothing) when its sequence is not newer than the last
    /// applied one (duplicate or stale) or it is already held. A record after
    /// a gap is held and applied once the gap fills.
    pub fn apply_commerce(&mut self, record: &CommerceRecord) -> bool {
        let sequence = record.envelope.sequence;
        if sequence <= self.version.commerce_sequence || self.held.contains_key(&sequence) {
            return false;
        }
        self.held.insert(sequence, record.clone());
        self.release_held();
        true
    }

    /// Applies held commerce records that are next in order (or vouched for
    /// by the provisioner), lowest sequence first.
    fn release_held(&mut self) {
        while let Some(entry) = self.held.first_entry() {
            let sequence = *entry.key();
            if sequence <= self.version.commerce_sequence {
                entry.remove();
            } else if sequence == self.version.commerce_sequence + 1
                || sequence <= self.released_floor
            {
                let record = entry.remove();
                self.apply_in_order(&record);
            } else {
                break;
            }
        }
    }

    fn apply_in_order(&mut self, record: &CommerceRecord) {
        self.version.commerce_sequence = record.envelope.sequence;
        self.version.events_applied += 1;
        if let Err(rejection) = self.desired.apply(record) {
            self.rejections.push(rejection);
            if self.rejections.len() > MAX_REJECTIONS {
                self.rejections.remove(0);
            }
        }
        self.refresh();
    }

    /// Applies a provisioning record in provisioning-sequence order; `false`
    /// for a duplicate or stale one.
    ///
    /// Provisioning sequences are contiguous per tenant (the outbox allocates
    /// them), so a record after a gap — several relays publishing one tenant's
    /// rows out of order — is held until the gap fills.
    pub fn apply_provisioning(&mut self, record: &ProvisioningRecord) -> bool {
        let sequence = record.envelope.sequence;
        if sequence <= self.version.provisioning_sequence
            || self.held_provisioning.contains_key(&sequence)
        {
            return false;
        }
        self.held_provisioning.insert(sequence, record.clone());
        while let Some(entry) = self.held_provisioning.first_entry() {
            if *entry.key() != self.version.provisioning_sequence + 1 {
                break;
            }
            let next = entry.remove();
            self.apply_provisioning_in_order(&next);
        }
        true
    }

    fn apply_provisioning_in_order(&mut self, record: &ProvisioningRecord) {
        let sequence = record.envelope.sequence;
        self.version.provisioning_sequence = sequence;
        self.version.events_applied += 1;
        let trigger = match &record.event {
            ProvisioningEvent::SagaStarted(e) => e.trigger_sequence,
            ProvisioningEvent::SagaCompleted(e) => e.trigger_sequence,
            ProvisioningEvent::SagaFailed(e) => e.trigger_sequence,
            _ => 0,
        };
        if trigger > self.released_floor {
            self.released_floor = trigger;
            self.release_held();
        }
        match &record.event {
            ProvisioningEvent::SagaCompleted(done) => {
                self.last_failure = None;
                self.apply_completed(done);
            }
            ProvisioningEvent::SagaFailed(failed) => {
                self.last_failure = Some(failed.reason.clone());
                match &failed.product {
                    None if failed.saga_kind == SagaKind::ProvisionTenant.as_str() => {
                        self.tenant_saga_succeeded = Some(false);
                    }
                    None => {}
                    Some(key) => {
                        self.product_mut(key).failed =
                            Some((failed.trigger_sequence, failed.reason.clone()));
                    }
                }
            }
            // A move switches the tenant when its switch commits, not when
            // the saga completes: the old databases are retired in between.
            ProvisioningEvent::StepCompleted(step)
                if step.step_name == Step::SwitchPlacement.name() =>
            {
                self.apply_switch(&step.detail);
            }
            // Other started, step and compensation events carry progress, not context.
            _ => {}
        }
        self.refresh();
    }

    fn apply_completed(&mut self, done: &tenantry_schemas::SagaCompleted) {
        let outcome = &done.outcome;
        if outcome.site_host.is_some() {
            self.site_host.clone_from(&outcome.site_host);
        }
        if outcome.region.is_some() {
            self.region = outcome.region;
            self.region_pinned = outcome.region_pinned;
        }
        if !outcome.groups.is_empty() || done.saga_kind == SagaKind::DeactivateProduct.as_str() {
            self.groups = outcome.groups.iter().cloned().collect();
        }
        let kind = SagaKind::parse(&done.saga_kind);
        match (kind, &done.product) {
            (Some(SagaKind::ProvisionTenant), _) => self.tenant_saga_succeeded = Some(true),
            (Some(SagaKind::DestroyTenant), _) => {
                self.destruction_done = true;
                // The host stays on the destroyed context so edges asking by
                // host get 410 Gone; a tenant that later claims the released
                // host wins lookups by host.
                self.groups.clear();
                for product in self.products.values_mut() {
                    product.provisioned_sequence = 0;
                    product.shard = None;
                    product.database = None;
                    product.installed_apps.clear();
                }
            }
            (Some(SagaKind::ProvisionProduct), Some(key)) => {
                let product = self.product_mut(key);
                product.provisioned_sequence =
                    product.provisioned_sequence.max(done.trigger_sequence);
                product.suspended = false;
                product.shard.clone_from(&outcome.shard);
                product.database.clone_from(&outcome.database);
                product.installed_apps.clone_from(&outcome.installed_apps);
            }
            (Some(SagaKind::MoveTenant), _) => {
                for (key, shard) in &outcome.product_shards {
                    self.product_mut(key).shard = Some(shard.clone());
                }
                for (key, database) in &outcome.product_databases {
                    self.product_mut(key).database = Some(database.clone());
                }
            }
            (Some(SagaKind::SuspendProduct), Some(key)) => self.product_mut(key).suspended = true,
            (Some(SagaKind::UnsuspendProduct), Some(key)) => {
                self.product_mut(key).suspended = false
            }
            (Some(SagaKind::DeactivateProduct), Some(key)) => {
                let product = self.product_mut(key);
                product.provisioned_sequence = 0;
                product.shard = None;
                product.database = None;
                product.installed_apps.clear();
            }
            _ => {}
        }
    }

    /// Region, pin and per-product shard and database from the detail of a
    /// `switch_placement` step (keys of [`crate::saga::detail`]).
    fn apply_switch(&mut self, detail: &BTreeMap<String, String>) {
        if let Some(region) = detail
            .get(crate::saga::detail::REGION)
            .and_then(|r| Region::parse(r, "region").ok())
        {
            self.region = Some(region);
            self.region_pinned =
                detail.get(crate::saga::detail::PINNED).map(String::as_str) == Some("true");
        }
        for (key, value) in detail {
            let (prefix, product) = if let Some(p) = key.strip_prefix(crate::saga::detail::SHARD_OF)
            {
                (crate::saga::detail::SHARD_OF, p)
            } else if let Some(p) = key.strip_prefix(crate::saga::detail::DATABASE_OF) {
                (crate::saga::detail::DATABASE_OF, p)
            } else {
                continue;
            };
            let Ok(product) = ProductKey::parse(product) else {
                continue;
            };
            let context = self.product_mut(&product);
            if prefix == crate::saga::detail::SHARD_OF {
                context.shard = Some(value.clone());
            } else {
                context.database = Some(value.clone());
            }
        }
    }

    fn product_mut(&mut self, key: &ProductKey) -> &mut ProductContext {
        self.products
            .entry(key.clone())
            .or_insert_with(ProductContext::empty)
    }

    /// Recomputes derived fields from raw ones. A pure function of the raw
    /// fields, which is what makes the fold independent of stream
    /// interleaving. Access is shown conservatively: a product commerce has
    /// suspended or deactivated is shown so at once, before its saga ends.
    pub fn refresh(&mut self) {
        self.site = self.desired.tenant.as_ref().map(|t| t.site.to_string());
        self.status = if self.desired.destroyed || self.destruction_done {
            TenantStatus::Destroyed
        } else {
            match (self.desired.tenant.is_some(), self.tenant_saga_succeeded) {
                (_, Some(true)) => TenantStatus::Active,
                (_, Some(false)) => TenantStatus::Failed,
                (true, None) => TenantStatus::Provisioning,
                (false, None) => TenantStatus::Pending,
            }
        };
        for key in self.desired.products.keys() {
            self.products
                .entry(key.clone())
                .or_insert_with(ProductContext::empty);
        }
        for (key, product) in self.products.iter_mut() {
            let wanted = self.desired.products.get(key);
            product.licence = wanted.map(|d| d.licence);
            product.state = product_state(product, wanted);
        }
    }
}

/// Most rejections kept on a context.
pub const MAX_REJECTIONS: usize = 20;

fn product_state(product: &ProductContext, wanted: Option<&DesiredProduct>) -> ProductState {
    let failed_at = product.failed.as_ref().map_or(0, |(seq, _)| *seq);
    let provisioned = product.provisioned_sequence > 0;
    match wanted {
        Some(d) if d.goal == Goal::Deactivated => ProductState::Deactivated,
        Some(d) if d.goal == Goal::Suspended => ProductState::Suspended,
        Some(d) => {
            if provisioned && product.provisioned_sequence >= d.activated_at {
                if product.suspended {
                    ProductState::Suspended
                } else {
                    ProductState::Active
                }
            } else if failed_at >= d.activated_at && failed_at > product.provisioned_sequence {
                ProductState::Failed
            } else {
                ProductState::Provisioning
            }
        }
        None if failed_at > product.provisioned_sequence => ProductState::Failed,
        None if provisioned => ProductState::Active,
        None => ProductState::Provisioning,
    }
}

#[cfg(test)]
mod tests;
