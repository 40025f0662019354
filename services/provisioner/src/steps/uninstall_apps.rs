//! Deactivation, first step (seed, "Tenant provisioning and lifecycle":
//! "after the de-activation of certain products or apps"): every app of the
//! product gets its lifecycle callback (`uninstalled`, before the rows,
//! each with the step's idempotency key and the app's name), then the
//! product's installed apps are deleted.
//!
//! Undone by recording the apps as installed again and calling each app's
//! `installed` callback.

use super::{StepContext, StepHandler, callbacks, product_of};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput, StepPolicy};

/// Uninstalls a product's apps.
pub(super) struct UninstallApps;

#[async_trait]
impl StepHandler for UninstallApps {
    /// App callbacks leave the platform: 30 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(30))
    }

    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        callbacks(cx, saga, Step::UninstallApps, product_of(saga)?, false).await
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let p = product_of(saga)?;
        store
            .delete_installed_apps(&saga.tenant_id, &p.product)
            .await?;
        let apps: Vec<&str> = p.apps.iter().map(|a| a.as_str()).collect();
        Ok(StepOutput::new().fact("uninstalled", apps.join(",")))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let p = product_of(saga)?;
        store
            .insert_installed_apps(&saga.tenant_id, &p.product, &p.apps)
            .await
    }

    async fn compensated(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        callbacks(cx, saga, Step::UninstallApps, product_of(saga)?, true).await
    }
}
