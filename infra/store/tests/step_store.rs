//! [`StepStore`] on [`StoreWork`], on both backends: each test is a
//! function taking the store, run against SQLite (a temporary file) as
//! `sqlite::<test>` and against PostgreSQL (a fresh database on the local
//! stack's server, dropped when the test ends) as `postgres::<test>`.

#[path = "common/scratch.rs"]
mod scratch;

use scratch::ScratchDatabase;
use std::collections::BTreeSet;
use tenantry_sagas::step_store::{DatabaseMove, LicenceRow, StepStore};
use tenantry_sagas::work::PlacedDatabase;
use tenantry_sagas::{StepOutput, UnitOfWork};
use tenantry_schemas::{AppKey, ProductKey, Region, TenantId};
use tenantry_store::{Backend, Store, StoreWork};
use uuid::Uuid;

/// A fresh PostgreSQL database, dropped with this value.
struct Postgres {
    // Declared first: the pool closes before the database is dropped.
    store: Store,
    _database: ScratchDatabase,
}

impl Postgres {
    async fn new() -> Self {
        let database = ScratchDatabase::create("steps").await;
        let store = Store::connect(&database.url(), 4).await.unwrap();
        Self {
            store,
            _database: database,
        }
    }
}

/// A SQLite file in a temporary directory, removed with this value.
struct Sqlite {
    store: Store,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()), 1)
            .await
            .unwrap();
        Self { store, _dir: dir }
    }
}

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
                let backend = crate::Postgres::new().await;
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

async fn a_host_and_a_tenant_take_one_site(store: &Store) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = begin(store).await;
    assert!(work.insert_site("acme.test", &t1, "acme").await.unwrap());
    // The same host again, for its owner or another tenant.
    assert!(!work.insert_site("acme.test", &t1, "acme").await.unwrap());
    assert!(!work.insert_site("acme.test", &t2, "acme").await.unwrap());
    // A second site of the same tenant.
    assert!(!work.insert_site("other.test", &t1, "other").await.unwrap());
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.site_host(&t1).await.unwrap().as_deref(),
        Some("acme.test")
    );
    assert_eq!(work.site_host(&t2).await.unwrap(), None);
    assert_eq!(
        work.host_owner("acme.test").await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(work.host_owner("other.test").await.unwrap(), None);
    work.delete_site(&t1).await.unwrap();
    assert!(work.insert_site("other.test", &t1, "other").await.unwrap());
    work.commit().await.unwrap();

    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM sites WHERE tenant_id = $1",
            &["t1"]
        )
        .await,
        1
    );
    let mut work = begin(store).await;
    assert_eq!(work.host_owner("acme.test").await.unwrap(), None);
}

async fn a_released_host_is_recorded_until_reclaimed(store: &Store) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = begin(store).await;
    assert_eq!(work.released_host("acme.test").await.unwrap(), None);
    work.release_host("acme.test", &t1, 1_000, 5_000)
        .await
        .unwrap();
    // A second release replaces the first.
    work.release_host("acme.test", &t2, 2_000, 9_000)
        .await
        .unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    let released = work.released_host("acme.test").await.unwrap().unwrap();
    assert_eq!(released.tenant_id, t2);
    assert_eq!(released.reusable_after_ms, 9_000);
    work.reclaim_host("acme.test").await.unwrap();
    work.reclaim_host("acme.test").await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(work.released_host("acme.test").await.unwrap(), None);
}

async fn shard_used(store: &Store, shard: &str) -> i64 {
    let (used,): (i64,) = sqlx::query_as("SELECT used FROM shards WHERE shard_id = $1")
        .bind(shard)
        .fetch_one(store.pool())
        .await
        .unwrap();
    used
}

async fn a_shard_is_filled_to_capacity_before_the_next_is_made(store: &Store) {
    let mut work = begin(store).await;
    assert_eq!(work.take_shard(Region::Eu, 2).await.unwrap(), "eu-shard-1");
    assert_eq!(work.take_shard(Region::Eu, 2).await.unwrap(), "eu-shard-1");
    assert_eq!(work.take_shard(Region::Eu, 2).await.unwrap(), "eu-shard-2");
    // Another region counts its own shards.
    assert_eq!(work.take_shard(Region::De, 2).await.unwrap(), "de-shard-1");
    assert_eq!(
        work.shard_region("eu-shard-2").await.unwrap().as_deref(),
        Some("eu")
    );
    assert_eq!(work.shard_region("us-shard-1").await.unwrap(), None);
    work.commit().await.unwrap();
    assert_eq!(shard_used(store, "eu-shard-1").await, 2);
    assert_eq!(shard_used(store, "eu-shard-2").await, 1);
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM shards WHERE region = $1 AND capacity = 2",
            &["eu"]
        )
        .await,
        2
    );

    // A database leaving the full shard gives it room again.
    let mut work = begin(store).await;
    work.add_shard_usage("eu-shard-1", -1).await.unwrap();
    assert_eq!(work.take_shard(Region::Eu, 2).await.unwrap(), "eu-shard-1");
    work.add_shard_usage("eu-shard-2", 3).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(shard_used(store, "eu-shard-1").await, 2);
    assert_eq!(shard_used(store, "eu-shard-2").await, 4);
}

async fn a_first_placement_is_kept_until_set(store: &Store) {
    let t1 = tenant("t1");
    let mut work = begin(store).await;
    assert_eq!(work.placement(&t1).await.unwrap(), None);
    work.insert_placement(&t1, Region::Eu, false).await.unwrap();
    work.insert_placement(&t1, Region::De, true).await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.placement(&t1).await.unwrap(),
        Some((Region::Eu, false))
    );
    work.set_placement(&t1, Region::De, true).await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(work.placement(&t1).await.unwrap(), Some((Region::De, true)));
    work.delete_placement(&t1).await.unwrap();
    work.delete_placement(&t1).await.unwrap();
    assert_eq!(work.placement(&t1).await.unwrap(), None);
}

async fn permissions(store: &Store, group: &str) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT permission FROM identity_group_permissions WHERE tenant_id = $1 AND group_name = $2 \
         ORDER BY permission",
    )
    .bind("t1")
    .bind(group)
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter().map(|(p,)| p).collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

async fn grants_and_members_accumulate_until_their_group_is_deleted(store: &Store) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = begin(store).await;
    for user in ["u1", "u2", "u3"] {
        work.insert_user(&t1, user, &format!("{user}@t1.test"))
            .await
            .unwrap();
    }
    work.insert_user(&t1, "u1", "again@t1.test").await.unwrap();
    work.insert_group(&t1, "site-admins").await.unwrap();
    work.insert_group(&t1, "site-admins").await.unwrap();
    work.insert_group(&t1, "crm-users").await.unwrap();
    work.insert_group(&t2, "other").await.unwrap();
    work.grant(&t1, "site-admins", &strings(&["site:admin", "site:read"]))
        .await
        .unwrap();
    work.grant(&t1, "site-admins", &strings(&["site:read", "site:write"]))
        .await
        .unwrap();
    work.grant(&t1, "site-admins", &[]).await.unwrap();
    work.grant(&t1, "crm-users", &strings(&["crm:use"]))
        .await
        .unwrap();
    work.add_members(&t1, "site-admins", &strings(&["u2", "u1"]))
        .await
        .unwrap();
    work.add_members(&t1, "site-admins", &strings(&["u1"]))
        .await
        .unwrap();
    work.add_members(&t1, "site-admins", &[]).await.unwrap();
    work.add_members(&t1, "crm-users", &strings(&["u3"]))
        .await
        .unwrap();
    work.revoke(&t1, "site-admins", "site:write").await.unwrap();
    work.revoke(&t1, "site-admins", "site:write").await.unwrap();
    work.commit().await.unwrap();

    assert_eq!(
        permissions(store, "site-admins").await,
        strings(&["site:admin", "site:read"])
    );
    let mut work = begin(store).await;
    assert_eq!(
        work.members(&t1, "site-admins").await.unwrap(),
        strings(&["u1", "u2"])
    );
    assert_eq!(
        work.groups(&t1).await.unwrap(),
        BTreeSet::from(["crm-users".to_owned(), "site-admins".to_owned()])
    );
    work.delete_group(&t1, "crm-users").await.unwrap();
    work.delete_group(&t1, "crm-users").await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.groups(&t1).await.unwrap(),
        BTreeSet::from(["site-admins".to_owned()])
    );
    assert!(work.members(&t1, "crm-users").await.unwrap().is_empty());
    assert_eq!(
        work.members(&t1, "site-admins").await.unwrap(),
        strings(&["u1", "u2"])
    );
    work.commit().await.unwrap();
    assert!(permissions(store, "crm-users").await.is_empty());
    assert_eq!(
        permissions(store, "site-admins").await,
        strings(&["site:admin", "site:read"])
    );
    let mut work = begin(store).await;
    work.delete_identity(&t1).await.unwrap();
    work.commit().await.unwrap();
    assert!(permissions(store, "site-admins").await.is_empty());
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM identity_users WHERE tenant_id = $1",
            &["t1"]
        )
        .await,
        0
    );
    let mut work = begin(store).await;
    assert_eq!(
        work.groups(&t2).await.unwrap(),
        BTreeSet::from(["other".to_owned()])
    );
}

async fn a_licence_is_put_updated_and_deleted(store: &Store) {
    let (t1, crm) = (tenant("t1"), product("crm"));
    let standard = LicenceRow {
        edition: "standard".into(),
        seats: 10,
    };
    let premium = LicenceRow {
        edition: "premium".into(),
        seats: 3,
    };
    let mut work = begin(store).await;
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), None);
    // Updating a missing licence writes nothing.
    work.update_licence(&t1, &crm, &premium, true)
        .await
        .unwrap();
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), None);
    work.put_licence(&t1, &crm, &premium).await.unwrap();
    work.put_licence(&t1, &crm, &standard).await.unwrap();
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), Some(standard));
    work.update_licence(&t1, &crm, &premium, true)
        .await
        .unwrap();
    work.commit().await.unwrap();

    let over = "SELECT COUNT(*) FROM licences WHERE tenant_id = $1 AND over_licence = 1";
    assert_eq!(count(store, over, &["t1"]).await, 1);
    let mut work = begin(store).await;
    assert_eq!(
        work.licence(&t1, &crm).await.unwrap(),
        Some(premium.clone())
    );
    work.update_licence(&t1, &crm, &premium, false)
        .await
        .unwrap();
    work.commit().await.unwrap();
    assert_eq!(count(store, over, &["t1"]).await, 0);

    let mut work = begin(store).await;
    work.delete_licence(&t1, &crm).await.unwrap();
    work.delete_licence(&t1, &crm).await.unwrap();
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), None);
}

async fn product_databases_keep_their_first_credentials_and_follow_a_point(store: &Store) {
    let (t1, crm, erp) = (tenant("t1"), product("crm"), product("erp"));
    let mut work = begin(store).await;
    assert_eq!(work.product_database(&t1, &crm).await.unwrap(), None);
    work.insert_product_database(&t1, &erp, &placed("eu-shard-1", "t_t1__erp"))
        .await
        .unwrap();
    work.insert_product_database(&t1, &crm, &placed("eu-shard-1", "t_t1__crm"))
        .await
        .unwrap();
    work.commit().await.unwrap();
    let mut work = begin(store).await;
    let again = work
        .insert_product_database(&t1, &crm, &placed("eu-shard-2", "t_t1__crm"))
        .await
        .unwrap_err();
    assert!(
        again.retryable,
        "another writer placed it: {}",
        again.reason
    );
    drop(work);
    let mut work = begin(store).await;
    StepStore::store_credentials(&mut work, "t_t1__crm", "aa01")
        .await
        .unwrap();
    StepStore::store_credentials(&mut work, "t_t1__crm", "bb02")
        .await
        .unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.product_database(&t1, &crm).await.unwrap(),
        Some(placed("eu-shard-1", "t_t1__crm"))
    );
    let rows = work.product_databases(&t1).await.unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.product.as_str(),
                r.placed.clone(),
                r.credentials.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("crm", placed("eu-shard-1", "t_t1__crm"), Some("aa01")),
            ("erp", placed("eu-shard-1", "t_t1__erp"), None),
        ]
    );
    work.point_product_database(&t1, &crm, &placed("de-shard-1", "t_t1__crm__de"), None)
        .await
        .unwrap();
    work.point_product_database(
        &t1,
        &erp,
        &placed("de-shard-1", "t_t1__erp__de"),
        Some("cc03"),
    )
    .await
    .unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    let rows = work.product_databases(&t1).await.unwrap();
    assert_eq!(rows[0].placed, placed("de-shard-1", "t_t1__crm__de"));
    assert_eq!(rows[0].credentials, None);
    assert_eq!(rows[1].placed, placed("de-shard-1", "t_t1__erp__de"));
    assert_eq!(rows[1].credentials.as_deref(), Some("cc03"));
    work.delete_product_database(&t1, &crm).await.unwrap();
    work.delete_product_database(&t1, &crm).await.unwrap();
    assert_eq!(work.product_database(&t1, &crm).await.unwrap(), None);
    assert_eq!(work.product_databases(&t1).await.unwrap().len(), 1);
}

async fn product_databases_are_schemas_in_the_transaction_on_postgres_only(store: &Store) {
    let mut work = begin(store).await;
    let created = work.create_database("t_t1__crm").await;
    match store.backend() {
        Backend::Sqlite => {
            let error = created.unwrap_err();
            assert!(!error.retryable, "{error:?}");
            assert!(error.reason.contains("files on SQLite"), "{error:?}");
        }
        Backend::Postgres => {
            created.unwrap();
            // Idempotent.
            work.create_database("t_t1__crm").await.unwrap();
            let schema = "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1";
            // Not there before the commit…
            assert_eq!(count(store, schema, &["t_t1__crm"]).await, 0);
            work.commit().await.unwrap();
            // …there after it.
            assert_eq!(count(store, schema, &["t_t1__crm"]).await, 1);
            // An unsafe name is refused.
            let mut work = begin(store).await;
            let error = work.create_database("Robert\"; --").await.unwrap_err();
            assert!(!error.retryable, "{error:?}");
        }
    }
}

async fn database_moves_are_read_back_by_product(store: &Store) {
    let (saga, other) = (Uuid::new_v4(), Uuid::new_v4());
    let t1 = tenant("t1");
    let erp = DatabaseMove {
        product: product("erp"),
        source: placed("eu-shard-1", "t_t1__erp"),
        source_credentials: None,
        target: placed("de-shard-1", "t_t1__erp__de"),
    };
    let crm = DatabaseMove {
        product: product("crm"),
        source: placed("eu-shard-2", "t_t1__crm"),
        source_credentials: Some("aa01".into()),
        target: placed("de-shard-1", "t_t1__crm__de"),
    };
    let mut work = begin(store).await;
    work.insert_move(saga, &t1, &erp).await.unwrap();
    work.insert_move(saga, &t1, &crm).await.unwrap();
    work.commit().await.unwrap();
    let mut work = begin(store).await;
    assert!(
        work.insert_move(saga, &t1, &crm)
            .await
            .unwrap_err()
            .retryable
    );
    drop(work);

    let mut work = begin(store).await;
    assert_eq!(work.moves(saga).await.unwrap(), vec![crm, erp]);
    assert!(work.moves(other).await.unwrap().is_empty());
    work.delete_moves(other).await.unwrap();
    assert_eq!(work.moves(saga).await.unwrap().len(), 2);
    work.delete_moves(saga).await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert!(work.moves(saga).await.unwrap().is_empty());
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
