//! [`DatabaseRows`] on [`StoreWork`]: product databases and their
//! credentials, shards, snapshots, database moves.

use super::{exec, product_of};
use crate::product_db;
use crate::store::{Backend, StoreError, now_ms};
use crate::unit_of_work::StoreWork;
use async_trait::async_trait;
use tenantry_sagas::StepError;
use tenantry_sagas::step_store::{DatabaseMove, DatabaseRows, ProductDatabaseRow};
use tenantry_sagas::work::PlacedDatabase;
use tenantry_schemas::{ProductKey, Region, TenantId};
use uuid::Uuid;

#[async_trait]
impl DatabaseRows for StoreWork {
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

    async fn take_shard(&mut self, region: Region) -> Result<Option<String>, StepError> {
        let tx = self.transaction();
        let room: Option<(String,)> = sqlx::query_as(
            "SELECT shard_id FROM shards WHERE region = $1 AND used < capacity \
             ORDER BY shard_id LIMIT 1",
        )
        .bind(region.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        let Some((shard,)) = room else {
            return Ok(None);
        };
        exec(
            tx,
            "UPDATE shards SET used = used + 1 WHERE shard_id = $1",
            &[&shard],
        )
        .await?;
        Ok(Some(shard))
    }

    async fn next_shard(&mut self, region: Region) -> Result<String, StepError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM shards WHERE region = $1")
            .bind(region.as_str())
            .fetch_one(&mut **self.transaction())
            .await
            .map_err(StoreError::from)?;
        Ok(format!("{region}-shard-{}", count + 1))
    }

    async fn add_shard(
        &mut self,
        shard: &str,
        region: Region,
        capacity: i64,
    ) -> Result<(), StepError> {
        let tx = self.transaction();
        // Two workers may add the same shard at once: the second insert is
        // a no-op and both place on it (capacity is a target, not a hard
        // limit).
        sqlx::query(
            "INSERT INTO shards (shard_id, region, capacity, used) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (shard_id) DO NOTHING",
        )
        .bind(shard)
        .bind(region.as_str())
        .bind(capacity)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        exec(
            tx,
            "UPDATE shards SET used = used + 1 WHERE shard_id = $1",
            &[shard],
        )
        .await?;
        Ok(())
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
