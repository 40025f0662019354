//! Step 4, store metadata: the site's default configuration (locale, time
//! zone), or a product's (edition, seats, the edition's feature flags).

use super::{Work, product_of};
use tenantry_sagas::{SagaState, StepError, StepOutput};

pub(super) fn run(work: &mut Work<'_>, saga: &SagaState) -> Result<StepOutput, StepError> {
    let (scope, config) = match saga.product() {
        None => (
            "site".to_owned(),
            serde_json::json!({
                "site": saga.spec.tenant.site, "locale": "en-US", "time_zone": "UTC"
            }),
        ),
        Some(product) => {
            let p = product_of(saga)?;
            (
                format!("product:{product}"),
                serde_json::json!({
                    "product": product, "edition": p.edition.as_str(), "seats": p.seats,
                    "features": default_features(p.edition.as_str()),
                }),
            )
        }
    };
    work.effects
        .metadata
        .push((saga.tenant_id.clone(), scope.clone(), config.to_string()));
    Ok(StepOutput::new().fact("scope", scope))
}

/// Default feature flags of an edition.
pub(crate) fn default_features(edition: &str) -> Vec<&'static str> {
    match edition {
        "premium" | "enterprise" => vec!["sandbox", "audit-log", "advanced-permissions"],
        "standard" => vec!["advanced-permissions"],
        _ => vec![],
    }
}
