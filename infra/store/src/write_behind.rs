//! What the provisioner's transactions hold back until just before they
//! commit, so each row is written once per transaction however many records
//! and sagas touch it.

use crate::store::StoreError;
use crate::{outbox, tenant_states};
use sqlx::{Any, Transaction};

type Tx = Transaction<'static, Any>;

/// What a transaction of the provisioner holds back until just before its
/// commit: tenant states ([`tenant_states::Cache`]) and outbox rows
/// ([`outbox::Pending`]). [`WriteBehind::write`] stores both.
#[derive(Debug, Default)]
pub struct WriteBehind {
    /// Tenant states read and written in the transaction.
    pub states: tenant_states::Cache,
    /// Outbox rows of the transaction's saga transitions.
    pub outbox: outbox::Pending,
}

impl WriteBehind {
    /// Writes the held-back states and outbox rows into `tx`.
    ///
    /// # Errors
    /// The store's; the caller rolls `tx` back.
    pub async fn write(&mut self, tx: &mut Tx) -> Result<(), StoreError> {
        self.states.write(tx).await?;
        self.outbox.write(tx).await
    }
}
