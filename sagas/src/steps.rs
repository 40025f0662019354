//! The seven steps of provisioning (seed, "Tenant provisioning and lifecycle";
//! DESIGN.md, "The seven steps").

use crate::ports::StepError;
use crate::saga::SagaState;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a step is retried and bounded.
///
/// Attempts back off exponentially from `initial_backoff`, doubling up to
/// `max_backoff`, with full jitter; only errors the adapter marks retryable
/// (lost connections, timeouts) are retried — a business-rule failure is
/// permanent at once. An attempt longer than `timeout` counts as a retryable
/// failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepPolicy {
    /// Attempts before a retryable failure counts as permanent (≥ 1).
    pub max_attempts: usize,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl StepPolicy {
    /// Five attempts, backing off from 100 ms to 5 s, each bounded by `timeout`.
    pub const fn with_timeout(timeout: Duration) -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            timeout,
        }
    }
}

impl Default for StepPolicy {
    /// A step that only touches the local database: 10 s per attempt.
    fn default() -> Self {
        Self::with_timeout(Duration::from_secs(10))
    }
}

/// What undoes a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compensation {
    /// The step has an undo action, run in reverse order when a later step fails.
    Undo,
    /// A pivot: once it completed the saga only moves forward. A later
    /// permanent failure is not compensated: the saga ends `failed`
    /// (`compensated: false`), the tenant is parked, and `tenantry sagas
    /// retry` resumes at the failed step. (None of the seven provisioning
    /// steps is a pivot: a failed step 7 must leave no database behind.)
    Pivot,
}

/// One saga step. The seven provisioning steps come first, in the seed's
/// order; the others belong to the lifecycle sagas. Which steps a
/// saga runs, in which order, is [`crate::SagaKind::steps`]; what a step
/// does, how it is undone, retried and bounded is its handler's (the
/// provisioner's `steps` module, a file per step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 1. Record commerce metadata and the licence (access-control) state.
    RecordLicence,
    /// 2. Create the site (unique host `<site>.<domain>`) and activate products.
    CreateSite,
    /// 3. Place the tenant in a region: the residency pin, else nearest its users.
    PlaceRegion,
    /// 4. Store site and product core metadata and default configuration.
    StoreMetadata,
    /// 5. Create identity data: users, groups, permissions.
    CreateIdentity,
    /// 6. Provision the product database on a shard in the region.
    ProvisionDatabase,
    /// 7. Install the licensed apps (lifecycle callback to each app).
    InstallApps,
    /// Suspension: the product group loses its permission; data untouched.
    DisableAccess,
    /// Un-suspension: the product group regains its permission.
    EnableAccess,
    /// Licence update: seats and edition; fewer seats than users is recorded
    /// as over-licence, nothing is removed.
    UpdateLicence,
    /// Deactivation: uninstall the product's apps (lifecycle callback).
    UninstallApps,
    /// Deactivation: remove the `<product>-users` group.
    RemoveProductGroup,
    /// Deactivation: snapshot the product database (the seed's backups).
    SnapshotDatabase,
    /// Deactivation: drop or archive the product database per retention. A
    /// pivot: a dropped database cannot be un-dropped.
    RetireDatabase,
    /// Deactivation: the product's licence and site entry end.
    EndLicence,
    /// Destruction: deactivate every product, in reverse order of activation.
    DeactivateAllProducts,
    /// Destruction: release the site host (reusable after a quarantine).
    ReleaseHost,
    /// Destruction: remove the tenant's identity data.
    RemoveIdentity,
    /// Destruction: destroy the tenant's data key (crypto-shredding).
    ShredDataKey,
    /// Move: create each product database anew on a shard in the pinned region.
    CreateTargetDatabases,
    /// Move: copy each product database's data to its target.
    CopyData,
    /// Move: the placement (region, pin) and each product's shard and database
    /// now point at the targets; the context follows. A pivot: once the
    /// tenant lives in the new region a failed retirement of the old
    /// databases must not move it back onto them.
    SwitchPlacement,
    /// Move: drop or archive the source databases per retention. A pivot.
    RetireSourceDatabases,
}

impl Step {
    /// Snake-case name (`create_site`), used in events, logs and idempotency keys.
    pub fn name(self) -> &'static str {
        match self {
            Step::RecordLicence => "record_licence",
            Step::CreateSite => "create_site",
            Step::PlaceRegion => "place_region",
            Step::StoreMetadata => "store_metadata",
            Step::CreateIdentity => "create_identity",
            Step::ProvisionDatabase => "provision_database",
            Step::InstallApps => "install_apps",
            Step::DisableAccess => "disable_access",
            Step::EnableAccess => "enable_access",
            Step::UpdateLicence => "update_licence",
            Step::UninstallApps => "uninstall_apps",
            Step::RemoveProductGroup => "remove_product_group",
            Step::SnapshotDatabase => "snapshot_database",
            Step::RetireDatabase => "retire_database",
            Step::EndLicence => "end_licence",
            Step::DeactivateAllProducts => "deactivate_all_products",
            Step::ReleaseHost => "release_host",
            Step::RemoveIdentity => "remove_identity",
            Step::ShredDataKey => "shred_data_key",
            Step::CreateTargetDatabases => "create_target_databases",
            Step::CopyData => "copy_data",
            Step::SwitchPlacement => "switch_placement",
            Step::RetireSourceDatabases => "retire_source_databases",
        }
    }

    /// Idempotency key of the step's effect in `saga`: `<saga id>:<step
    /// name>`, the same for every attempt, so a redelivered or resumed step
    /// finds its recorded result.
    pub fn idempotency_key(self, saga: &SagaState) -> String {
        format!("{}:{}", saga.saga_id, self.name())
    }

    /// How the step is undone: part of the saga's definition (where its
    /// pivots are), not of the step's handler. Destroying data (retiring a
    /// database, destroying a tenant) cannot be undone: those steps are pivots.
    pub fn compensation(self) -> Compensation {
        match self {
            Step::RetireDatabase
            | Step::DeactivateAllProducts
            | Step::ReleaseHost
            | Step::RemoveIdentity
            | Step::ShredDataKey
            | Step::SwitchPlacement
            | Step::RetireSourceDatabases => Compensation::Pivot,
            _ => Compensation::Undo,
        }
    }
}

/// Data residency fails closed: a pinned tenant's step never acts in
/// another region than its pin (seed, "Data residency"). Errors (permanent)
/// when `saga`'s tenant is pinned to a region other than `region`.
pub fn residency_guard(saga: &SagaState, region: &str) -> Result<(), StepError> {
    let Some(pin) = saga.spec.tenant.residency_pin else {
        return Ok(());
    };
    if region == pin.as_str() {
        Ok(())
    } else {
        Err(StepError::permanent(format!(
            "data residency: tenant {} is pinned to {pin} but its placement is {region}; refusing to act outside the pin",
            saga.tenant_id
        )))
    }
}

/// Step 4's record: its scope (`site`, or `product:<key>`) and the default
/// configuration — the site's locale and time zone, or a product's edition,
/// seats and the edition's feature flags.
///
/// # Errors
/// A product saga without a product (permanent).
pub fn metadata(saga: &SagaState) -> Result<(String, serde_json::Value), StepError> {
    if saga.product().is_none() {
        let config = serde_json::json!({
            "site": saga.spec.tenant.site, "locale": "en-US", "time_zone": "UTC"
        });
        return Ok(("site".to_owned(), config));
    }
    let p = saga
        .spec
        .product
        .as_ref()
        .ok_or_else(|| StepError::permanent("product saga without a product"))?;
    let features: &[&str] = match p.edition.as_str() {
        "premium" | "enterprise" => &["sandbox", "audit-log", "advanced-permissions"],
        "standard" => &["advanced-permissions"],
        _ => &[],
    };
    let config = serde_json::json!({
        "product": p.product, "edition": p.edition.as_str(), "seats": p.seats,
        "features": features,
    });
    Ok((format!("product:{}", p.product), config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_steps_are_pivots() {
        let cases = [
            (Step::CreateSite, Compensation::Undo),
            (Step::ProvisionDatabase, Compensation::Undo),
            (Step::SnapshotDatabase, Compensation::Undo),
            (Step::RetireDatabase, Compensation::Pivot),
            (Step::ShredDataKey, Compensation::Pivot),
            (Step::CopyData, Compensation::Undo),
            (Step::SwitchPlacement, Compensation::Pivot),
            (Step::RetireSourceDatabases, Compensation::Pivot),
        ];
        for (step, compensation) in cases {
            assert_eq!(step.compensation(), compensation, "{}", step.name());
        }
    }
}
