//! Step 5, create identity: the owner as a user, and the group with its
//! permissions — `site-admins` (`site:admin`, `site:read`) for the tenant,
//! `<product>-users` (`<product>:use`) for a product — the owner a member.
//! The output lists every group the tenant then has.
//!
//! Undone by deleting the product's group (with its permissions and
//! members), or the tenant's identity data.

use super::{StepContext, StepHandler, Work, product_group, product_of};
use async_trait::async_trait;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaKind, SagaState, StepError, StepOutput};
use uuid::Uuid;

pub(super) struct CreateIdentity;

/// What the step creates: the owner's user id (a UUID v5 of tenant and
/// email, the same on every attempt), the group and its permissions.
struct Identity {
    user_id: String,
    group: String,
    permissions: Vec<String>,
}

fn identity(saga: &SagaState) -> Result<Identity, StepError> {
    let owner = &saga.spec.tenant.owner_email;
    let user_id = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("{}/{owner}", saga.tenant_id).as_bytes(),
    )
    .to_string();
    let (group, permissions) = match saga.kind {
        SagaKind::ProvisionTenant => (
            "site-admins".to_owned(),
            vec!["site:admin".to_owned(), "site:read".to_owned()],
        ),
        _ => {
            let (group, permission) = product_group(product_of(saga)?.product.as_str());
            (group, vec![permission])
        }
    };
    Ok(Identity {
        user_id,
        group,
        permissions,
    })
}

fn output<'a>(groups: impl IntoIterator<Item = &'a String>) -> StepOutput {
    StepOutput::new().with_groups(groups.into_iter().map(String::as_str))
}

#[async_trait]
impl StepHandler for CreateIdentity {
    fn runs_in_batch(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn run_in_batch(
        &self,
        _cx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let Identity {
            user_id,
            group,
            permissions,
        } = identity(saga)?;
        let effects = &mut *work.effects;
        effects.users.push((
            tenant.clone(),
            user_id.clone(),
            saga.spec.tenant.owner_email.clone(),
        ));
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
        Ok(output(groups.iter()))
    }

    fn runs_in_work(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        true
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let identity = identity(saga)?;
        store
            .insert_user(tenant, &identity.user_id, &saga.spec.tenant.owner_email)
            .await?;
        store.insert_group(tenant, &identity.group).await?;
        store
            .grant(tenant, &identity.group, &identity.permissions)
            .await?;
        store
            .add_members(tenant, &identity.group, &[identity.user_id])
            .await?;
        Ok(output(store.groups(tenant).await?.iter()))
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        let tenant = &saga.tenant_id;
        match saga.kind {
            // The tenant's identity is all this step created.
            SagaKind::ProvisionTenant => store.delete_identity(tenant).await,
            _ => store.delete_group(tenant, &identity(saga)?.group).await,
        }
    }
}
