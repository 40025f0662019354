//! [`TenantRows`] on [`StoreWork`]: accounts, licences, sites and released
//! hosts, site products, placements, metadata, installed apps.

use super::{exec, insert_each, parsed};
use crate::store::StoreError;
use crate::unit_of_work::StoreWork;
use async_trait::async_trait;
use tenantry_sagas::StepError;
use tenantry_sagas::step_store::{LicenceRow, TenantRows};
use tenantry_sagas::work::ReleasedHost;
use tenantry_schemas::{AppKey, ProductKey, Region, TenantId};

#[async_trait]
impl TenantRows for StoreWork {
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
}
