//! What the provisioner's transactions hold back until just before they
//! commit, so each row is written once per transaction however many records
//! and sagas touch it.

use crate::store::StoreError;
use crate::{outbox, tenant_states};
use sqlx::{Any, Transaction};

type Tx = Transaction<'static, Any>;

/// What a transaction of the provisioner holds back until just before its
/// commit: tenant records ([`tenant_states::Cache`]) and the tenant-state
/// records they publish ([`outbox::Pending`]). [`WriteBehind::write`] stores
/// both.
#[derive(Debug, Default)]
pub struct WriteBehind {
    /// Tenant states read and written in the transaction.
    pub states: tenant_states::Cache,
    /// Tenant-state records of the tenants whose state changed.
    pub outbox: outbox::Pending,
}

impl WriteBehind {
    /// Writes the held-back records into `tx`, with a tenant-state record
    /// in the outbox for each tenant whose state changed.
    ///
    /// # Errors
    /// The store's; the caller rolls `tx` back.
    pub async fn write(&mut self, tx: &mut Tx) -> Result<(), StoreError> {
        self.states.write(tx, &mut self.outbox).await?;
        self.outbox.write(tx).await
    }
}
