//! Step 6, provision database: the product's database on a shard with room
//! in the tenant's region (a PostgreSQL schema on the local stack), its
//! credentials sealed under the tenant's data key (DESIGN.md, "Envelope
//! encryption"). A tenant saga has no product and nothing to do here.
//!
//! In a batch the schema is created with the batch's commit (transactional
//! DDL). When every shard of the region is full, the next shard is added
//! at once, outside the batch ([`super::ShardProvisioner`]).

use super::{StepContext, Work, key_error, product_of, residency_guard};
use tenantry_sagas::work::PlacedDatabase;
use tenantry_sagas::{SagaKind, SagaState, Step, StepError, StepOutput};
use tenantry_store::product_db::database_name;

pub(super) fn runs_in_batch(ctx: &StepContext, saga: &SagaState) -> bool {
    saga.kind == SagaKind::ProvisionTenant || ctx.transactional_databases
}

pub(super) async fn run(
    ctx: &StepContext,
    work: &mut Work<'_>,
    saga: &SagaState,
) -> Result<StepOutput, StepError> {
    if saga.kind == SagaKind::ProvisionTenant {
        return Ok(StepOutput::new());
    }
    let tenant = &saga.tenant_id;
    let product = &product_of(saga)?.product;
    let placed = work.loaded.placements.get(tenant).copied();
    let (region, _) = placed.ok_or_else(|| {
        StepError::permanent(format!(
            "tenant {tenant} has no region: its tenant_created saga has not completed"
        ))
    })?;
    residency_guard(saga, region.as_str())?;
    // The region this saga placed the tenant in (step 3), else the placement.
    let region = saga
        .results
        .get(&Step::PlaceRegion)
        .and_then(StepOutput::region)
        .unwrap_or(region)
        .as_str()
        .to_owned();
    let key = (tenant.clone(), product.clone());
    if work.loaded.databases.contains_key(&key) {
        // Left by an earlier activation whose compensation did not finish:
        // the step's own path creates its schema again and seals missing
        // credentials; a batch knows neither.
        return Err(StepError::retryable(format!(
            "a product database of {tenant} {product} exists already; placed again outside a batch"
        )));
    }
    let with_room = work
        .loaded
        .shards
        .iter()
        .position(|s| s.region == region && s.used < s.capacity);
    let index = match with_room {
        Some(index) => index,
        None => {
            let count = work.loaded.shard_counts.entry(region.clone()).or_default();
            *count += 1;
            let added = ctx.shards.add_shard(&region, *count).await?;
            if added.used >= added.capacity {
                return Err(StepError::retryable(format!(
                    "shard {} of region {region} filled up meanwhile",
                    added.shard_id
                )));
            }
            work.loaded.shards.push(added);
            work.loaded.shards.len() - 1
        }
    };
    let shard = &mut work.loaded.shards[index];
    shard.used += 1;
    let shard = shard.shard_id.clone();
    let database = database_name(tenant.as_str(), product.as_str());
    let secret = format!(
        "{{\"shard\":\"{shard}\",\"database\":\"{database}\",\"user\":\"{database}\",\"password\":\"{}\"}}",
        uuid::Uuid::new_v4().simple()
    );
    let sealed = ctx
        .keys
        .seal(tenant, secret.as_bytes())
        .await
        .map_err(key_error)?;
    *work.effects.shard_usage.entry(shard.clone()).or_default() += 1;
    work.effects.create_databases.push(database.clone());
    work.effects.databases.push((
        tenant.clone(),
        product.clone(),
        shard.clone(),
        database.clone(),
        hex::encode(sealed),
    ));
    work.loaded.databases.insert(
        key,
        PlacedDatabase {
            shard: shard.clone(),
            database: database.clone(),
        },
    );
    Ok(StepOutput::new().with_database(shard, database))
}
