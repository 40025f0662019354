//! Reconciler state per tenant: desired (commerce) and provisioned (completed
//! sagas), read and written in the caller's transaction.

use crate::store::{StoreError, now_ms};
use sqlx::{Any, Transaction};
use tenantry_sagas::{DesiredState, ProvisionedState};
use tenantry_schemas::TenantId;

type Tx = Transaction<'static, Any>;

/// Both states of a tenant (defaults when none is stored).
pub async fn load(
    tx: &mut Tx,
    tenant_id: &TenantId,
) -> Result<(DesiredState, ProvisionedState), StoreError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT desired, provisioned FROM tenant_states WHERE tenant_id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some((desired, provisioned)) => Ok((
            serde_json::from_str(&desired)?,
            serde_json::from_str(&provisioned)?,
        )),
        None => Ok(Default::default()),
    }
}

/// Stores both states.
pub async fn save(
    tx: &mut Tx,
    tenant_id: &TenantId,
    desired: &DesiredState,
    provisioned: &ProvisionedState,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenant_states (tenant_id, desired, provisioned, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id) DO UPDATE SET desired = excluded.desired, \
         provisioned = excluded.provisioned, updated_at = excluded.updated_at",
    )
    .bind(tenant_id.as_str())
    .bind(serde_json::to_string(desired)?)
    .bind(serde_json::to_string(provisioned)?)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
