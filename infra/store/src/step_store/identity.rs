//! [`IdentityRows`] on [`StoreWork`]: users, groups, permissions, members.

use super::{exec, insert_each};
use crate::store::StoreError;
use crate::unit_of_work::StoreWork;
use async_trait::async_trait;
use std::collections::BTreeSet;
use tenantry_sagas::StepError;
use tenantry_sagas::step_store::IdentityRows;
use tenantry_schemas::TenantId;

#[async_trait]
impl IdentityRows for StoreWork {
    async fn insert_user(
        &mut self,
        tenant: &TenantId,
        user_id: &str,
        email: &str,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "INSERT INTO identity_users (tenant_id, user_id, email) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[tenant.as_str(), user_id, email],
        )
        .await
    }

    async fn insert_group(&mut self, tenant: &TenantId, group: &str) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "INSERT INTO identity_groups (tenant_id, group_name) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
            &[tenant.as_str(), group],
        )
        .await
    }

    async fn grant(
        &mut self,
        tenant: &TenantId,
        group: &str,
        permissions: &[String],
    ) -> Result<(), StepError> {
        let permissions: Vec<&str> = permissions.iter().map(String::as_str).collect();
        insert_each(
            self.transaction(),
            "identity_group_permissions (tenant_id, group_name, permission)",
            (tenant.as_str(), group),
            &permissions,
        )
        .await
    }

    async fn revoke(
        &mut self,
        tenant: &TenantId,
        group: &str,
        permission: &str,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM identity_group_permissions \
             WHERE tenant_id = $1 AND group_name = $2 AND permission = $3",
            &[tenant.as_str(), group, permission],
        )
        .await
    }

    async fn add_members(
        &mut self,
        tenant: &TenantId,
        group: &str,
        users: &[String],
    ) -> Result<(), StepError> {
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        insert_each(
            self.transaction(),
            "identity_group_members (tenant_id, group_name, user_id)",
            (tenant.as_str(), group),
            &users,
        )
        .await
    }

    async fn members(&mut self, tenant: &TenantId, group: &str) -> Result<Vec<String>, StepError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM identity_group_members WHERE tenant_id = $1 AND group_name = $2 \
             ORDER BY user_id",
        )
        .bind(tenant.as_str())
        .bind(group)
        .fetch_all(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(|(user,)| user).collect())
    }

    async fn groups(&mut self, tenant: &TenantId) -> Result<BTreeSet<String>, StepError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT group_name FROM identity_groups WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_all(&mut **self.transaction())
                .await
                .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(|(group,)| group).collect())
    }

    async fn delete_group(&mut self, tenant: &TenantId, group: &str) -> Result<(), StepError> {
        for table in [
            "identity_group_members",
            "identity_group_permissions",
            "identity_groups",
        ] {
            exec(
                self.transaction(),
                &format!("DELETE FROM {table} WHERE tenant_id = $1 AND group_name = $2"),
                &[tenant.as_str(), group],
            )
            .await?;
        }
        Ok(())
    }

    async fn delete_identity(&mut self, tenant: &TenantId) -> Result<(), StepError> {
        for table in [
            "identity_group_members",
            "identity_group_permissions",
            "identity_groups",
            "identity_users",
        ] {
            exec(
                self.transaction(),
                &format!("DELETE FROM {table} WHERE tenant_id = $1"),
                &[tenant.as_str()],
            )
            .await?;
        }
        Ok(())
    }
}
