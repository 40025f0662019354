//! Data residency: a pin set on an existing tenant (`residency_pinned`)
//! starts the move saga — new database in the pinned region, copy, switch the
//! context, retire the old one — and a failed copy is compensated, leaving the
//! tenant where it was.

use crate::support::{Stack, wait_for, wait_for_product};
use std::time::Duration;
use tenantry_store::product_db::ProductDatabases;

/// Creates tenant `tenant` (users in the US, so unpinned it lives in `us`)
/// with Jira active, writes one row into Jira's database and returns that
/// database's name.
async fn us_tenant_with_data(stack: &Stack, tenant: &str, site: &str) -> String {
    stack
        .create_tenant(tenant, site, "ada@acme.test", "US")
        .await;
    stack.activate(tenant, 2, "jira").await;
    let ctx = wait_for_product(&stack.api, tenant, "jira", "active").await;
    assert_eq!(ctx["region"]["code"], "us");
    assert_eq!(ctx["region"]["pinned"], false);
    let database = ctx["products"]["jira"]["database"]
        .as_str()
        .unwrap()
        .to_owned();
    sqlx::raw_sql(&format!(
        "CREATE TABLE \"{database}\".counters (key TEXT PRIMARY KEY, value TEXT NOT NULL); \
         INSERT INTO \"{database}\".counters (key, value) VALUES ('issues', '42')"
    ))
    .execute(stack.store.pool())
    .await
    .unwrap();
    database
}

/// Product databases counted on the shards of `region`.
async fn shards_used(stack: &Stack, region: &str) -> i64 {
    stack
        .count(&format!(
            "SELECT CAST(COALESCE(SUM(used), 0) AS BIGINT) FROM shards WHERE region = '{region}'"
        ))
        .await
}

async fn pin(stack: &Stack, tenant: &str, region: &str) {
    stack
        .publish(&[
            "residency_pinned",
            "--tenant",
            tenant,
            "--sequence",
            "3",
            "--residency-pin",
            region,
        ])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_later_pin_moves_the_data_switches_the_context_and_retires_the_old_database() {
    let stack = Stack::start().await;
    let source = us_tenant_with_data(&stack, "t1", "acme").await;
    pin(&stack, "t1", "ch").await;

    let ctx = wait_for(Duration::from_secs(60), "t1 moved to ch", || async {
        let (_, ctx) = stack.get("/v1/tenants/t1/context").await;
        (ctx["region"]["code"] == "ch").then_some(ctx)
    })
    .await;
    assert_eq!(ctx["region"]["pinned"], true);
    assert_eq!(ctx["region"]["moving_to"], serde_json::Value::Null);
    assert_eq!(ctx["products"]["jira"]["state"], "active");
    let target = ctx["products"]["jira"]["database"].as_str().unwrap();
    let shard = ctx["products"]["jira"]["shard"].as_str().unwrap();
    assert_ne!(target, source);
    assert!(shard.starts_with("ch-shard-"), "{shard}");

    // The data moved; the old database is gone.
    let (value,): (String,) = sqlx::query_as(&format!(
        "SELECT value FROM \"{target}\".counters WHERE key = 'issues'"
    ))
    .fetch_one(stack.store.pool())
    .await
    .expect("copied row");
    assert_eq!(value, "42");
    let databases = ProductDatabases::PostgresSchemas(stack.store.pool().clone());
    assert!(!databases.exists(&source).await.unwrap(), "source retired");

    // Bookkeeping follows: placement, product database, shard counts, and
    // new sealed credentials for the new database.
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM placements WHERE tenant_id = 't1' AND region = 'ch' AND pinned = 1")
            .await,
        1
    );
    assert_eq!(
        stack
            .count(&format!(
                "SELECT COUNT(*) FROM product_databases WHERE database_name = '{target}' \
                 AND shard_id = '{shard}' AND credentials IS NOT NULL"
            ))
            .await,
        1
    );
    assert_eq!(shards_used(&stack, "us").await, 0);
    assert_eq!(shards_used(&stack, "ch").await, 1);
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM sagas WHERE kind = 'move_tenant' AND status = 'completed'")
            .await,
        1
    );

    // The same pin again is a no-op: no second move.
    stack
        .publish(&[
            "residency_pinned",
            "--tenant",
            "t1",
            "--sequence",
            "4",
            "--residency-pin",
            "ch",
        ])
        .await;
    wait_for(Duration::from_secs(30), "commerce sequence 4", || async {
        let (_, ctx) = stack.get("/v1/tenants/t1/context").await;
        (ctx["version"]["commerce_sequence"] == 4).then_some(())
    })
    .await;
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM sagas WHERE kind = 'move_tenant'")
            .await,
        1
    );

    // Replay into an empty store equals the live projection.
    stack.assert_replay_equals_live("t1").await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_copy_is_compensated_and_the_tenant_stays_where_it_was() {
    let stack = Stack::start().await;
    let source = us_tenant_with_data(&stack, "t2", "globex").await;
    // The source database is lost before the move: the copy fails permanently.
    sqlx::raw_sql(&format!("DROP SCHEMA \"{source}\" CASCADE"))
        .execute(stack.store.pool())
        .await
        .unwrap();
    pin(&stack, "t2", "ch").await;

    stack
        .until(
            "move saga failed",
            "SELECT COUNT(*) FROM sagas WHERE kind = 'move_tenant' AND status = 'failed'",
            1,
        )
        .await;
    let ctx = wait_for(
        Duration::from_secs(30),
        "failure in the context",
        || async {
            let (_, ctx) = stack.get("/v1/tenants/t2/context").await;
            ctx["last_failure"].is_string().then_some(ctx)
        },
    )
    .await;
    let failure = ctx["last_failure"].as_str().unwrap();
    assert!(
        failure.contains("copy_data") && failure.contains("does not exist"),
        "{failure}"
    );
    // Still in the US, still pointing at the source; the move is pending.
    assert_eq!(ctx["region"]["code"], "us");
    assert_eq!(ctx["region"]["pinned"], false);
    assert_eq!(ctx["region"]["moving_to"], "ch");
    assert_eq!(ctx["products"]["jira"]["database"], source.as_str());
    // Compensation left nothing behind: no target database, no move rows,
    // no shard capacity taken in ch, placement unchanged.
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 't_t2__jira__%'")
            .await,
        0
    );
    assert_eq!(stack.count("SELECT COUNT(*) FROM database_moves").await, 0);
    assert_eq!(shards_used(&stack, "ch").await, 0);
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM placements WHERE tenant_id = 't2' AND region = 'us' AND pinned = 0")
            .await,
        1
    );
    assert_eq!(
        stack
            .count(&format!(
                "SELECT COUNT(*) FROM product_databases WHERE database_name = '{source}'"
            ))
            .await,
        1
    );
    // The tenant is parked for an operator, like any failed saga (D4).
    stack
        .until(
            "t2 parked",
            "SELECT COUNT(*) FROM parked_tenants WHERE tenant_id = 't2'",
            1,
        )
        .await;
    stack.stop().await;
}
