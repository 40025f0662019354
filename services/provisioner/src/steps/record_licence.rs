//! Step 1, record licence: the tenant's account (owner, country, residency
//! pin) and its data key — or the check of the tenant's own KMS key; for a
//! product, its licence (edition, seats).
//!
//! Undone by deleting the account or the licence. The tenant's data key is
//! kept: a destroyed key can never be re-created (crypto-shredding is
//! final), and an operator's retry must be able to use it again.

use super::{StepContext, StepHandler, Work, key_error, product_of, tenant_key};
use async_trait::async_trait;
use tenantry_sagas::step_store::{LicenceRow, StepStore};
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};

pub(super) struct RecordLicence;

fn licence(saga: &SagaState) -> Result<LicenceRow, StepError> {
    let p = product_of(saga)?;
    Ok(LicenceRow {
        edition: p.edition.as_str().to_owned(),
        seats: p.seats,
    })
}

fn output(saga: &SagaState) -> Result<StepOutput, StepError> {
    if saga.kind == SagaKind::ProvisionTenant {
        return Ok(StepOutput::new().fact("owner", &saga.spec.tenant.owner_email));
    }
    let licence = licence(saga)?;
    Ok(StepOutput::new()
        .fact("edition", licence.edition)
        .fact("seats", licence.seats))
}

#[async_trait]
impl StepHandler for RecordLicence {
    fn runs_in_batch(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn run_in_batch(
        &self,
        cx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        if saga.kind == SagaKind::ProvisionTenant {
            // Idempotent, outside the store: a batch rolled back leaves a
            // key that the record's next attempt finds.
            self.prepare(cx, saga).await?;
            let t = &saga.spec.tenant;
            work.effects.accounts.push((
                tenant.clone(),
                t.owner_email.clone(),
                t.country.as_str().to_owned(),
                t.residency_pin.map(|r| r.as_str().to_owned()),
            ));
        } else {
            let p = product_of(saga)?;
            let licence = licence(saga)?;
            work.effects.licences.push((
                tenant.clone(),
                p.product.clone(),
                licence.edition,
                licence.seats,
            ));
        }
        output(saga)
    }

    fn runs_in_work(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    /// Creates the tenant's data key (idempotent), or checks the tenant's
    /// own KMS key: a key Tenantry cannot use fails the saga with the reason.
    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            cx.keys
                .create_key(&tenant_key(saga))
                .await
                .map_err(key_error)?;
        }
        Ok(())
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        if saga.kind == SagaKind::ProvisionTenant {
            let t = &saga.spec.tenant;
            store
                .insert_account(tenant, &t.owner_email, t.country.as_str(), t.residency_pin)
                .await?;
        } else {
            let product = &product_of(saga)?.product;
            store.put_licence(tenant, product, &licence(saga)?).await?;
        }
        output(saga)
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        match saga.kind {
            SagaKind::ProvisionTenant => store.delete_account(&saga.tenant_id).await,
            _ => {
                let product = &product_of(saga)?.product;
                store.delete_licence(&saga.tenant_id, product).await
            }
        }
    }
}
