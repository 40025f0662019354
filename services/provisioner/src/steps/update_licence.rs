//! Licence update (seed, "Tenant provisioning and lifecycle": "the number
//! of license seats for a given product"): the product's licence takes the
//! new edition and seats. Fewer seats than members of the product's users
//! group is recorded as over-licence; nobody is removed. A product without
//! a licence is left alone.
//!
//! The output keeps the licence it replaced; undone by restoring that
//! edition and those seats, no longer over-licence.

use super::{StepContext, StepHandler, product_group, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::{LicenceRow, StepStore};
use tenantry_sagas::{SagaState, Step, StepError, StepOutput};

/// Updates a product's licence.
pub(super) struct UpdateLicence;

#[async_trait]
impl StepHandler for UpdateLicence {
    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let p = product_of(saga)?;
        let previous = store.licence(tenant, &p.product).await?;
        let (group, _) = product_group(p.product.as_str());
        let users = store.members(tenant, &group).await?.len();
        // Fewer seats than users is recorded, never enforced by removing anyone.
        let over = i64::try_from(users).unwrap_or(i64::MAX) > i64::from(p.seats);
        let licence = LicenceRow {
            edition: p.edition.as_str().to_owned(),
            seats: p.seats,
        };
        store
            .update_licence(tenant, &p.product, &licence, over)
            .await?;
        let (edition, seats) = previous.map_or_else(Default::default, |l| (l.edition, l.seats));
        Ok(StepOutput::new()
            .with_previous_licence(edition, seats)
            .fact("seats", p.seats)
            .fact("over_licence", over))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let product = &product_of(saga)?.product;
        let recorded = saga.results.get(&Step::UpdateLicence);
        let (edition, seats) = recorded.map_or(("", 0), StepOutput::previous_licence);
        let licence = LicenceRow {
            edition: edition.to_owned(),
            seats,
        };
        store
            .update_licence(&saga.tenant_id, product, &licence, false)
            .await
    }
}
