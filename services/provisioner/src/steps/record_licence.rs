//! Step 1, record licence: the tenant's account (owner, country, residency
//! pin) and its data key; for a product, its licence (edition, seats).

use super::{StepContext, Work, key_error, product_of};
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};

pub(super) async fn run(
    ctx: &StepContext,
    work: &mut Work<'_>,
    saga: &SagaState,
) -> Result<StepOutput, StepError> {
    let tenant = &saga.tenant_id;
    if saga.kind == SagaKind::ProvisionTenant {
        // Idempotent, outside the store: a batch rolled back leaves a key
        // that the record's next attempt finds.
        ctx.keys
            .create_tenant_key(tenant)
            .await
            .map_err(key_error)?;
        let t = &saga.spec.tenant;
        work.effects.accounts.push((
            tenant.clone(),
            t.owner_email.clone(),
            t.country.as_str().to_owned(),
            t.residency_pin.map(|r| r.as_str().to_owned()),
        ));
        return Ok(StepOutput::new().fact("owner", &t.owner_email));
    }
    let p = product_of(saga)?;
    work.effects.licences.push((
        tenant.clone(),
        p.product.clone(),
        p.edition.as_str().to_owned(),
        p.seats,
    ));
    Ok(StepOutput::new()
        .fact("edition", p.edition.as_str())
        .fact("seats", p.seats))
}
