//! The tenant context (the seed's "tenant context service" record) and its fold.
//!
//! The context of a tenant is the newest [`TenantState`] the provisioner
//! published for it on `provisioning.events.v1` — nothing else is read, so
//! the context cannot disagree with the provisioner: an event that waits,
//! was rejected, skipped or dead-lettered reaches an edge only as the
//! provisioner decided it. Each record is the whole state, so the fold is
//! "the highest provisioning sequence wins": order, duplicates and gaps
//! between records do not change the result, and replaying the topic into an
//! empty store gives the live context. The fold reads nothing but records:
//! no clock, no lookups.
//!
//! Records of the retired saga kinds (written by the contract before tenant
//! states) carry nothing the fold applies and are passed over.

use serde::{Deserialize, Serialize};
use tenantry_schemas::{ProvisioningEvent, ProvisioningRecord, TenantId, TenantState};
use uuid::Uuid;

pub use tenantry_schemas::{ProductContext, ProductState, TenantStatus};

/// Which record the context is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContextVersion {
    /// Provisioning sequence of the tenant-state record applied (0: none).
    pub provisioning_sequence: i64,
    /// Event id of that record.
    #[serde(default)]
    pub event_id: Option<Uuid>,
}

/// Everything an edge needs about a tenant on every request: the newest
/// tenant state and which record it came from.
///
/// The JSON shape keeps the member names of the context documents the
/// projector stored before tenant states (`status`, `site_host`, `products`
/// …), so a store written by the earlier contract still reads until the
/// provisioner republishes every tenant (`tenantry republish`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantContext {
    /// Tenant id.
    pub tenant_id: TenantId,
    /// The tenant state as the provisioner decided it.
    #[serde(flatten)]
    pub state: TenantState,
    /// The record it came from.
    pub version: ContextVersion,
}

impl TenantContext {
    /// The context of a tenant no record has touched.
    pub fn empty(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            state: TenantState::default(),
            version: ContextVersion::default(),
        }
    }

    /// Applies a provisioning record: a tenant state newer than the one
    /// applied replaces it. Returns `false` (and changes nothing) for an
    /// older or repeated record, and for a retired saga record.
    pub fn apply(&mut self, record: &ProvisioningRecord) -> bool {
        let ProvisioningEvent::TenantState(state) = &record.event else {
            return false;
        };
        let sequence = record.envelope.sequence;
        if sequence <= self.version.provisioning_sequence {
            return false;
        }
        self.state = (**state).clone();
        self.version = ContextVersion {
            provisioning_sequence: sequence,
            event_id: Some(record.envelope.event_id),
        };
        true
    }
}

#[cfg(test)]
mod tests;

/// A new version of a tenant's context as the store holds it: one record of
/// the context changelog (`tenant-context.changelog.v1`; key: the tenant id,
/// value: this as JSON), written by the projector and read by every cache
/// of the context API.
///
/// JSON shape: `{"revision": 3, "context": {...}}` with the
/// [`TenantContext`] fields as serde writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextChange {
    /// The store's revision of the context (1, 2, … per tenant): a reader
    /// keeps the highest it has seen.
    pub revision: i64,
    /// The context; a destroyed tenant's says so (`status: destroyed`).
    pub context: TenantContext,
}
