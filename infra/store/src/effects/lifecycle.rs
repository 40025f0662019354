//! Local adapters of the lifecycle sagas: suspension,
//! un-suspension, licence update, deactivation and destruction.
//!
//! Same contract as the provisioning steps: one transaction per step with its
//! idempotency key; database DDL (snapshot, drop, archive) runs after the
//! bookkeeping commits and is idempotent. App callbacks and the data key are
//! outside the database: the provisioner's effects wrapper performs them
//! around these steps.

use super::{LocalEffects, Retention, Tx, exec, product_of, record_effect};
use crate::product_db::MAX_NAME_LEN;
use crate::store::{StoreError, now_ms};
use tenantry_sagas::saga::ProductSpec;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput};

/// `ms` (Unix epoch milliseconds) as RFC 3339 UTC, to the second
/// (`2026-12-29T21:00:00Z`).
fn rfc3339_ms(ms: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Fails step 2 when `host` was released by another tenant and is still in
/// quarantine.
pub(super) async fn check_quarantine(
    tx: &mut Tx,
    host: &str,
    tenant: &str,
) -> Result<(), StepError> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT tenant_id, reusable_after FROM released_hosts WHERE host = $1")
            .bind(host)
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::from)?;
    match row {
        Some((previous, until)) if previous != tenant && until > now_ms() => {
            Err(StepError::permanent(format!(
                "site host {host} was released by destroyed tenant {previous} and is in quarantine until {}",
                rfc3339_ms(until)
            )))
        }
        Some(_) => {
            exec(tx, "DELETE FROM released_hosts WHERE host = $1", &[host]).await?;
            Ok(())
        }
        None => Ok(()),
    }
}

fn users_group(product: &str) -> (String, String) {
    (format!("{product}-users"), format!("{product}:use"))
}

async fn set_access(
    tx: &mut Tx,
    tenant: &str,
    product: &str,
    enabled: bool,
) -> Result<(), StepError> {
    let (group, permission) = users_group(product);
    let state = if enabled { "active" } else { "suspended" };
    exec(
        tx,
        "UPDATE site_products SET state = $3 WHERE tenant_id = $1 AND product = $2",
        &[tenant, product, state],
    )
    .await?;
    if enabled {
        exec(tx, "INSERT INTO identity_group_permissions (tenant_id, group_name, permission) VALUES ($1, $2, $3) \
            ON CONFLICT DO NOTHING", &[tenant, &group, &permission]).await
    } else {
        exec(tx, "DELETE FROM identity_group_permissions WHERE tenant_id = $1 AND group_name = $2 AND permission = $3",
            &[tenant, &group, &permission]).await
    }
}

async fn groups(tx: &mut Tx, tenant: &str) -> Result<Vec<String>, StepError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT group_name FROM identity_groups WHERE tenant_id = $1 ORDER BY group_name",
    )
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    Ok(rows.into_iter().map(|(g,)| g).collect())
}

async fn remove_group(tx: &mut Tx, tenant: &str, product: &str) -> Result<Vec<String>, StepError> {
    let (group, _) = users_group(product);
    let members: Vec<(String,)> = sqlx::query_as(
        "SELECT user_id FROM identity_group_members WHERE tenant_id = $1 AND group_name = $2 ORDER BY user_id")
        .bind(tenant).bind(&group).fetch_all(&mut **tx).await.map_err(StoreError::from)?;
    for table in [
        "identity_group_members",
        "identity_group_permissions",
        "identity_groups",
    ] {
        exec(
            tx,
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND group_name = $2"),
            &[tenant, &group],
        )
        .await?;
    }
    Ok(members.into_iter().map(|(m,)| m).collect())
}

fn snapshot_name(database: &str, saga: &SagaState) -> String {
    let suffix = &saga.saga_id.simple().to_string()[..8];
    let base = format!("snap_{database}");
    let cut = base.len().min(MAX_NAME_LEN - 9);
    format!("{}_{suffix}", &base[..cut])
}

/// Deactivates one product: apps rows, group, snapshot, retire, licence end.
/// Each part is idempotent, so a retried destruction repeats it safely.
async fn deactivate(
    effects: &LocalEffects,
    saga: &SagaState,
    product: &ProductSpec,
) -> Result<(), StepError> {
    let tenant = saga.tenant_id.as_str();
    let key = product.product.as_str();
    let mut tx = effects
        .store
        .pool()
        .begin()
        .await
        .map_err(StoreError::from)?;
    exec(
        &mut tx,
        "DELETE FROM installed_apps WHERE tenant_id = $1 AND product = $2",
        &[tenant, key],
    )
    .await?;
    remove_group(&mut tx, tenant, key).await?;
    let database = retire_bookkeeping(&mut tx, tenant, key).await?;
    end_licence(&mut tx, tenant, key).await?;
    tx.commit().await.map_err(StoreError::from)?;
    if let Some(database) = database {
        snapshot_and_retire(effects, saga, tenant, key, &database).await?;
    }
    Ok(())
}

async fn retire_bookkeeping(
    tx: &mut Tx,
    tenant: &str,
    product: &str,
) -> Result<Option<String>, StepError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT shard_id, database_name FROM product_databases WHERE tenant_id = $1 AND product = $2")
        .bind(tenant).bind(product).fetch_optional(&mut **tx).await.map_err(StoreError::from)?;
    let Some((shard, database)) = row else {
        return Ok(None);
    };
    exec(
        tx,
        "DELETE FROM product_databases WHERE tenant_id = $1 AND product = $2",
        &[tenant, product],
    )
    .await?;
    exec(
        tx,
        "UPDATE shards SET used = used - 1 WHERE shard_id = $1",
        &[&shard],
    )
    .await?;
    Ok(Some(database))
}

async fn snapshot_and_retire(
    effects: &LocalEffects,
    saga: &SagaState,
    tenant: &str,
    product: &str,
    database: &str,
) -> Result<(), StepError> {
    let snapshot = snapshot_name(database, saga);
    take_snapshot(effects, tenant, product, database, &snapshot).await?;
    retire(effects, database).await
}

async fn end_licence(tx: &mut Tx, tenant: &str, product: &str) -> Result<(), StepError> {
    exec(
        tx,
        "DELETE FROM licences WHERE tenant_id = $1 AND product = $2",
        &[tenant, product],
    )
    .await?;
    exec(
        tx,
        "DELETE FROM site_products WHERE tenant_id = $1 AND product = $2",
        &[tenant, product],
    )
    .await?;
    exec(
        tx,
        "DELETE FROM site_metadata WHERE tenant_id = $1 AND scope = $2",
        &[tenant, &format!("product:{product}")],
    )
    .await
}

/// Repeats the DDL of a step whose bookkeeping is recorded: the DDL runs
/// after that transaction commits, so a crash (or failure) in between leaves
/// it undone until the step runs again. Every DDL here is idempotent.
pub(super) async fn redo_ddl(
    effects: &LocalEffects,
    saga: &SagaState,
    step: Step,
    output: &StepOutput,
) -> Result<(), StepError> {
    let tenant = saga.tenant_id.as_str();
    match step {
        Step::ProvisionDatabase => {
            if let Some(placed) = output.database() {
                effects.databases().create(&placed.database).await?;
            }
        }
        Step::SnapshotDatabase => {
            if let Some((snapshot, of)) = output.snapshot() {
                let product = product_of(saga)?.product.as_str();
                take_snapshot(effects, tenant, product, of, snapshot).await?;
            }
        }
        Step::RetireDatabase => {
            for database in output.retired() {
                retire(effects, &database).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn take_snapshot(
    effects: &LocalEffects,
    tenant: &str,
    product: &str,
    database: &str,
    snapshot: &str,
) -> Result<(), StepError> {
    effects.databases().snapshot(database, snapshot).await?;
    sqlx::query("INSERT INTO database_snapshots (snapshot_name, tenant_id, product, database_name, taken_at) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
        .bind(snapshot).bind(tenant).bind(product).bind(database).bind(now_ms())
        .execute(effects.store.pool()).await.map_err(StoreError::from)?;
    Ok(())
}

async fn retire(effects: &LocalEffects, database: &str) -> Result<(), StepError> {
    match effects.config().retention {
        Retention::Drop => effects.databases().drop_database(database).await?,
        Retention::Archive => effects.databases().archive(database).await?,
    }
    Ok(())
}

/// Executes a lifecycle step; commits `tx` itself.
pub(super) async fn run(
    effects: &LocalEffects,
    mut tx: Tx,
    saga: &SagaState,
    step: Step,
    key: &str,
) -> Result<StepOutput, StepError> {
    let tenant = saga.tenant_id.as_str();
    let output = match step {
        Step::DisableAccess | Step::EnableAccess => {
            let product = product_of(saga)?.product.as_str();
            set_access(&mut tx, tenant, product, step == Step::EnableAccess).await?;
            let access = if step == Step::EnableAccess {
                "enabled"
            } else {
                "disabled"
            };
            StepOutput::new().fact("access", access)
        }
        Step::UpdateLicence => {
            let p = product_of(saga)?;
            let previous: Option<(String, i32)> = sqlx::query_as(
                "SELECT edition, seats FROM licences WHERE tenant_id = $1 AND product = $2",
            )
            .bind(tenant)
            .bind(p.product.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            let (group, _) = users_group(p.product.as_str());
            let (users,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM identity_group_members WHERE tenant_id = $1 AND group_name = $2")
                .bind(tenant).bind(&group).fetch_one(&mut *tx).await.map_err(StoreError::from)?;
            // Fewer seats than users is recorded, never enforced by removing anyone.
            let over = users > i64::from(p.seats);
            sqlx::query("UPDATE licences SET edition = $1, seats = $2, over_licence = $3 WHERE tenant_id = $4 AND product = $5")
                .bind(p.edition.as_str()).bind(p.seats).bind(i64::from(over)).bind(tenant).bind(p.product.as_str())
                .execute(&mut *tx).await.map_err(StoreError::from)?;
            let (edition, seats) = previous.unwrap_or_default();
            StepOutput::new()
                .with_previous_licence(edition, seats)
                .fact("seats", p.seats)
                .fact("over_licence", over)
        }
        Step::UninstallApps => {
            let p = product_of(saga)?;
            exec(
                &mut tx,
                "DELETE FROM installed_apps WHERE tenant_id = $1 AND product = $2",
                &[tenant, p.product.as_str()],
            )
            .await?;
            let apps: Vec<&str> = p.apps.iter().map(|a| a.as_str()).collect();
            StepOutput::new().fact("uninstalled", apps.join(","))
        }
        Step::RemoveProductGroup => {
            let product = product_of(saga)?.product.as_str();
            let members = remove_group(&mut tx, tenant, product).await?;
            let groups = groups(&mut tx, tenant).await?;
            StepOutput::new()
                .with_members(members.iter().map(String::as_str))
                .with_groups(groups.iter().map(String::as_str))
        }
        Step::SnapshotDatabase | Step::RetireDatabase => {
            let product = product_of(saga)?.product.as_str();
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT database_name FROM product_databases WHERE tenant_id = $1 AND product = $2",
            )
            .bind(tenant)
            .bind(product)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            let database = match (row, saga.results.get(&Step::SnapshotDatabase)) {
                (Some((name,)), _) => name,
                (None, Some(done)) => done
                    .snapshot()
                    .map(|(_, of)| of.to_owned())
                    .unwrap_or_default(),
                (None, None) => String::new(),
            };
            if step == Step::SnapshotDatabase {
                let snapshot = snapshot_name(&database, saga);
                let output = StepOutput::new().with_snapshot(&snapshot, &database);
                record_effect(&mut tx, key, &output).await?;
                tx.commit().await.map_err(StoreError::from)?;
                if !database.is_empty() {
                    take_snapshot(effects, tenant, product, &database, &snapshot).await?;
                }
                return Ok(output);
            }
            retire_bookkeeping(&mut tx, tenant, product).await?;
            let output = StepOutput::new().with_retired([database.as_str()]);
            record_effect(&mut tx, key, &output).await?;
            tx.commit().await.map_err(StoreError::from)?;
            if !database.is_empty() {
                retire(effects, &database).await?;
            }
            return Ok(output);
        }
        Step::EndLicence => {
            let product = product_of(saga)?.product.as_str();
            end_licence(&mut tx, tenant, product).await?;
            StepOutput::new()
        }
        Step::DeactivateAllProducts => {
            tx.commit().await.map_err(StoreError::from)?;
            for product in &saga.spec.products {
                deactivate(effects, saga, product).await?;
            }
            tx = effects
                .store
                .pool()
                .begin()
                .await
                .map_err(StoreError::from)?;
            let done: Vec<String> = saga
                .spec
                .products
                .iter()
                .map(|p| p.product.to_string())
                .collect();
            StepOutput::new().fact("deactivated", done.join(","))
        }
        Step::ReleaseHost => {
            let host: Option<(String,)> =
                sqlx::query_as("SELECT host FROM sites WHERE tenant_id = $1")
                    .bind(tenant)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            if let Some((host,)) = &host {
                let until = now_ms() + effects.config().host_quarantine_ms;
                sqlx::query("INSERT INTO released_hosts (host, tenant_id, released_at, reusable_after) VALUES ($1, $2, $3, $4) \
                    ON CONFLICT (host) DO UPDATE SET tenant_id = excluded.tenant_id, released_at = excluded.released_at, \
                    reusable_after = excluded.reusable_after")
                    .bind(host).bind(tenant).bind(now_ms()).bind(until)
                    .execute(&mut *tx).await.map_err(StoreError::from)?;
                exec(&mut tx, "DELETE FROM sites WHERE tenant_id = $1", &[tenant]).await?;
            }
            StepOutput::new().fact("released", host.map(|(h,)| h).unwrap_or_default())
        }
        Step::RemoveIdentity => {
            for table in [
                "identity_group_members",
                "identity_group_permissions",
                "identity_groups",
                "identity_users",
            ] {
                exec(
                    &mut tx,
                    &format!("DELETE FROM {table} WHERE tenant_id = $1"),
                    &[tenant],
                )
                .await?;
            }
            exec(
                &mut tx,
                "DELETE FROM placements WHERE tenant_id = $1",
                &[tenant],
            )
            .await?;
            StepOutput::new()
        }
        // The key itself is destroyed by the provisioner's key service; here
        // only the fact is recorded.
        Step::ShredDataKey => StepOutput::new().fact("data_key", "destroyed"),
        provisioning => {
            return Err(StepError::permanent(format!(
                "step {} does not belong to a {} saga",
                provisioning.name(),
                saga.kind.as_str()
            )));
        }
    };
    record_effect(&mut tx, key, &output).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(output)
}

/// Undoes a lifecycle step; commits `tx` itself. Pivots are never undone.
pub(super) async fn undo(
    effects: &LocalEffects,
    mut tx: Tx,
    saga: &SagaState,
    step: Step,
) -> Result<(), StepError> {
    let tenant = saga.tenant_id.as_str();
    let recorded = saga.results.get(&step).cloned().unwrap_or_default();
    match step {
        Step::DisableAccess | Step::EnableAccess => {
            let product = product_of(saga)?.product.as_str();
            set_access(&mut tx, tenant, product, step == Step::DisableAccess).await?;
        }
        Step::UpdateLicence => {
            let product = product_of(saga)?.product.as_str();
            let (edition, seats) = recorded.previous_licence();
            sqlx::query("UPDATE licences SET edition = $1, seats = $2, over_licence = 0 WHERE tenant_id = $3 AND product = $4")
                .bind(edition).bind(seats).bind(tenant).bind(product)
                .execute(&mut *tx).await.map_err(StoreError::from)?;
        }
        Step::UninstallApps => {
            let p = product_of(saga)?;
            for app in &p.apps {
                exec(&mut tx, "INSERT INTO installed_apps (tenant_id, product, app) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[tenant, p.product.as_str(), app.as_str()]).await?;
            }
        }
        Step::RemoveProductGroup => {
            let product = product_of(saga)?.product.as_str();
            let (group, permission) = users_group(product);
            exec(&mut tx, "INSERT INTO identity_groups (tenant_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[tenant, &group]).await?;
            exec(&mut tx, "INSERT INTO identity_group_permissions (tenant_id, group_name, permission) VALUES ($1, $2, $3) \
                ON CONFLICT DO NOTHING", &[tenant, &group, &permission]).await?;
            for member in recorded.members() {
                exec(&mut tx, "INSERT INTO identity_group_members (tenant_id, group_name, user_id) VALUES ($1, $2, $3) \
                    ON CONFLICT DO NOTHING", &[tenant, &group, &member]).await?;
            }
        }
        Step::SnapshotDatabase => {
            let snapshot = recorded.snapshot_name().unwrap_or_default();
            exec(
                &mut tx,
                "DELETE FROM database_snapshots WHERE snapshot_name = $1",
                &[snapshot],
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            if !snapshot.is_empty() {
                effects.databases().drop_database(snapshot).await?;
            }
            return Ok(());
        }
        _ => {}
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn quarantine_ends_are_shown_as_rfc3339() {
        assert_eq!(super::rfc3339_ms(1_800_000_000_123), "2027-01-15T08:00:00Z");
        assert_eq!(super::rfc3339_ms(-5), "1970-01-01T00:00:00Z");
    }
}
