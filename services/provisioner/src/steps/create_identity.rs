//! Step 5, create identity: the owner as a user, and the group with its
//! permissions — `site-admins` (`site:admin`, `site:read`) for the tenant,
//! `<product>-users` (`<product>:use`) for a product — the owner a member.
//! The output lists every group the tenant then has.

use super::{Work, product_of};
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};
use uuid::Uuid;

pub(super) fn run(work: &mut Work<'_>, saga: &SagaState) -> Result<StepOutput, StepError> {
    let tenant = &saga.tenant_id;
    let owner = &saga.spec.tenant.owner_email;
    let user_id =
        Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("{tenant}/{owner}").as_bytes()).to_string();
    let (group, permissions) = match saga.kind {
        SagaKind::ProvisionTenant => (
            "site-admins".to_owned(),
            vec!["site:admin".to_owned(), "site:read".to_owned()],
        ),
        _ => {
            let p = product_of(saga)?.product.as_str();
            (format!("{p}-users"), vec![format!("{p}:use")])
        }
    };
    let effects = &mut *work.effects;
    effects
        .users
        .push((tenant.clone(), user_id.clone(), owner.clone()));
    effects.groups.push((tenant.clone(), group.clone()));
    for permission in permissions {
        effects
            .permissions
            .push((tenant.clone(), group.clone(), permission));
    }
    effects
        .members
        .push((tenant.clone(), group.clone(), user_id));
    let groups = work.loaded.groups.entry(tenant.clone()).or_default();
    groups.insert(group);
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    Ok(StepOutput::new().with_groups(groups.iter().copied()))
}
