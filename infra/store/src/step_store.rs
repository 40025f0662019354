//! [`StepStore`] on PostgreSQL and SQLite: the rows a saga step writes, one
//! table operation at a time, in the transaction of a [`StoreWork`], which
//! its caller commits.
//!
//! One set of SQL strings serves both backends through sqlx's `Any`
//! driver: parameters are `$1..$n`, flags (`pinned`, `over_licence`) are
//! 0/1 integers because the driver cannot decode SQLite booleans, and
//! inserts are idempotent by `ON CONFLICT` on the row's natural key. Only
//! [`StepStore::create_database`] is PostgreSQL's alone: a product database
//! is a schema created in the transaction there, a file created outside it
//! on SQLite.

use crate::product_db;
use crate::store::{Backend, StoreError, now_ms};
use crate::unit_of_work::StoreWork;
use async_trait::async_trait;
use sqlx::{Any, Transaction};
use std::collections::BTreeSet;
use std::fmt::Display;
use tenantry_sagas::step_store::{DatabaseMove, LicenceRow, ProductDatabaseRow, StepStore};
use tenantry_sagas::work::{PlacedDatabase, ReleasedHost};
use tenantry_sagas::{StepError, StepOutput};
use tenantry_schemas::{AppKey, ProductKey, Region, TenantId};
use uuid::Uuid;

type Tx = Transaction<'static, Any>;

/// A lost connection or a conflict may pass on a retry; a corrupt row or a
/// missing database will not.
impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(_) | StoreError::Unreachable { .. } | StoreError::Conflict(_) => {
                StepError::retryable(e.to_string())
            }
            other => StepError::permanent(other.to_string()),
        }
    }
}

/// Runs `sql` with text parameters `$1..$n` in `tx`.
async fn exec(tx: &mut Tx, sql: &str, params: &[&str]) -> Result<(), StepError> {
    let mut query = sqlx::query(sql);
    for value in params {
        query = query.bind(*value);
    }
    query.execute(&mut **tx).await.map_err(StoreError::from)?;
    Ok(())
}

/// Inserts a row `(key.0, key.1, value)` into `table (columns)` per value,
/// in one statement (`($1, $2, $3), ($1, $2, $4)`), keeping existing rows;
/// nothing when there are no values.
async fn insert_each(
    tx: &mut Tx,
    table: &str,
    key: (&str, &str),
    values: &[&str],
) -> Result<(), StepError> {
    if values.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..values.len())
        .map(|i| format!("($1, $2, ${})", i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO {table} VALUES {} ON CONFLICT DO NOTHING",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql).bind(key.0).bind(key.1);
    for value in values {
        insert = insert.bind(*value);
    }
    insert.execute(&mut **tx).await.map_err(StoreError::from)?;
    Ok(())
}

/// A stored value that does not parse fails permanently.
fn parsed<T>(value: Result<T, impl Display>, what: &str) -> Result<T, StepError> {
    value.map_err(|e| StepError::permanent(format!("stored {what}: {e}")))
}

fn product_of(raw: &str) -> Result<ProductKey, StepError> {
    parsed(ProductKey::parse(raw), "product")
}

#[async_trait]
impl StepStore for StoreWork {
    async fn recorded_effect(&mut self, key: &str) -> Result<Option<StepOutput>, StepError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT result FROM step_effects WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&mut **self.transaction())
                .await
                .map_err(StoreError::from)?;
        match row {
            Some((result,)) => Ok(Some(
                serde_json::from_str(&result).map_err(StoreError::from)?,
            )),
            None => Ok(None),
        }
    }

    async fn record_effect(&mut self, key: &str, output: &StepOutput) -> Result<(), StepError> {
        let result = serde_json::to_string(output).map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO step_effects (idempotency_key, result, recorded_at) VALUES ($1, $2, $3)",
        )
        .bind(key)
        .bind(result)
        .bind(now_ms())
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn forget_effect(&mut self, key: &str) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM step_effects WHERE idempotency_key = $1",
            &[key],
        )
        .await
    }

    async fn insert_account(
        &mut self,
        tenant: &TenantId,
        owner_email: &str,
        country: &str,
        pin: Option<Region>,
    ) -> Result<(), StepError> {
        sqlx::query(
            "INSERT INTO tenant_accounts (tenant_id, owner_email, country, residency_pin) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(owner_email)
        .bind(country)
        .bind(pin.map(Region::as_str))
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn delete_account(&mut self, tenant: &TenantId) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM tenant_accounts WHERE tenant_id = $1",
            &[tenant.as_str()],
        )
        .await
    }

    async fn licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<Option<LicenceRow>, StepError> {
        let row: Option<(String, i32)> = sqlx::query_as(
            "SELECT edition, seats FROM licences WHERE tenant_id = $1 AND product = $2",
        )
        .bind(tenant.as_str())
        .bind(product.as_str())
        .fetch_optional(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(row.map(|(edition, seats)| LicenceRow { edition, seats }))
    }

    async fn put_licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        licence: &LicenceRow,
    ) -> Result<(), StepError> {
        sqlx::query(
            "INSERT INTO licences (tenant_id, product, edition, seats) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, product) DO UPDATE SET edition = excluded.edition, seats = excluded.seats",
        )
        .bind(tenant.as_str())
        .bind(product.as_str())
        .bind(&licence.edition)
        .bind(licence.seats)
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn update_licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        licence: &LicenceRow,
        over_licence: bool,
    ) -> Result<(), StepError> {
        sqlx::query(
            "UPDATE licences SET edition = $1, seats = $2, over_licence = $3 \
             WHERE tenant_id = $4 AND product = $5",
        )
        .bind(&licence.edition)
        .bind(licence.seats)
        .bind(i64::from(over_licence))
        .bind(tenant.as_str())
        .bind(product.as_str())
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn delete_licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM licences WHERE tenant_id = $1 AND product = $2",
            &[tenant.as_str(), product.as_str()],
        )
        .await
    }

    async fn site_host(&mut self, tenant: &TenantId) -> Result<Option<String>, StepError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT host FROM sites WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&mut **self.transaction())
            .await
            .map_err(StoreError::from)?;
        Ok(row.map(|(host,)| host))
    }

    async fn host_owner(&mut self, host: &str) -> Result<Option<TenantId>, StepError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT tenant_id FROM sites WHERE host = $1")
            .bind(host)
            .fetch_optional(&mut **self.transaction())
            .await
            .map_err(StoreError::from)?;
        row.map(|(tenant,)| parsed(TenantId::parse(&tenant), "tenant"))
            .transpose()
    }

    async fn insert_site(
        &mut self,
        host: &str,
        tenant: &TenantId,
        site: &str,
    ) -> Result<bool, StepError> {
        // Either unique key (the host, the tenant) skips the insert, and
        // then no row is returned.
        let inserted: Option<(String,)> = sqlx::query_as(
            "INSERT INTO sites (host, tenant_id, site) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING tenant_id",
        )
        .bind(host)
        .bind(tenant.as_str())
        .bind(site)
        .fetch_optional(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(inserted.is_some())
    }

    async fn delete_site(&mut self, tenant: &TenantId) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM sites WHERE tenant_id = $1",
            &[tenant.as_str()],
        )
        .await
    }

    async fn released_host(&mut self, host: &str) -> Result<Option<ReleasedHost>, StepError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT tenant_id, reusable_after FROM released_hosts WHERE host = $1")
                .bind(host)
                .fetch_optional(&mut **self.transaction())
                .await
                .map_err(StoreError::from)?;
        row.map(|(tenant, reusable_after_ms)| {
            Ok(ReleasedHost {
                tenant_id: parsed(TenantId::parse(&tenant), "tenant")?,
                reusable_after_ms,
            })
        })
        .transpose()
    }

    async fn release_host(
        &mut self,
        host: &str,
        tenant: &TenantId,
        released_at_ms: i64,
        reusable_after_ms: i64,
    ) -> Result<(), StepError> {
        sqlx::query(
            "INSERT INTO released_hosts (host, tenant_id, released_at, reusable_after) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (host) DO UPDATE SET tenant_id = excluded.tenant_id, \
             released_at = excluded.released_at, reusable_after = excluded.reusable_after",
        )
        .bind(host)
        .bind(tenant.as_str())
        .bind(released_at_ms)
        .bind(reusable_after_ms)
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn reclaim_host(&mut self, host: &str) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM released_hosts WHERE host = $1",
            &[host],
        )
        .await
    }

    async fn activate_site_product(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "INSERT INTO site_products (tenant_id, product, state) VALUES ($1, $2, 'active') \
             ON CONFLICT (tenant_id, product) DO UPDATE SET state = 'active'",
            &[tenant.as_str(), product.as_str()],
        )
        .await
    }

    async fn set_site_product_active(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        active: bool,
    ) -> Result<(), StepError> {
        let state = if active { "active" } else { "suspended" };
        exec(
            self.transaction(),
            "UPDATE site_products SET state = $3 WHERE tenant_id = $1 AND product = $2",
            &[tenant.as_str(), product.as_str(), state],
        )
        .await
    }

    async fn delete_site_product(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM site_products WHERE tenant_id = $1 AND product = $2",
            &[tenant.as_str(), product.as_str()],
        )
        .await
    }

    async fn placement(&mut self, tenant: &TenantId) -> Result<Option<(Region, bool)>, StepError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT region, pinned FROM placements WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_optional(&mut **self.transaction())
                .await
                .map_err(StoreError::from)?;
        row.map(|(region, pinned)| {
            Ok((
                parsed(Region::parse(&region, "region"), "placement")?,
                pinned != 0,
            ))
        })
        .transpose()
    }

    async fn insert_placement(
        &mut self,
        tenant: &TenantId,
        region: Region,
        pinned: bool,
    ) -> Result<(), StepError> {
        sqlx::query(
            "INSERT INTO placements (tenant_id, region, pinned) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(region.as_str())
        .bind(i64::from(pinned))
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn set_placement(
        &mut self,
        tenant: &TenantId,
        region: Region,
        pinned: bool,
    ) -> Result<(), StepError> {
        sqlx::query("UPDATE placements SET region = $2, pinned = $3 WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .bind(region.as_str())
            .bind(i64::from(pinned))
            .execute(&mut **self.transaction())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn delete_placement(&mut self, tenant: &TenantId) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM placements WHERE tenant_id = $1",
            &[tenant.as_str()],
        )
        .await
    }

    async fn insert_metadata(
        &mut self,
        tenant: &TenantId,
        scope: &str,
        config: &serde_json::Value,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "INSERT INTO site_metadata (tenant_id, scope, config) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, scope) DO NOTHING",
            &[tenant.as_str(), scope, &config.to_string()],
        )
        .await
    }

    async fn delete_metadata(&mut self, tenant: &TenantId, scope: &str) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM site_metadata WHERE tenant_id = $1 AND scope = $2",
            &[tenant.as_str(), scope],
        )
        .await
    }

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

    async fn product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<Option<PlacedDatabase>, StepError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT shard_id, database_name FROM product_databases \
             WHERE tenant_id = $1 AND product = $2",
        )
        .bind(tenant.as_str())
        .bind(product.as_str())
        .fetch_optional(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(row.map(|(shard, database)| PlacedDatabase { shard, database }))
    }

    async fn product_databases(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Vec<ProductDatabaseRow>, StepError> {
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT product, shard_id, database_name, credentials FROM product_databases \
             WHERE tenant_id = $1 ORDER BY product",
        )
        .bind(tenant.as_str())
        .fetch_all(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        rows.into_iter()
            .map(|(product, shard, database, credentials)| {
                Ok(ProductDatabaseRow {
                    product: product_of(&product)?,
                    placed: PlacedDatabase { shard, database },
                    credentials,
                })
            })
            .collect()
    }

    async fn insert_product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        placed: &PlacedDatabase,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "INSERT INTO product_databases (tenant_id, product, shard_id, database_name) \
             VALUES ($1, $2, $3, $4)",
            &[
                tenant.as_str(),
                product.as_str(),
                &placed.shard,
                &placed.database,
            ],
        )
        .await
    }

    async fn point_product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        placed: &PlacedDatabase,
        credentials: Option<&str>,
    ) -> Result<(), StepError> {
        sqlx::query(
            "UPDATE product_databases SET shard_id = $3, database_name = $4, credentials = $5 \
             WHERE tenant_id = $1 AND product = $2",
        )
        .bind(tenant.as_str())
        .bind(product.as_str())
        .bind(&placed.shard)
        .bind(&placed.database)
        .bind(credentials)
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn store_credentials(&mut self, database: &str, sealed: &str) -> Result<(), StepError> {
        product_db::store_credentials(&mut **self.transaction(), sealed, database).await?;
        Ok(())
    }

    async fn delete_product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM product_databases WHERE tenant_id = $1 AND product = $2",
            &[tenant.as_str(), product.as_str()],
        )
        .await
    }

    async fn create_database(&mut self, name: &str) -> Result<(), StepError> {
        match self.backend() {
            Backend::Postgres => {
                product_db::create_schema_in(self.transaction(), name).await?;
                Ok(())
            }
            Backend::Sqlite => Err(StepError::permanent(
                "product databases are files on SQLite; they are created outside the store's transaction",
            )),
        }
    }

    async fn take_shard(&mut self, region: Region, capacity: i64) -> Result<String, StepError> {
        let tx = self.transaction();
        let region = region.as_str();
        let room: Option<(String,)> = sqlx::query_as(
            "SELECT shard_id FROM shards WHERE region = $1 AND used < capacity \
             ORDER BY shard_id LIMIT 1",
        )
        .bind(region)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        let shard = match room {
            Some((shard,)) => shard,
            None => {
                let (count,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM shards WHERE region = $1")
                        .bind(region)
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(StoreError::from)?;
                let shard = format!("{region}-shard-{}", count + 1);
                // Two workers may need a new shard at once: the second insert
                // is a no-op and both use the shard (capacity is a target,
                // not a hard limit).
                sqlx::query(
                    "INSERT INTO shards (shard_id, region, capacity, used) VALUES ($1, $2, $3, 0) \
                     ON CONFLICT (shard_id) DO NOTHING",
                )
                .bind(&shard)
                .bind(region)
                .bind(capacity)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::from)?;
                shard
            }
        };
        exec(
            tx,
            "UPDATE shards SET used = used + 1 WHERE shard_id = $1",
            &[&shard],
        )
        .await?;
        Ok(shard)
    }

    async fn add_shard_usage(&mut self, shard: &str, delta: i64) -> Result<(), StepError> {
        sqlx::query("UPDATE shards SET used = used + $2 WHERE shard_id = $1")
            .bind(shard)
            .bind(delta)
            .execute(&mut **self.transaction())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn shard_region(&mut self, shard: &str) -> Result<Option<String>, StepError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT region FROM shards WHERE shard_id = $1")
                .bind(shard)
                .fetch_optional(&mut **self.transaction())
                .await
                .map_err(StoreError::from)?;
        Ok(row.map(|(region,)| region))
    }

    async fn insert_installed_apps(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        apps: &[AppKey],
    ) -> Result<(), StepError> {
        let apps: Vec<&str> = apps.iter().map(AppKey::as_str).collect();
        insert_each(
            self.transaction(),
            "installed_apps (tenant_id, product, app)",
            (tenant.as_str(), product.as_str()),
            &apps,
        )
        .await
    }

    async fn delete_installed_apps(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM installed_apps WHERE tenant_id = $1 AND product = $2",
            &[tenant.as_str(), product.as_str()],
        )
        .await
    }

    async fn insert_snapshot(
        &mut self,
        name: &str,
        tenant: &TenantId,
        product: &ProductKey,
        database: &str,
    ) -> Result<(), StepError> {
        sqlx::query(
            "INSERT INTO database_snapshots (snapshot_name, tenant_id, product, database_name, taken_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(tenant.as_str())
        .bind(product.as_str())
        .bind(database)
        .bind(now_ms())
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn delete_snapshot(&mut self, name: &str) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM database_snapshots WHERE snapshot_name = $1",
            &[name],
        )
        .await
    }

    async fn insert_move(
        &mut self,
        saga: Uuid,
        tenant: &TenantId,
        the_move: &DatabaseMove,
    ) -> Result<(), StepError> {
        sqlx::query(
            "INSERT INTO database_moves (saga_id, tenant_id, product, source_shard, source_database, \
             source_credentials, target_shard, target_database) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(saga.to_string())
        .bind(tenant.as_str())
        .bind(the_move.product.as_str())
        .bind(&the_move.source.shard)
        .bind(&the_move.source.database)
        .bind(the_move.source_credentials.as_deref())
        .bind(&the_move.target.shard)
        .bind(&the_move.target.database)
        .execute(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn moves(&mut self, saga: Uuid) -> Result<Vec<DatabaseMove>, StepError> {
        type Row = (String, String, String, Option<String>, String, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT product, source_shard, source_database, source_credentials, target_shard, \
             target_database FROM database_moves WHERE saga_id = $1 ORDER BY product",
        )
        .bind(saga.to_string())
        .fetch_all(&mut **self.transaction())
        .await
        .map_err(StoreError::from)?;
        rows.into_iter()
            .map(
                |(
                    product,
                    source_shard,
                    source_database,
                    source_credentials,
                    target_shard,
                    target_database,
                )| {
                    Ok(DatabaseMove {
                        product: product_of(&product)?,
                        source: PlacedDatabase {
                            shard: source_shard,
                            database: source_database,
                        },
                        source_credentials,
                        target: PlacedDatabase {
                            shard: target_shard,
                            database: target_database,
                        },
                    })
                },
            )
            .collect()
    }

    async fn delete_moves(&mut self, saga: Uuid) -> Result<(), StepError> {
        exec(
            self.transaction(),
            "DELETE FROM database_moves WHERE saga_id = $1",
            &[&saga.to_string()],
        )
        .await
    }
}
