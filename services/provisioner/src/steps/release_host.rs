//! Destruction: the tenant's site is deleted and its host
//! (`<site>.<domain>`) released — unusable by another tenant for the
//! quarantine ([`super::EffectsConfig::host_quarantine_ms`]), so requests
//! meant for the destroyed tenant never reach a new one. A tenant without
//! a site releases nothing.
//!
//! A pivot of the destruction: never undone.

use super::{StepContext, StepHandler, now_ms};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};

/// Releases a destroyed tenant's site host.
pub(super) struct ReleaseHost;

#[async_trait]
impl StepHandler for ReleaseHost {
    async fn execute(
        &self,
        cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let host = store.site_host(tenant).await?;
        if let Some(host) = &host {
            let now = now_ms();
            let reusable_after = now + cx.config.host_quarantine_ms;
            store
                .release_host(host, tenant, now, reusable_after)
                .await?;
            store.delete_site(tenant).await?;
        }
        Ok(StepOutput::new().fact("released", host.unwrap_or_default()))
    }
}
