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

/// Both states of the tenants one transaction touches, each read from the
/// store once and written once by [`Cache::write`], however many records and
/// sagas of the tenant the transaction handles (without it, a tenant created
/// and activated in one batch read its row eight times and wrote it four).
///
/// Every read and write of `tenant_states` in the transaction must go
/// through the cache, and [`Cache::write`] must run before the commit; a
/// rolled-back transaction drops its cache with it.
#[derive(Debug, Default)]
pub struct Cache {
    entries: std::collections::BTreeMap<TenantId, Entry>,
}

#[derive(Debug)]
struct Entry {
    desired: DesiredState,
    provisioned: ProvisionedState,
    dirty: bool,
}

impl Cache {
    /// Both states of `tenant_id`, from the cache or else the store.
    ///
    /// # Errors
    /// The store's, or a stored state that does not decode.
    pub async fn load(
        &mut self,
        tx: &mut Tx,
        tenant_id: &TenantId,
    ) -> Result<(DesiredState, ProvisionedState), StoreError> {
        if let Some(entry) = self.entries.get(tenant_id) {
            return Ok((entry.desired.clone(), entry.provisioned.clone()));
        }
        let (desired, provisioned) = load(tx, tenant_id).await?;
        self.entries.insert(
            tenant_id.clone(),
            Entry {
                desired: desired.clone(),
                provisioned: provisioned.clone(),
                dirty: false,
            },
        );
        Ok((desired, provisioned))
    }

    /// Replaces both states of `tenant_id`; stored by [`Cache::write`].
    pub fn save(
        &mut self,
        tenant_id: &TenantId,
        desired: DesiredState,
        provisioned: ProvisionedState,
    ) {
        self.entries.insert(
            tenant_id.clone(),
            Entry {
                desired,
                provisioned,
                dirty: true,
            },
        );
    }

    /// Stores the states saved since the last write, in tenant order.
    ///
    /// # Errors
    /// The store's; the caller rolls `tx` back.
    pub async fn write(&mut self, tx: &mut Tx) -> Result<(), StoreError> {
        for (tenant, entry) in &mut self.entries {
            if entry.dirty {
                save(tx, tenant, &entry.desired, &entry.provisioned).await?;
                entry.dirty = false;
            }
        }
        Ok(())
    }
}
