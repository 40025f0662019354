//! What the provisioner keeps per tenant ([`TenantRecord`]: desired and
//! provisioned state and the ledger), read and written in the caller's
//! transaction, and the tenant-state records that follow from it.

use crate::outbox;
use crate::store::{StoreError, now_ms};
use sqlx::{Any, Transaction};
use tenantry_sagas::TenantRecord;
use tenantry_schemas::TenantId;

type Tx = Transaction<'static, Any>;

/// The record of `tenant_id` (the default when none is stored).
///
/// # Errors
/// The store's, or a stored record that does not decode.
pub async fn load(tx: &mut Tx, tenant_id: &TenantId) -> Result<TenantRecord, StoreError> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT desired, provisioned, ledger FROM tenant_states WHERE tenant_id = $1",
    )
    .bind(tenant_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some((desired, provisioned, ledger)) => Ok(TenantRecord {
            desired: serde_json::from_str(&desired)?,
            provisioned: serde_json::from_str(&provisioned)?,
            ledger: serde_json::from_str(&ledger)?,
        }),
        None => Ok(TenantRecord::default()),
    }
}

/// Stores the record of `tenant_id`.
///
/// # Errors
/// The store's.
pub async fn save(
    tx: &mut Tx,
    tenant_id: &TenantId,
    record: &TenantRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenant_states (tenant_id, desired, provisioned, ledger, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id) DO UPDATE SET desired = excluded.desired, \
         provisioned = excluded.provisioned, ledger = excluded.ledger, updated_at = excluded.updated_at",
    )
    .bind(tenant_id.as_str())
    .bind(serde_json::to_string(&record.desired)?)
    .bind(serde_json::to_string(&record.provisioned)?)
    .bind(serde_json::to_string(&record.ledger)?)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The record of `tenant_id` rebuilt from the tables that decide admission
/// and the saga store, for a store written before the ledger existed (or
/// to check that the ledger agrees with them):
///
/// - desired state: as stored (only released events made it);
/// - provisioned state: as stored, with the resources (host, region,
///   groups, shards, databases) folded from the completed sagas when the
///   stored state predates them;
/// - ledger: cursor from `tenant_cursors`, parking and waiting count from
///   `parked_tenants` and `tenant_events`, rejections from `rejections`
///   (the latest [`tenantry_sagas::MAX_REJECTIONS`]), the standing failure
///   from the saga the tenant is parked on.
///
/// # Errors
/// The store's, or a stored record that does not decode.
pub async fn rebuild(tx: &mut Tx, tenant_id: &TenantId) -> Result<TenantRecord, StoreError> {
    use tenantry_sagas::{Ledger, SagaFailure, SagaKind, SagaState, SagaStatus};
    // The row lock (a no-op update works on both backends), so a provisioner
    // transaction that changed the record meanwhile is read once it
    // commits, never overwritten by an older copy.
    sqlx::query("UPDATE tenant_states SET updated_at = updated_at WHERE tenant_id = $1")
        .bind(tenant_id.as_str())
        .execute(&mut **tx)
        .await?;
    let mut record = load(tx, tenant_id).await?;
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT state FROM sagas WHERE tenant_id = $1 ORDER BY created_at")
            .bind(tenant_id.as_str())
            .fetch_all(&mut **tx)
            .await?;
    let mut sagas = rows
        .into_iter()
        .map(|(state,)| serde_json::from_str::<SagaState>(&state))
        .collect::<Result<Vec<_>, _>>()?;
    if record.provisioned.tenant && record.provisioned.site_host.is_none() {
        // Sagas of a tenant run one at a time, planned from the latest
        // accepted event: by trigger, then in the reconciler's order.
        let rank = |saga: &SagaState| match saga.kind {
            SagaKind::ProvisionTenant => 0,
            SagaKind::MoveTenant => 1,
            SagaKind::DestroyTenant => 3,
            _ => 2,
        };
        let activated_at = |saga: &SagaState| {
            saga.product()
                .and_then(|p| record.desired.products.get(p))
                .map_or(0, |p| p.activated_at)
        };
        sagas.sort_by_key(|s| (s.trigger_sequence, rank(s), activated_at(s)));
        let mut folded = tenantry_sagas::ProvisionedState::default();
        for saga in &sagas {
            match saga.status {
                SagaStatus::Completed => folded.apply_completed(saga),
                _ if saga.kind == SagaKind::MoveTenant => folded.apply_switch(saga),
                _ => {}
            }
        }
        let provisioned = &mut record.provisioned;
        provisioned.site_host = folded.site_host;
        provisioned.region = folded.region;
        provisioned.region_pinned = folded.region_pinned;
        provisioned.groups = folded.groups;
        for (key, product) in &mut provisioned.products {
            if let Some(done) = folded.products.get(key) {
                product.shard.clone_from(&done.shard);
                product.database.clone_from(&done.database);
            }
        }
    }
    let cursor = crate::parking::cursor(tx, tenant_id).await?;
    // (kind, reason, saga id)
    type ParkedRow = (String, String, Option<String>);
    let parked: Option<ParkedRow> =
        sqlx::query_as("SELECT kind, reason, saga_id FROM parked_tenants WHERE tenant_id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    let waiting = crate::parking::waiting(tx, tenant_id).await?;
    let rejections = crate::inbox::rejections(&mut **tx, tenant_id).await?;
    let failure = parked
        .as_ref()
        .and_then(|(_, _, saga_id)| saga_id.as_deref())
        .and_then(|id| sagas.iter().find(|s| s.saga_id.to_string() == id))
        .filter(|s| {
            matches!(
                s.status,
                SagaStatus::Failed | SagaStatus::CompensationFailed
            )
        })
        .map(|s| SagaFailure {
            kind: s.kind,
            product: s.product().cloned(),
            trigger_sequence: s.trigger_sequence,
            reason: s.failure.clone().unwrap_or_else(|| "failed".to_owned()),
        });
    let skip = rejections
        .len()
        .saturating_sub(tenantry_sagas::MAX_REJECTIONS);
    record.ledger = Ledger {
        commerce_sequence: cursor,
        parked: parked.map(|(kind, reason, _)| tenantry_schemas::Parking {
            kind,
            reason,
            waiting: waiting.count,
            last_waiting: waiting.last_sequence,
        }),
        rejections: rejections
            .into_iter()
            .skip(skip)
            .map(|(sequence, kind, reason)| tenantry_sagas::Rejection {
                sequence,
                kind,
                reason,
            })
            .collect(),
        failure,
    };
    Ok(record)
}

/// Rebuilds the record of each of `tenants` ([`rebuild`]) and publishes its
/// tenant state through the outbox, whether or not it changed — what a
/// store built by the contract before tenant states needs once, and what
/// rebuilds a lost context store. One transaction per tenant; returns how
/// many were republished.
///
/// # Errors
/// The store's; tenants before the failing one stay republished.
pub async fn republish(pool: &sqlx::AnyPool, tenants: &[TenantId]) -> Result<usize, StoreError> {
    for tenant in tenants {
        let mut tx = pool.begin().await?;
        let record = rebuild(&mut tx, tenant).await?;
        save(&mut tx, tenant, &record).await?;
        outbox::enqueue(&mut tx, tenant, record.state()).await?;
        tx.commit().await?;
    }
    Ok(tenants.len())
}

/// Every tenant the provisioner released or parked an event of, ordered by id.
///
/// # Errors
/// The store's, or a stored id that does not parse.
pub async fn tenants(pool: &sqlx::AnyPool) -> Result<Vec<TenantId>, StoreError> {
    tenant_ids(
        pool,
        "SELECT tenant_id FROM tenant_states UNION SELECT tenant_id FROM tenant_cursors \
         UNION SELECT tenant_id FROM parked_tenants ORDER BY tenant_id",
    )
    .await
}

/// The tenants whose record predates the ledger (written by the contract
/// before tenant states, or never written), ordered by id: what
/// [`republish`] must rebuild before the provisioner handles their events.
/// A record written since always stores its ledger in full, never `{}`.
///
/// # Errors
/// The store's, or a stored id that does not parse.
pub async fn unmigrated(pool: &sqlx::AnyPool) -> Result<Vec<TenantId>, StoreError> {
    tenant_ids(
        pool,
        "SELECT tenant_id FROM tenant_states WHERE ledger = '{}' \
         UNION SELECT tenant_id FROM tenant_cursors \
         WHERE tenant_id NOT IN (SELECT tenant_id FROM tenant_states) \
         UNION SELECT tenant_id FROM parked_tenants \
         WHERE tenant_id NOT IN (SELECT tenant_id FROM tenant_states) ORDER BY tenant_id",
    )
    .await
}

async fn tenant_ids(pool: &sqlx::AnyPool, sql: &str) -> Result<Vec<TenantId>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(pool).await?;
    rows.into_iter()
        .map(|(id,)| TenantId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// The records of the tenants one transaction touches, each read from the
/// store once and written once by [`Cache::write`], however many records
/// and sagas of the tenant the transaction handles.
///
/// [`Cache::write`] also decides what is published: a tenant whose
/// [`TenantRecord::state`] differs from the one it had when the
/// transaction first read it gets one tenant-state record in the outbox.
/// Every read and write of `tenant_states` in the transaction must go
/// through the cache, and [`Cache::write`] must run before the commit; a
/// rolled-back transaction drops its cache with it.
#[derive(Debug, Default)]
pub struct Cache {
    entries: std::collections::BTreeMap<TenantId, Entry>,
}

#[derive(Debug)]
struct Entry {
    /// The record as the transaction first read it (or as last written):
    /// its state is compared with the new one only when the record changed.
    before: TenantRecord,
    record: TenantRecord,
    dirty: bool,
}

impl Cache {
    /// The record of `tenant_id`, from the cache or else the store.
    ///
    /// # Errors
    /// The store's, or a stored record that does not decode.
    pub async fn load(
        &mut self,
        tx: &mut Tx,
        tenant_id: &TenantId,
    ) -> Result<TenantRecord, StoreError> {
        Ok(self.entry(tx, tenant_id).await?.record.clone())
    }

    /// Replaces the record of `tenant_id`; stored by [`Cache::write`]. The
    /// record must have been loaded in this transaction ([`Cache::load`] or
    /// [`Cache::update`]).
    pub fn save(&mut self, tenant_id: &TenantId, record: TenantRecord) {
        let entry = self
            .entries
            .get_mut(tenant_id)
            .expect("a tenant record is loaded before it is saved");
        entry.record = record;
        entry.dirty = true;
    }

    /// Changes the record of `tenant_id` in place (loading it first).
    ///
    /// # Errors
    /// The store's, or a stored record that does not decode.
    pub async fn update(
        &mut self,
        tx: &mut Tx,
        tenant_id: &TenantId,
        change: impl FnOnce(&mut TenantRecord),
    ) -> Result<(), StoreError> {
        let entry = self.entry(tx, tenant_id).await?;
        change(&mut entry.record);
        entry.dirty = true;
        Ok(())
    }

    async fn entry(&mut self, tx: &mut Tx, tenant_id: &TenantId) -> Result<&mut Entry, StoreError> {
        if !self.entries.contains_key(tenant_id) {
            let record = load(tx, tenant_id).await?;
            let entry = Entry {
                before: record.clone(),
                record,
                dirty: false,
            };
            self.entries.insert(tenant_id.clone(), entry);
        }
        Ok(self.entries.get_mut(tenant_id).expect("inserted above"))
    }

    /// Stores the records changed since the last write, in tenant order, and
    /// pushes a tenant-state record to `outbox` for each tenant whose state
    /// changed.
    ///
    /// # Errors
    /// The store's; the caller rolls `tx` back.
    pub async fn write(
        &mut self,
        tx: &mut Tx,
        outbox: &mut outbox::Pending,
    ) -> Result<(), StoreError> {
        for (tenant, entry) in &mut self.entries {
            if !entry.dirty {
                continue;
            }
            save(tx, tenant, &entry.record).await?;
            entry.dirty = false;
            let state = entry.record.state();
            if state != entry.before.state() {
                outbox.push_state(tenant, state);
            }
            entry.before = entry.record.clone();
        }
        Ok(())
    }
}
