//! Step 4, store metadata: the site's default configuration (locale, time
//! zone), or a product's (edition, seats, the edition's feature flags), as
//! [`tenantry_sagas::steps::metadata`] decides it.

use super::Work;
use tenantry_sagas::{SagaState, StepError, StepOutput};

pub(super) fn run(work: &mut Work<'_>, saga: &SagaState) -> Result<StepOutput, StepError> {
    let (scope, config) = tenantry_sagas::steps::metadata(saga)?;
    work.effects
        .metadata
        .push((saga.tenant_id.clone(), scope.clone(), config.to_string()));
    Ok(StepOutput::new().fact("scope", scope))
}
