//! [`tenantry_sagas::step_store::StepStore`] on [`StoreWork`], on both
//! backends: each test is a function taking the store, run against SQLite
//! (a temporary file) as `sqlite::<test>` and against PostgreSQL (a fresh
//! database on the local stack's server, dropped when the test ends) as
//! `postgres::<test>`.

#[path = "../common/scratch.rs"]
mod scratch;
#[path = "../common/stores.rs"]
mod stores;

mod databases;
mod identity;
mod tenants;

use databases::*;
use identity::*;
use tenants::*;

use std::collections::BTreeSet;
use stores::{Postgres, Sqlite};
use tenantry_sagas::step_store::{
    DatabaseMove, DatabaseRows, EffectRecords, IdentityRows, LicenceRow, TenantRows,
};
use tenantry_sagas::work::PlacedDatabase;
use tenantry_sagas::{StepOutput, UnitOfWork};
use tenantry_schemas::{AppKey, ProductKey, Region, TenantId};
use tenantry_store::{Backend, Store, StoreWork};
use uuid::Uuid;

/// Runs each named test (an async function taking `&Store`) on SQLite and
/// on PostgreSQL.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let backend = crate::Sqlite::new().await;
                crate::$test(&backend.store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let backend = crate::Postgres::new("steps").await;
                crate::$test(&backend.store).await;
            })*
        }
    };
}

on_both_backends! {
    an_effect_is_recorded_read_back_and_forgotten,
    a_host_and_a_tenant_take_one_site,
    a_released_host_is_recorded_until_reclaimed,
    a_shard_is_filled_to_capacity_before_the_next_is_made,
    a_first_placement_is_kept_until_set,
    grants_and_members_accumulate_until_their_group_is_deleted,
    a_licence_is_put_updated_and_deleted,
    product_databases_keep_their_first_credentials_and_follow_a_point,
    product_databases_are_schemas_in_the_transaction_on_postgres_only,
    database_moves_are_read_back_by_product,
    rows_of_a_work_dropped_without_commit_are_not_written,
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn product(key: &str) -> ProductKey {
    ProductKey::parse(key).unwrap()
}

fn placed(shard: &str, database: &str) -> PlacedDatabase {
    PlacedDatabase {
        shard: shard.into(),
        database: database.into(),
    }
}

async fn begin(store: &Store) -> StoreWork {
    StoreWork::begin(store).await.unwrap()
}

/// Counts the rows of `sql` (a `SELECT COUNT(*)` with text parameters).
async fn count(store: &Store, sql: &str, params: &[&str]) -> i64 {
    let mut query = sqlx::query_as::<_, (i64,)>(sql);
    for value in params {
        query = query.bind(*value);
    }
    query.fetch_one(store.pool()).await.unwrap().0
}

async fn an_effect_is_recorded_read_back_and_forgotten(store: &Store) {
    let output = StepOutput::new()
        .with_host("acme.tenantry.test")
        .fact("owner", "o@acme.test");
    let mut work = begin(store).await;
    assert_eq!(
        work.recorded_effect("saga:create_site").await.unwrap(),
        None
    );
    work.record_effect("saga:create_site", &output)
        .await
        .unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.recorded_effect("saga:create_site").await.unwrap(),
        Some(output)
    );
    assert_eq!(
        work.recorded_effect("saga:place_region").await.unwrap(),
        None
    );
    work.forget_effect("saga:create_site").await.unwrap();
    // Forgetting a missing effect is a no-op.
    work.forget_effect("saga:create_site").await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.recorded_effect("saga:create_site").await.unwrap(),
        None
    );
}

async fn rows_of_a_work_dropped_without_commit_are_not_written(store: &Store) {
    let (t1, crm) = (tenant("t1"), product("crm"));
    let mut work = begin(store).await;
    work.insert_account(&t1, "o@t1.test", "DE", Some(Region::De))
        .await
        .unwrap();
    work.insert_metadata(&t1, "site", &serde_json::json!({"theme": "dark"}))
        .await
        .unwrap();
    work.activate_site_product(&t1, &crm).await.unwrap();
    work.insert_installed_apps(
        &t1,
        &crm,
        &[
            AppKey::parse("mail").unwrap(),
            AppKey::parse("chat").unwrap(),
        ],
    )
    .await
    .unwrap();
    work.insert_snapshot("snap_t_t1__crm_1", &t1, &crm, "t_t1__crm")
        .await
        .unwrap();
    drop(work);
    for table in [
        "tenant_accounts",
        "site_metadata",
        "site_products",
        "installed_apps",
        "database_snapshots",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1");
        assert_eq!(count(store, &sql, &["t1"]).await, 0, "{table}");
    }

    // The same rows, committed, then deleted.
    let mut work = begin(store).await;
    work.insert_account(&t1, "o@t1.test", "DE", Some(Region::De))
        .await
        .unwrap();
    work.insert_account(&t1, "else@t1.test", "FR", None)
        .await
        .unwrap();
    work.insert_metadata(&t1, "site", &serde_json::json!({"theme": "dark"}))
        .await
        .unwrap();
    work.insert_metadata(&t1, "site", &serde_json::json!({"theme": "light"}))
        .await
        .unwrap();
    work.activate_site_product(&t1, &crm).await.unwrap();
    work.set_site_product_active(&t1, &crm, false)
        .await
        .unwrap();
    let apps = [
        AppKey::parse("mail").unwrap(),
        AppKey::parse("chat").unwrap(),
    ];
    work.insert_installed_apps(&t1, &crm, &apps).await.unwrap();
    work.insert_installed_apps(&t1, &crm, &apps[..1])
        .await
        .unwrap();
    work.insert_installed_apps(&t1, &crm, &[]).await.unwrap();
    work.insert_snapshot("snap_t_t1__crm_1", &t1, &crm, "t_t1__crm")
        .await
        .unwrap();
    work.insert_snapshot("snap_t_t1__crm_1", &t1, &crm, "t_t1__crm")
        .await
        .unwrap();
    work.commit().await.unwrap();

    let (owner, pin): (String, Option<String>) = sqlx::query_as(
        "SELECT owner_email, residency_pin FROM tenant_accounts WHERE tenant_id = $1",
    )
    .bind("t1")
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((owner.as_str(), pin.as_deref()), ("o@t1.test", Some("de")));
    let (config,): (String,) =
        sqlx::query_as("SELECT config FROM site_metadata WHERE tenant_id = $1 AND scope = $2")
            .bind("t1")
            .bind("site")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&config).unwrap(),
        serde_json::json!({"theme": "dark"})
    );
    let suspended =
        "SELECT COUNT(*) FROM site_products WHERE tenant_id = $1 AND state = 'suspended'";
    assert_eq!(count(store, suspended, &["t1"]).await, 1);
    let installed = "SELECT COUNT(*) FROM installed_apps WHERE tenant_id = $1";
    assert_eq!(count(store, installed, &["t1"]).await, 2);
    let snapshots = "SELECT COUNT(*) FROM database_snapshots WHERE tenant_id = $1";
    assert_eq!(count(store, snapshots, &["t1"]).await, 1);

    let mut work = begin(store).await;
    work.activate_site_product(&t1, &crm).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(count(store, suspended, &["t1"]).await, 0);

    let mut work = begin(store).await;
    work.delete_account(&t1).await.unwrap();
    work.delete_metadata(&t1, "site").await.unwrap();
    work.delete_site_product(&t1, &crm).await.unwrap();
    work.delete_installed_apps(&t1, &crm).await.unwrap();
    work.delete_snapshot("snap_t_t1__crm_1").await.unwrap();
    work.commit().await.unwrap();
    for table in [
        "tenant_accounts",
        "site_metadata",
        "site_products",
        "installed_apps",
        "database_snapshots",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1");
        assert_eq!(count(store, &sql, &["t1"]).await, 0, "{table}");
    }
}
