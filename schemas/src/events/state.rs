//! The tenant state the provisioner publishes (`tenant_state.avsc`) and the
//! types it is made of.

use crate::events::Edition;
use crate::ids::{AppKey, ProductKey, Region};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lifecycle of a tenant (`tenantry.provisioning.TenantStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// No `tenant_created` accepted (yet, or any more after an operator
    /// skipped a failed creation). The Avro enum default.
    #[default]
    Pending,
    /// Tenant created; its saga has not finished.
    Provisioning,
    /// Tenant saga completed.
    Active,
    /// Tenant saga failed; the tenant is parked until an operator acts.
    Failed,
    /// `tenant_destroyed` accepted (shown at once, before its saga ends).
    Destroyed,
}

impl TenantStatus {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Pending => "pending",
            TenantStatus::Provisioning => "provisioning",
            TenantStatus::Active => "active",
            TenantStatus::Failed => "failed",
            TenantStatus::Destroyed => "destroyed",
        }
    }
}

/// State of one product (`tenantry.provisioning.ProductState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductState {
    /// Activation accepted; its saga has not completed. The Avro enum default.
    Provisioning,
    /// Provisioned and usable.
    Active,
    /// Access suspended, data kept (shown at once, before its saga ends).
    Suspended,
    /// Licence ended (shown at once, before its saga ends).
    Deactivated,
    /// The product's saga failed; the tenant is parked until an operator acts.
    Failed,
}

impl ProductState {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductState::Provisioning => "provisioning",
            ProductState::Active => "active",
            ProductState::Suspended => "suspended",
            ProductState::Deactivated => "deactivated",
            ProductState::Failed => "failed",
        }
    }
}

/// Licence of one product (`tenantry.provisioning.Licence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    /// Licensed seats.
    pub seats: i32,
    /// Edition.
    pub edition: Edition,
}

/// A commerce event the provisioner released and refused
/// (`tenantry.provisioning.Rejection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Commerce sequence of the event.
    pub sequence: i64,
    /// Event kind (`licence_updated`).
    pub kind: String,
    /// Why, for operators and edges.
    pub reason: String,
}

/// One product in a [`TenantState`] (`tenantry.provisioning.ProductContext`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductContext {
    /// State.
    pub state: ProductState,
    /// Licence of the accepted activation or licence update.
    pub licence: Option<Licence>,
    /// Shard holding the product database (step 6).
    pub shard: Option<String>,
    /// Product database name on the shard (step 6).
    pub database: Option<String>,
    /// Installed apps (step 7).
    pub installed_apps: Vec<AppKey>,
    /// Why the product's saga failed, when `state` is [`ProductState::Failed`].
    #[serde(default)]
    pub failure: Option<String>,
}

/// Why a tenant's commerce events wait (`tenantry.provisioning.Parking`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parking {
    /// `saga_failed` or `sequence_gap`.
    pub kind: String,
    /// Operator-facing reason.
    pub reason: String,
    /// Commerce events recorded and waiting behind it.
    pub waiting: i64,
    /// Highest commerce sequence among them; 0 when none waits.
    #[serde(default)]
    pub last_waiting: i64,
}

/// The tenant's state as the provisioner decided it (`tenant_state.avsc`):
/// published whole after every transaction that changes it, so the newest
/// record of a tenant is its tenant context. Members added after the first
/// stored contexts default when absent (serde), so those still read. The
/// default is the state of a tenant nothing was released for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TenantState {
    /// Last commerce sequence released (applied or rejected); 0 before the first.
    #[serde(default)]
    pub commerce_sequence: i64,
    /// Lifecycle status.
    pub status: TenantStatus,
    /// Site name of the accepted `tenant_created`.
    pub site: Option<String>,
    /// Site host, once step 2 created it.
    pub site_host: Option<String>,
    /// Region the tenant's products live in, once placed.
    pub region: Option<Region>,
    /// Whether `region` is the data-residency pin.
    pub region_pinned: bool,
    /// Region of a newer pin the tenant is being moved to.
    #[serde(default)]
    pub moving_to: Option<Region>,
    /// Products by key.
    pub products: BTreeMap<ProductKey, ProductContext>,
    /// Identity groups, sorted.
    pub groups: Vec<String>,
    /// Why the latest saga failed, while that failure stands.
    pub last_failure: Option<String>,
    /// The latest refused commerce events, oldest first.
    pub rejections: Vec<Rejection>,
    /// Set while the tenant is parked.
    #[serde(default)]
    pub parked: Option<Parking>,
    /// Kind of the saga under way (or about to start), when one is.
    #[serde(default)]
    pub pending_saga: Option<String>,
}
