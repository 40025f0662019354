//! The provisioning saga as a state machine.
//!
//! The state machine performs no effects: the runner asks [`SagaState::next_action`]
//! what to do, performs it through [`crate::StepEffects`], and feeds the result
//! back (`step_succeeded`, `step_failed`, `compensated`, `compensation_failed`).
//! Each transition bumps [`SagaState::version`]; the runner persists it with
//! compare-and-set on that version. A result for a step that is not the one
//! expected (a stale or duplicate message) is rejected with
//! [`SagaError::Stale`] and changes nothing. Step progress lives in the saga
//! store (`tenantry sagas show`); what the tenant context needs of a saga's
//! end is the tenant state the provisioner publishes ([`crate::tenant`]).

use crate::ports::{StepError, StepOutput};
use crate::steps::{Compensation, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tenantry_schemas::{
    AppKey, CountryCode, Edition, Envelope, KmsKeyRef, ProductKey, ProvisionedOutcome, Region,
    SiteName, TenantId,
};
use uuid::Uuid;

/// Which saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaKind {
    /// Tenant created: licence state, site, region, metadata, owner and
    /// `site-admins` (steps 6 and 7 have nothing to do without a product).
    ProvisionTenant,
    /// Product activated: all seven steps for one product.
    ProvisionProduct,
    /// Product suspended: access disabled, data untouched.
    SuspendProduct,
    /// Product un-suspended: access re-enabled.
    UnsuspendProduct,
    /// Licence updated: seats and edition.
    UpdateLicence,
    /// Product deactivated: apps uninstalled, group removed, database
    /// snapshotted then retired, licence ended.
    DeactivateProduct,
    /// Tenant destroyed: products deactivated in reverse order, host released,
    /// identity removed, data key destroyed.
    DestroyTenant,
    /// Residency pin set after creation: new databases in the pinned region,
    /// copy, switch placement and context, retire the old databases.
    MoveTenant,
}

/// The seven provisioning steps in the seed's order.
const PROVISION: &[Step] = &[
    Step::RecordLicence,
    Step::CreateSite,
    Step::PlaceRegion,
    Step::StoreMetadata,
    Step::CreateIdentity,
    Step::ProvisionDatabase,
    Step::InstallApps,
];

impl SagaKind {
    /// Snake-case name as published in saga events.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaKind::ProvisionTenant => "provision_tenant",
            SagaKind::ProvisionProduct => "provision_product",
            SagaKind::SuspendProduct => "suspend_product",
            SagaKind::UnsuspendProduct => "unsuspend_product",
            SagaKind::UpdateLicence => "update_licence",
            SagaKind::DeactivateProduct => "deactivate_product",
            SagaKind::DestroyTenant => "destroy_tenant",
            SagaKind::MoveTenant => "move_tenant",
        }
    }

    /// The kind named `name` (the inverse of [`SagaKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [
            SagaKind::ProvisionTenant,
            SagaKind::ProvisionProduct,
            SagaKind::SuspendProduct,
            SagaKind::UnsuspendProduct,
            SagaKind::UpdateLicence,
            SagaKind::DeactivateProduct,
            SagaKind::DestroyTenant,
            SagaKind::MoveTenant,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// The saga's steps in execution order; compensation runs them backwards.
    pub fn steps(self) -> &'static [Step] {
        match self {
            SagaKind::ProvisionTenant | SagaKind::ProvisionProduct => PROVISION,
            SagaKind::SuspendProduct => &[Step::DisableAccess],
            SagaKind::UnsuspendProduct => &[Step::EnableAccess],
            SagaKind::UpdateLicence => &[Step::UpdateLicence],
            SagaKind::DeactivateProduct => &[
                Step::UninstallApps,
                Step::RemoveProductGroup,
                Step::SnapshotDatabase,
                Step::RetireDatabase,
                Step::EndLicence,
            ],
            SagaKind::DestroyTenant => &[
                Step::DeactivateAllProducts,
                Step::ReleaseHost,
                Step::RemoveIdentity,
                Step::ShredDataKey,
            ],
            SagaKind::MoveTenant => &[
                Step::CreateTargetDatabases,
                Step::CopyData,
                Step::SwitchPlacement,
                Step::RetireSourceDatabases,
            ],
        }
    }

    /// 1-based position of `step` in this saga (0 if it is not one of its steps).
    pub fn step_number(self, step: Step) -> i32 {
        self.steps()
            .iter()
            .position(|s| *s == step)
            .map_or(0, |i| i as i32 + 1)
    }
}

/// The tenant part of a saga's input (from `TenantCreated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSpec {
    /// Site name.
    pub site: SiteName,
    /// Owner, the first site admin.
    pub owner_email: String,
    /// Country of most users.
    pub country: CountryCode,
    /// Data-residency pin.
    pub residency_pin: Option<Region>,
    /// The tenant's own KMS key (`tenant_created.kms_key`): every saga of
    /// the tenant carries it, so the steps that seal, open or forget the
    /// tenant's data keys name it to the key service. `None`: Tenantry's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<KmsKeyRef>,
}

/// The product part of a saga's input (from `ProductActivated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSpec {
    /// Product key.
    pub product: ProductKey,
    /// Licence edition.
    pub edition: Edition,
    /// Licensed seats.
    pub seats: i32,
    /// Licensed apps.
    pub apps: Vec<AppKey>,
}

/// Everything a saga's steps need as input, fixed when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaSpec {
    /// The tenant.
    pub tenant: TenantSpec,
    /// The product, for product sagas (for a licence update: the new licence;
    /// for a deactivation: the installed apps).
    pub product: Option<ProductSpec>,
    /// For [`SagaKind::DestroyTenant`]: the provisioned products, in reverse
    /// order of activation; for [`SagaKind::MoveTenant`]: the products whose
    /// databases move.
    #[serde(default)]
    pub products: Vec<ProductSpec>,
}

/// Where a saga is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStatus {
    /// Steps are running forward.
    Running,
    /// A step failed permanently; completed steps are being undone.
    Compensating,
    /// All steps completed.
    Completed,
    /// Failed and fully compensated.
    Failed,
    /// A compensation failed: resources may be left behind; an operator must look.
    CompensationFailed,
}

impl SagaStatus {
    /// Snake-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Completed => "completed",
            SagaStatus::Failed => "failed",
            SagaStatus::CompensationFailed => "compensation_failed",
        }
    }

    /// True when nothing more will happen without an operator.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SagaStatus::Completed | SagaStatus::Failed | SagaStatus::CompensationFailed
        )
    }
}

/// What the runner must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaAction {
    /// Execute this step.
    Run(Step),
    /// Compensate this completed step.
    Compensate(Step),
    /// Nothing: the saga is in a terminal state.
    Done,
}

/// A transition that does not apply to the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SagaError {
    /// The message is for a step or phase the saga is not in (stale or duplicate).
    #[error("stale saga message: expected {expected:?}, got {got}")]
    Stale {
        /// What the saga expects now.
        expected: SagaAction,
        /// What arrived.
        got: String,
    },
}

/// Persisted state of one saga. Serialised as JSON in the saga store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaState {
    /// Saga id (UUID v5 of trigger event id, kind and product, so a
    /// redelivered trigger maps to the same saga).
    pub saga_id: Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: SagaKind,
    /// Commerce event that started it.
    pub trigger_event_id: Uuid,
    /// Commerce sequence of that event.
    pub trigger_sequence: i64,
    /// Input.
    pub spec: SagaSpec,
    /// Status.
    pub status: SagaStatus,
    /// Compare-and-set version, +1 per transition.
    pub version: i64,
    /// Outputs of completed steps.
    pub results: BTreeMap<Step, StepOutput>,
    /// Steps already compensated.
    pub compensated: Vec<Step>,
    /// Why the saga failed, when it did.
    pub failure: Option<String>,
    /// The saga failed at a step blocked outside Tenantry ([`StepError::blocked`]:
    /// a tenant's own KMS key disabled): nothing was compensated, and a
    /// retry resumes at that step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
}

/// Namespace for saga ids derived from trigger event ids (UUID v5).
const SAGA_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_5b2e_9d0a_4c3e_8f7b_1a2b_3c4d_5e6f);

impl SagaState {
    /// Starts a saga for the commerce event in `trigger`: version 1, status
    /// running.
    pub fn start(kind: SagaKind, trigger: &Envelope, spec: SagaSpec) -> Self {
        // One trigger can start several sagas (activating a product that is
        // already wanted suspended: provision, then suspend), each once.
        let product = spec.product.as_ref().map_or("", |p| p.product.as_str());
        let name = format!("{}/{}/{product}", trigger.event_id, kind.as_str());
        let saga_id = Uuid::new_v5(&SAGA_NAMESPACE, name.as_bytes());
        Self {
            saga_id,
            tenant_id: trigger.tenant_id.clone(),
            kind,
            trigger_event_id: trigger.event_id,
            trigger_sequence: trigger.sequence,
            spec,
            status: SagaStatus::Running,
            version: 1,
            results: BTreeMap::new(),
            compensated: Vec::new(),
            failure: None,
            blocked: false,
        }
    }

    /// Product of a product saga.
    pub fn product(&self) -> Option<&ProductKey> {
        self.spec.product.as_ref().map(|p| &p.product)
    }

    /// The next thing to do, derived from status and results only.
    pub fn next_action(&self) -> SagaAction {
        match self.status {
            SagaStatus::Running => self
                .kind
                .steps()
                .iter()
                .find(|s| !self.results.contains_key(s))
                .map_or(SagaAction::Done, |s| SagaAction::Run(*s)),
            SagaStatus::Compensating => self
                .kind
                .steps()
                .iter()
                .rev()
                .find(|s| self.results.contains_key(s) && !self.compensated.contains(s))
                .map_or(SagaAction::Done, |s| SagaAction::Compensate(*s)),
            _ => SagaAction::Done,
        }
    }

    fn expect(&self, wanted: SagaAction) -> Result<(), SagaError> {
        let expected = self.next_action();
        if expected == wanted {
            Ok(())
        } else {
            Err(SagaError::Stale {
                expected,
                got: format!("{wanted:?}"),
            })
        }
    }

    /// Records `output` for `step`; the saga completes after its last step.
    pub fn step_succeeded(&mut self, step: Step, output: StepOutput) -> Result<(), SagaError> {
        self.expect(SagaAction::Run(step))?;
        self.results.insert(step, output);
        self.version += 1;
        if self.next_action() == SagaAction::Done {
            self.status = SagaStatus::Completed;
        }
        Ok(())
    }

    /// Records a failed attempt of `step`. A retryable error only counts
    /// the attempt (the runner retries); a permanent one starts compensation
    /// (or fails the saga at once when no step had completed, or past a
    /// pivot step); a blocked one fails the saga at once, uncompensated, to
    /// resume at this step.
    pub fn step_failed(&mut self, step: Step, error: &StepError) -> Result<(), SagaError> {
        self.expect(SagaAction::Run(step))?;
        self.version += 1;
        if !error.retryable {
            let reason = format!(
                "step {} {}: {}",
                self.kind.step_number(step),
                step.name(),
                error.reason
            );
            if error.blocked {
                // What is done stays done: the failure is outside Tenantry
                // and goes away when its owner acts, not by undoing.
                self.failure = Some(format!(
                    "{reason} (blocked: not compensated; `tenantry sagas retry` resumes here)"
                ));
                self.status = SagaStatus::Failed;
                self.blocked = true;
            } else if let Some(pivot) = self.completed_pivot() {
                // Past a pivot the saga only moves forward: no compensation;
                // an operator's retry resumes at this step.
                let reason = format!(
                    "{reason} (after pivot step {}: not compensated; `tenantry sagas retry` resumes here)",
                    pivot.name()
                );
                self.failure = Some(reason);
                self.status = SagaStatus::Failed;
            } else {
                self.failure = Some(reason);
                self.status = SagaStatus::Compensating;
                self.finish_if_compensated();
            }
        }
        Ok(())
    }

    /// Records that `step` was compensated; after the last compensation the
    /// saga has failed, compensated.
    pub fn compensated(&mut self, step: Step) -> Result<(), SagaError> {
        self.expect(SagaAction::Compensate(step))?;
        self.compensated.push(step);
        self.version += 1;
        self.finish_if_compensated();
        Ok(())
    }

    /// Records that compensating `step` failed for good: the saga ends in
    /// `compensation_failed`, never reported as compensated.
    pub fn compensation_failed(&mut self, step: Step, error: &StepError) -> Result<(), SagaError> {
        self.expect(SagaAction::Compensate(step))?;
        self.version += 1;
        self.status = SagaStatus::CompensationFailed;
        let reason = format!(
            "{}; compensation of step {} {} failed: {}",
            self.failure.as_deref().unwrap_or("saga failed"),
            self.kind.step_number(step),
            step.name(),
            error.reason
        );
        self.failure = Some(reason);
        Ok(())
    }

    /// Operator retry of a failed saga (`tenantry sagas retry`): a saga that
    /// failed and was compensated starts again from step 1; one that failed
    /// past a pivot, or blocked, resumes at the failed step; one whose
    /// compensation failed resumes compensating.
    ///
    /// Errors: [`SagaError::Stale`] when the saga is not failed.
    pub fn retry(&mut self) -> Result<(), SagaError> {
        match self.status {
            SagaStatus::Failed if self.blocked || self.completed_pivot().is_some() => {
                self.status = SagaStatus::Running;
                self.failure = None;
                self.blocked = false;
            }
            SagaStatus::Failed => {
                self.status = SagaStatus::Running;
                self.results.clear();
                self.compensated.clear();
                self.failure = None;
            }
            SagaStatus::CompensationFailed => self.status = SagaStatus::Compensating,
            _ => {
                return Err(SagaError::Stale {
                    expected: self.next_action(),
                    got: "retry".into(),
                });
            }
        }
        self.version += 1;
        Ok(())
    }

    /// The last completed pivot step, if any.
    fn completed_pivot(&self) -> Option<Step> {
        self.kind
            .steps()
            .iter()
            .rev()
            .find(|s| self.results.contains_key(s) && s.compensation() == Compensation::Pivot)
            .copied()
    }

    fn finish_if_compensated(&mut self) {
        if self.next_action() == SagaAction::Done {
            self.status = SagaStatus::Failed;
        }
    }

    /// The first value `read` finds in the step results, latest step first.
    fn latest<T>(&self, read: impl Fn(&StepOutput) -> Option<T>) -> Option<T> {
        self.kind
            .steps()
            .iter()
            .rev()
            .filter_map(|step| self.results.get(step))
            .find_map(read)
    }

    /// The outcome built from step results (what the context shows).
    pub fn outcome(&self) -> ProvisionedOutcome {
        let placed = self.latest(StepOutput::database);
        let placement = self.latest(|out| out.region().map(|region| (region, out.pinned())));
        let mut product_shards = BTreeMap::new();
        let mut product_databases = BTreeMap::new();
        for output in self.results.values() {
            for (product, placed) in output.moved() {
                product_shards.insert(product.clone(), placed.shard);
                product_databases.insert(product, placed.database);
            }
        }
        ProvisionedOutcome {
            site_host: self.latest(|out| out.host().map(str::to_owned)),
            region: placement.map(|(region, _)| region),
            region_pinned: placement.is_some_and(|(_, pinned)| pinned),
            shard: placed
                .as_ref()
                .map(|p| p.shard.clone())
                .filter(|s| !s.is_empty()),
            database: placed.map(|p| p.database),
            groups: self
                .latest(|out| out.groups().filter(|g| !g.is_empty()))
                .unwrap_or_default(),
            installed_apps: self
                .latest(|out| out.apps().filter(|a| !a.is_empty()))
                .unwrap_or_default(),
            product_shards,
            product_databases,
        }
    }
}

#[cfg(test)]
mod tests;
