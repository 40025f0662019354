//! Local adapters of the move saga: a later residency pin on an existing
//! tenant creates a new database in the target region, copies, switches the
//! context and retires the old one, with compensation if the copy fails.
//!
//! | step | effect | compensation |
//! |---|---|---|
//! | `create_target_databases` | a shard in the pinned region for each product database, a `database_moves` row, the empty target database | drop the targets, give the shard room back |
//! | `copy_data` | every table of each source copied into its target | none needed: the targets are dropped by the step before |
//! | `switch_placement` | placement → pinned region; each product's shard and database → target (pivot) | none as a saga step (the tenant lives in the new region from here); the undo below only serves the provisioner when sealing the new credentials fails right after the switch |
//! | `retire_source_databases` | sources dropped or archived per retention (pivot) | none: forward only |
//!
//! Data residency fails closed: every target shard is checked to be in the
//! pinned region before anything is created. A tenant already living in the
//! pinned region moves nothing: the steps only record the pin.

use super::{LocalEffects, Retention, Tx, exec, placement, record_effect};
use crate::product_db::moved_database_name;
use crate::store::StoreError;
use tenantry_sagas::output::Placed;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput};
use tenantry_schemas::ProductKey;

/// One product database being moved (a `database_moves` row).
#[derive(Debug, Clone, sqlx::FromRow)]
struct Move {
    product: String,
    source_shard: String,
    source_database: String,
    source_credentials: Option<String>,
    target_shard: String,
    target_database: String,
}

async fn moves(tx: &mut Tx, saga: &SagaState) -> Result<Vec<Move>, StepError> {
    Ok(sqlx::query_as(
        "SELECT product, source_shard, source_database, source_credentials, target_shard, target_database \
         FROM database_moves WHERE saga_id = $1 ORDER BY product",
    )
    .bind(saga.saga_id.to_string())
    .fetch_all(&mut **tx)
    .await
    .map_err(StoreError::from)?)
}

fn pin_of(saga: &SagaState) -> Result<&'static str, StepError> {
    saga.spec
        .tenant
        .residency_pin
        .map(|r| r.as_str())
        .ok_or_else(|| StepError::permanent("move saga without a residency pin to move to"))
}

/// Executes a move step; commits `tx` itself.
pub(super) async fn run(
    effects: &LocalEffects,
    mut tx: Tx,
    saga: &SagaState,
    step: Step,
    key: &str,
) -> Result<StepOutput, StepError> {
    let tenant = saga.tenant_id.as_str();
    let pin = pin_of(saga)?;
    let output = match step {
        Step::CreateTargetDatabases => {
            let (region, _) = placement(&mut tx, tenant).await?;
            let mut created = Vec::new();
            if region != pin {
                let sources: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
                    "SELECT product, shard_id, database_name, credentials FROM product_databases \
                     WHERE tenant_id = $1 ORDER BY product",
                )
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                for (product, shard, database, credentials) in sources {
                    let target_shard = effects.take_shard(&mut tx, pin).await?;
                    check_shard_region(&mut tx, &target_shard, pin, tenant).await?;
                    let target = moved_database_name(tenant, &product, pin);
                    sqlx::query(
                        "INSERT INTO database_moves (saga_id, tenant_id, product, source_shard, source_database, \
                         source_credentials, target_shard, target_database) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(saga.saga_id.to_string())
                    .bind(tenant)
                    .bind(&product)
                    .bind(&shard)
                    .bind(&database)
                    .bind(credentials)
                    .bind(&target_shard)
                    .bind(&target)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                    created.push(target);
                }
            }
            let output = StepOutput::new()
                .fact("source_region", region)
                .fact("target_region", pin)
                .with_created(created.iter().map(String::as_str));
            record_effect(&mut tx, key, &output).await?;
            tx.commit().await.map_err(StoreError::from)?;
            // DDL after the bookkeeping commits; `redo_ddl` repeats it.
            create_targets(effects, &output).await?;
            return Ok(output);
        }
        Step::CopyData => {
            let moves = moves(&mut tx, saga).await?;
            // No store transaction stays open for the length of the copy
            // (the embedded SQLite store has a single connection).
            tx.commit().await.map_err(StoreError::from)?;
            let mut tables = 0;
            for m in &moves {
                tables += effects
                    .databases()
                    .copy_into(&m.source_database, &m.target_database)
                    .await
                    .map_err(|e| match e {
                        StoreError::Missing(reason) => StepError::permanent(format!(
                            "copying {} of tenant {tenant} to {pin}: {reason}",
                            m.product
                        )),
                        other => StepError::from(other),
                    })?;
            }
            let output = StepOutput::new()
                .fact("databases", moves.len())
                .fact("tables", tables);
            let mut tx = effects.begin().await?;
            record_effect(&mut tx, key, &output).await?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(output);
        }
        Step::SwitchPlacement => {
            let (source_region, source_pinned) = placement(&mut tx, tenant).await?;
            exec(
                &mut tx,
                "UPDATE placements SET region = $2, pinned = 1 WHERE tenant_id = $1",
                &[tenant, pin],
            )
            .await?;
            let mut output = StepOutput::new()
                .with_region(pin, true)
                .with_source_placement(source_region, source_pinned);
            for m in moves(&mut tx, saga).await? {
                point_at(&mut tx, tenant, &m, true).await?;
                check_shard_region(&mut tx, &m.target_shard, pin, tenant).await?;
                let product = ProductKey::parse(&m.product)
                    .map_err(|e| StepError::permanent(format!("database move of {tenant}: {e}")))?;
                let placed = Placed {
                    shard: m.target_shard,
                    database: m.target_database,
                };
                output = output.with_moved(&product, &placed);
            }
            output
        }
        Step::RetireSourceDatabases => {
            let sources: Vec<String> = moves(&mut tx, saga)
                .await?
                .into_iter()
                .map(|m| m.source_database)
                .collect();
            let output = StepOutput::new().with_retired(sources.iter().map(String::as_str));
            record_effect(&mut tx, key, &output).await?;
            tx.commit().await.map_err(StoreError::from)?;
            retire_sources(effects, &output).await?;
            return Ok(output);
        }
        other => {
            return Err(StepError::permanent(format!(
                "step {} is not a move step",
                other.name()
            )));
        }
    };
    record_effect(&mut tx, key, &output).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(output)
}

/// Data residency fails closed: `shard` must be in `pin`.
async fn check_shard_region(
    tx: &mut Tx,
    shard: &str,
    pin: &str,
    tenant: &str,
) -> Result<(), StepError> {
    let region: Option<(String,)> = sqlx::query_as("SELECT region FROM shards WHERE shard_id = $1")
        .bind(shard)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
    match region {
        Some((region,)) if region == pin => Ok(()),
        other => Err(StepError::permanent(format!(
            "data residency: tenant {tenant} is pinned to {pin} but shard {shard} is in {}; refusing to move there",
            other.map_or("no known region".to_owned(), |(r,)| r)
        ))),
    }
}

/// Points the product at the target (`to_target`) or back at the source,
/// with the sealed credentials (the provisioner seals new ones for a target).
/// The source shard's `used` count follows: freed on the switch, taken back
/// on its compensation (the target's is taken by `create_target_databases`).
async fn point_at(tx: &mut Tx, tenant: &str, m: &Move, to_target: bool) -> Result<(), StepError> {
    let (shard, database, credentials, used) = if to_target {
        (&m.target_shard, &m.target_database, None, "used - 1")
    } else {
        (
            &m.source_shard,
            &m.source_database,
            m.source_credentials.clone(),
            "used + 1",
        )
    };
    sqlx::query(
        "UPDATE product_databases SET shard_id = $3, database_name = $4, credentials = $5 \
         WHERE tenant_id = $1 AND product = $2",
    )
    .bind(tenant)
    .bind(&m.product)
    .bind(shard)
    .bind(database)
    .bind(credentials)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    exec(
        tx,
        &format!("UPDATE shards SET used = {used} WHERE shard_id = $1"),
        &[&m.source_shard],
    )
    .await
}

async fn create_targets(effects: &LocalEffects, output: &StepOutput) -> Result<(), StepError> {
    for name in output.created() {
        effects.databases().create(&name).await?;
    }
    Ok(())
}

async fn retire_sources(effects: &LocalEffects, output: &StepOutput) -> Result<(), StepError> {
    for name in output.retired() {
        match effects.config().retention {
            Retention::Drop => effects.databases().drop_database(&name).await?,
            Retention::Archive => effects.databases().archive(&name).await?,
        }
    }
    Ok(())
}

/// Repeats the DDL of a move step whose bookkeeping is recorded (see
/// `lifecycle::redo_ddl`).
pub(super) async fn redo_ddl(
    effects: &LocalEffects,
    step: Step,
    output: &StepOutput,
) -> Result<(), StepError> {
    match step {
        Step::CreateTargetDatabases => create_targets(effects, output).await,
        Step::RetireSourceDatabases => retire_sources(effects, output).await,
        _ => Ok(()),
    }
}

/// Undoes a move step; commits `tx` itself.
pub(super) async fn undo(
    effects: &LocalEffects,
    mut tx: Tx,
    saga: &SagaState,
    step: Step,
) -> Result<(), StepError> {
    let tenant = saga.tenant_id.as_str();
    match step {
        Step::CreateTargetDatabases => {
            let moves = moves(&mut tx, saga).await?;
            for m in &moves {
                exec(
                    &mut tx,
                    "UPDATE shards SET used = used - 1 WHERE shard_id = $1",
                    &[&m.target_shard],
                )
                .await?;
            }
            exec(
                &mut tx,
                "DELETE FROM database_moves WHERE saga_id = $1",
                &[&saga.saga_id.to_string()],
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            // Dropping is idempotent: a crash before it is repaired by the
            // next compensation attempt only if the rows are still there, so
            // the targets are also derived from the step's recorded result.
            let recorded = saga.results.get(&step).map(StepOutput::created);
            for name in moves
                .iter()
                .map(|m| m.target_database.clone())
                .chain(recorded.into_iter().flatten())
            {
                effects.databases().drop_database(&name).await?;
            }
            return Ok(());
        }
        Step::SwitchPlacement => {
            let result = saga.results.get(&step).cloned().unwrap_or_default();
            if let Some((region, pinned)) = result.source_placement() {
                let pinned = i64::from(pinned);
                sqlx::query("UPDATE placements SET region = $2, pinned = $3 WHERE tenant_id = $1")
                    .bind(tenant)
                    .bind(region)
                    .bind(pinned)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            }
            for m in moves(&mut tx, saga).await? {
                let (current,): (String,) = sqlx::query_as(
                    "SELECT database_name FROM product_databases WHERE tenant_id = $1 AND product = $2",
                )
                .bind(tenant)
                .bind(&m.product)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?;
                // Compensating twice must not move the counts twice.
                if current == m.target_database {
                    point_at(&mut tx, tenant, &m, false).await?;
                }
            }
        }
        // The copy lives in the targets, which the step before drops.
        _ => {}
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
