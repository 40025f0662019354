//! Step 7, install apps: each licensed app gets a lifecycle callback
//! (`installed`) and is recorded as installed. Callbacks leave the store, so
//! only a product without apps — and a tenant saga, which has none — runs
//! this step in a batch or in the saga runner's transaction.
//!
//! Undone by deleting the installed apps, then an `uninstalled` callback
//! to each app.

use super::{StepContext, StepHandler, Work, callbacks, product_of};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaKind, SagaState, Step, StepError, StepOutput, StepPolicy};

pub(super) struct InstallApps;

fn without_apps(saga: &SagaState) -> bool {
    saga.spec.product.as_ref().is_none_or(|p| p.apps.is_empty())
}

#[async_trait]
impl StepHandler for InstallApps {
    /// An app's callback may take a while.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(30))
    }

    fn runs_in_batch(&self, _cx: &StepContext, saga: &SagaState) -> bool {
        without_apps(saga)
    }

    async fn run_in_batch(
        &self,
        _cx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            return Ok(StepOutput::new());
        }
        let p = product_of(saga)?;
        for app in &p.apps {
            work.effects.installed_apps.push((
                saga.tenant_id.clone(),
                p.product.clone(),
                app.to_string(),
            ));
        }
        Ok(StepOutput::new().with_apps(&p.apps))
    }

    fn runs_in_work(&self, _cx: &StepContext, saga: &SagaState) -> bool {
        without_apps(saga)
    }

    /// `installed` to every app of the product.
    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        if saga.kind == SagaKind::ProvisionProduct {
            callbacks(cx, saga, Step::InstallApps, product_of(saga)?, true).await?;
        }
        Ok(())
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            return Ok(StepOutput::new());
        }
        let p = product_of(saga)?;
        store
            .insert_installed_apps(&saga.tenant_id, &p.product, &p.apps)
            .await?;
        Ok(StepOutput::new().with_apps(&p.apps))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        if saga.kind == SagaKind::ProvisionProduct {
            let product = &product_of(saga)?.product;
            store
                .delete_installed_apps(&saga.tenant_id, product)
                .await?;
        }
        Ok(())
    }

    /// `uninstalled` to every app of the product.
    async fn compensated(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        if saga.kind == SagaKind::ProvisionProduct {
            callbacks(cx, saga, Step::InstallApps, product_of(saga)?, false).await?;
        }
        Ok(())
    }
}
