//! [`DatabaseRows`]: shards, product databases and their credentials, moves.

use super::*;

async fn shard_used(store: &Store, shard: &str) -> i64 {
    let (used,): (i64,) = sqlx::query_as("SELECT used FROM shards WHERE shard_id = $1")
        .bind(shard)
        .fetch_one(store.pool())
        .await
        .unwrap();
    used
}

pub(crate) async fn a_shard_is_filled_to_capacity_before_the_next_is_made(store: &Store) {
    let mut work = begin(store).await;
    assert_eq!(work.take_shard(Region::Eu).await.unwrap(), None);
    assert_eq!(work.next_shard(Region::Eu).await.unwrap(), "eu-shard-1");
    work.add_shard("eu-shard-1", Region::Eu, 2).await.unwrap();
    assert_eq!(
        work.take_shard(Region::Eu).await.unwrap().as_deref(),
        Some("eu-shard-1")
    );
    assert_eq!(work.take_shard(Region::Eu).await.unwrap(), None);
    assert_eq!(work.next_shard(Region::Eu).await.unwrap(), "eu-shard-2");
    work.add_shard("eu-shard-2", Region::Eu, 2).await.unwrap();
    // Another region counts its own shards.
    assert_eq!(work.next_shard(Region::De).await.unwrap(), "de-shard-1");
    work.add_shard("de-shard-1", Region::De, 2).await.unwrap();
    // A second worker adding the same shard counts its database there.
    work.add_shard("de-shard-1", Region::De, 2).await.unwrap();
    assert_eq!(work.next_shard(Region::De).await.unwrap(), "de-shard-2");
    assert_eq!(
        work.shard_region("eu-shard-2").await.unwrap().as_deref(),
        Some("eu")
    );
    assert_eq!(work.shard_region("us-shard-1").await.unwrap(), None);
    work.commit().await.unwrap();
    assert_eq!(shard_used(store, "eu-shard-1").await, 2);
    assert_eq!(shard_used(store, "eu-shard-2").await, 1);
    assert_eq!(shard_used(store, "de-shard-1").await, 2);
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
    assert_eq!(
        work.take_shard(Region::Eu).await.unwrap().as_deref(),
        Some("eu-shard-1")
    );
    work.add_shard_usage("eu-shard-2", 3).await.unwrap();
    work.commit().await.unwrap();
    assert_eq!(shard_used(store, "eu-shard-1").await, 2);
    assert_eq!(shard_used(store, "eu-shard-2").await, 4);
}

pub(crate) async fn product_databases_keep_their_first_credentials_and_follow_a_point(
    store: &Store,
) {
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
    DatabaseRows::store_credentials(&mut work, "t_t1__crm", "aa01")
        .await
        .unwrap();
    DatabaseRows::store_credentials(&mut work, "t_t1__crm", "bb02")
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

pub(crate) async fn product_databases_are_schemas_in_the_transaction_on_postgres_only(
    store: &Store,
) {
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

pub(crate) async fn database_moves_are_read_back_by_product(store: &Store) {
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
