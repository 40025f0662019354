//! Local adapters of the seven provisioning steps (seed, "Tenant
//! provisioning and lifecycle"), as SQL in a transaction the caller owns:
//! `LocalEffects::run` commits it with the step's idempotency key, the saga
//! runner commits several steps in it with the saga's state and outbox rows.

use super::{
    LocalEffects, Tx, check_residency, exec, lifecycle, placed_region, placement, product_of,
};
use crate::product_db::database_name;
use crate::store::StoreError;
use std::collections::BTreeSet;
use tenantry_sagas::steps::residency_guard;
use tenantry_sagas::{SagaKind, SagaState, Step, StepError, StepOutput, place};
use uuid::Uuid;

/// Runs `step` of `saga` in `tx` (see `LocalEffects::runs_in_transaction`).
pub(super) async fn run_in(
    effects: &LocalEffects,
    tx: &mut Tx,
    saga: &SagaState,
    step: Step,
) -> Result<StepOutput, StepError> {
    let tenant = saga.tenant_id.as_str();
    let output = match (step, saga.kind) {
        (Step::RecordLicence, SagaKind::ProvisionTenant) => {
            let t = &saga.spec.tenant;
            sqlx::query(
                "INSERT INTO tenant_accounts (tenant_id, owner_email, country, residency_pin) \
                VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&t.owner_email)
            .bind(t.country.as_str())
            .bind(t.residency_pin.map(|r| r.as_str()))
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from)?;
            StepOutput::new().fact("owner", &t.owner_email)
        }
        (Step::RecordLicence, SagaKind::ProvisionProduct) => {
            let p = product_of(saga)?;
            sqlx::query("INSERT INTO licences (tenant_id, product, edition, seats) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (tenant_id, product) DO UPDATE SET edition = excluded.edition, seats = excluded.seats")
                .bind(tenant).bind(p.product.as_str()).bind(p.edition.as_str()).bind(p.seats)
                .execute(&mut **tx).await.map_err(StoreError::from)?;
            StepOutput::new()
                .fact("edition", p.edition.as_str())
                .fact("seats", p.seats)
        }
        (Step::CreateSite, SagaKind::ProvisionTenant) => {
            let site = saga.spec.tenant.site.as_str();
            let host = format!("{site}.{}", effects.config.site_domain);
            lifecycle::check_quarantine(tx, &host, tenant).await?;
            // The host is this tenant's when the insert took it; only a
            // conflict (a redelivery, the host or a site taken) needs a look.
            let inserted: Option<(String,)> = sqlx::query_as(
                "INSERT INTO sites (host, tenant_id, site) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING RETURNING tenant_id",
            )
            .bind(&host)
            .bind(tenant)
            .bind(site)
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::from)?;
            let owner = match inserted {
                Some(owner) => Some(owner),
                None => sqlx::query_as("SELECT tenant_id FROM sites WHERE host = $1")
                    .bind(&host)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(StoreError::from)?,
            };
            match owner {
                Some((t,)) if t == tenant => StepOutput::new().with_host(host),
                Some((other,)) => {
                    return Err(StepError::permanent(format!(
                        "site host {host} is taken by tenant {other}; choose another site name"
                    )));
                }
                None => {
                    let (existing,): (String,) =
                        sqlx::query_as("SELECT host FROM sites WHERE tenant_id = $1")
                            .bind(tenant)
                            .fetch_one(&mut **tx)
                            .await
                            .map_err(StoreError::from)?;
                    return Err(StepError::permanent(format!(
                        "tenant {tenant} already has site {existing}; a tenant has one site"
                    )));
                }
            }
        }
        (Step::CreateSite, SagaKind::ProvisionProduct) => {
            let p = product_of(saga)?;
            let host = site_host(tx, tenant).await?;
            exec(
                tx,
                "INSERT INTO site_products (tenant_id, product, state) VALUES ($1, $2, 'active') \
                ON CONFLICT (tenant_id, product) DO UPDATE SET state = 'active'",
                &[tenant, p.product.as_str()],
            )
            .await?;
            StepOutput::new()
                .with_host(host)
                .fact("product", &p.product)
        }
        (Step::PlaceRegion, SagaKind::ProvisionTenant) => {
            let t = &saga.spec.tenant;
            let (region, pinned) = place(&t.country, t.residency_pin);
            // A first placement is the one just chosen; a redelivery (or a
            // move since) keeps the stored one.
            let inserted: Option<(String, i64)> = sqlx::query_as(
                "INSERT INTO placements (tenant_id, region, pinned) VALUES ($1, $2, $3) \
                ON CONFLICT (tenant_id) DO NOTHING RETURNING region, pinned",
            )
            .bind(tenant)
            .bind(region.as_str())
            .bind(i64::from(pinned))
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::from)?;
            let (region, pinned) = match inserted {
                Some((region, pinned)) => (region, pinned != 0),
                None => placement(tx, tenant).await?,
            };
            residency_guard(saga, &region)?;
            StepOutput::new().with_region(region, pinned)
        }
        (Step::PlaceRegion, SagaKind::ProvisionProduct) => {
            let (region, pinned) = placement(tx, tenant).await?;
            StepOutput::new().with_region(region, pinned)
        }
        (Step::StoreMetadata, _) => {
            let (scope, config) = tenantry_sagas::steps::metadata(saga)?;
            exec(
                tx,
                "INSERT INTO site_metadata (tenant_id, scope, config) VALUES ($1, $2, $3) \
                ON CONFLICT (tenant_id, scope) DO NOTHING",
                &[tenant, &scope, &config.to_string()],
            )
            .await?;
            StepOutput::new().fact("scope", scope)
        }
        (Step::CreateIdentity, kind) => {
            let owner = &saga.spec.tenant.owner_email;
            let user_id =
                Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("{tenant}/{owner}").as_bytes())
                    .to_string();
            exec(
                tx,
                "INSERT INTO identity_users (tenant_id, user_id, email) VALUES ($1, $2, $3) \
                ON CONFLICT DO NOTHING",
                &[tenant, &user_id, owner],
            )
            .await?;
            let (group, permissions): (String, Vec<String>) = match kind {
                SagaKind::ProvisionTenant => (
                    "site-admins".into(),
                    vec!["site:admin".into(), "site:read".into()],
                ),
                _ => {
                    let p = product_of(saga)?.product.as_str();
                    (format!("{p}-users"), vec![format!("{p}:use")])
                }
            };
            exec(tx, "INSERT INTO identity_groups (tenant_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[tenant, &group]).await?;
            // One statement for the group's permissions: `($1, $2, $3), ($1, $2, $4)`.
            let values: Vec<String> = (0..permissions.len())
                .map(|i| format!("($1, $2, ${})", i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO identity_group_permissions (tenant_id, group_name, permission) \
                 VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            let mut insert = sqlx::query(&sql).bind(tenant).bind(&group);
            for permission in &permissions {
                insert = insert.bind(permission);
            }
            insert.execute(&mut **tx).await.map_err(StoreError::from)?;
            exec(
                tx,
                "INSERT INTO identity_group_members (tenant_id, group_name, user_id) \
                VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[tenant, &group, &user_id],
            )
            .await?;
            let groups: Vec<(String,)> = sqlx::query_as(
                "SELECT group_name FROM identity_groups WHERE tenant_id = $1 ORDER BY group_name",
            )
            .bind(tenant)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::from)?;
            let groups: BTreeSet<String> = groups.into_iter().map(|(g,)| g).collect();
            StepOutput::new().with_groups(groups.iter().map(String::as_str))
        }
        (Step::ProvisionDatabase, SagaKind::ProvisionTenant)
        | (Step::InstallApps, SagaKind::ProvisionTenant) => StepOutput::new(),
        (Step::InstallApps, SagaKind::ProvisionProduct) => {
            let p = product_of(saga)?;
            for app in &p.apps {
                exec(
                    tx,
                    "INSERT INTO installed_apps (tenant_id, product, app) VALUES ($1, $2, $3) \
                    ON CONFLICT DO NOTHING",
                    &[tenant, p.product.as_str(), app.as_str()],
                )
                .await?;
            }
            StepOutput::new().with_apps(&p.apps)
        }
        (Step::ProvisionDatabase, SagaKind::ProvisionProduct) => {
            let product = product_of(saga)?.product.as_str();
            check_residency(tx, saga).await?;
            let name = database_name(tenant, product);
            let (shard, name) = effects
                .place_database(tx, tenant, product, &name, placed_region(saga))
                .await?;
            effects.databases.create_in(tx, &name).await?;
            StepOutput::new().with_database(shard, name)
        }
        (step, kind) => {
            return Err(StepError::permanent(format!(
                "step {} of a {} saga has no in-transaction form",
                step.name(),
                kind.as_str()
            )));
        }
    };
    Ok(output)
}

async fn site_host(tx: &mut Tx, tenant: &str) -> Result<String, StepError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT host FROM sites WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
    row.map(|(h,)| h).ok_or_else(|| {
        StepError::permanent(format!(
            "tenant {tenant} has no site: its tenant_created saga has not completed"
        ))
    })
}
