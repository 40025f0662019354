//! The tenant context store on DynamoDB (the AWS emulator of the local
//! stack): a projector writing to a table and a context API reading from
//! it, beside a stack whose own projector writes to PostgreSQL, serve the
//! same context.

use crate::support::{Stack, bootstrap, get_json, wait_for};
use std::sync::Arc;
use std::time::Duration;
use tenantry_dynamodb::{DynamoConfig, DynamoContexts};
use tenantry_kafka::KafkaConfig;
use tenantry_projector::ProjectorConfig;
use tenantry_sagas::TenantContexts;
use tenantry_schemas::Codec;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_context_projected_to_dynamodb_is_served_as_the_postgresql_one() {
    let stack = Stack::start().await;
    let table = format!("it-contexts-{}", stack.suffix);
    let dynamo = Arc::new(DynamoContexts::new(
        DynamoConfig::from_env(table).expect("AWS_* variables"),
    ));
    dynamo.ensure_table().await.unwrap();
    let contexts: Arc<dyn TenantContexts> = dynamo.clone();
    let projector = ProjectorConfig {
        kafka: KafkaConfig::new(bootstrap(), "it-projector-dynamodb"),
        topics: stack.topics.clone(),
        group_id: format!("it-projector-dynamodb-{}", stack.suffix),
        instance_id: None,
        codec: Arc::new(Codec::embedded()),
        changelog: tenantry_projector::Changelog::Publish,
    };
    let projected = tokio::spawn(tenantry_projector::run(
        projector,
        contexts.clone(),
        stack.shutdown.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(tenantry_context_api::serve_contexts(
        listener,
        contexts.clone(),
        None,
        stack.shutdown.clone(),
    ));

    stack
        .create_tenant("t1", "acme", "owner@acme.test", "DE")
        .await;
    let from_dynamodb = wait_for(Duration::from_secs(60), "context in DynamoDB", || async {
        let (status, body) = get_json(&format!("{api}/v1/tenants/t1/context")).await;
        (status == 200 && body["status"] == "active").then_some(body)
    })
    .await;
    // The two projectors run apart: either may be first.
    let from_postgres = wait_for(Duration::from_secs(60), "context in PostgreSQL", || async {
        let (status, body) = stack.get("/v1/tenants/t1/context").await;
        (status == 200 && body["status"] == "active").then_some(body)
    })
    .await;
    assert_eq!(from_dynamodb, from_postgres);
    let (status, by_host) = get_json(&format!("{api}/v1/sites/acme.tenantry.test/context")).await;
    assert_eq!(status, 200, "{by_host}");
    assert_eq!(by_host["tenant_id"], "t1");

    // `publish --wait` watches the context store `--context-store` names,
    // not the (here empty) SQL context database.
    let mut env = stack.env();
    env.push((
        "TENANTRY_CONTEXT_DATABASE_URL",
        crate::support::fresh_database().await,
    ));
    env.push(("TENANTRY_CONTEXT_STORE", "dynamodb".into()));
    env.push((
        "TENANTRY_DYNAMODB_TABLE",
        format!("it-contexts-{}", stack.suffix),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let published = crate::support::tenantry(
        &[
            "publish",
            "product_activated",
            "--tenant",
            "t1",
            "--sequence",
            "2",
            "--product",
            "jira",
            "--seats",
            "5",
            "--wait",
            "--wait-timeout",
            "30",
        ],
        &env,
    )
    .await;
    let stdout = String::from_utf8_lossy(&published.stdout);
    assert!(
        published.status.success() && stdout.contains("applied tenant=t1 sequence=2"),
        "{stdout}{}",
        String::from_utf8_lossy(&published.stderr)
    );

    stack.stop().await;
    let _ = (projected.await, served.await);
    dynamo.delete_table().await.unwrap();
}

/// `tenantry migrate` migrates the SQL store and creates the DynamoDB
/// context table; a second run finds both done and succeeds.
#[tokio::test]
async fn migrate_creates_the_context_table_once() {
    let database = crate::support::fresh_database().await;
    let table = format!("it-migrate-{}", uuid::Uuid::new_v4().simple());
    let args = [
        "migrate",
        "--database-url",
        database.as_str(),
        "--context-store",
        "dynamodb",
        "--dynamodb-table",
        table.as_str(),
    ];
    for run in 1..=2 {
        let output = crate::support::tenantry(&args, &[]).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "run {run}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("DynamoDB table {table} ready")),
            "{stdout}"
        );
    }
    let contexts = DynamoContexts::new(DynamoConfig::from_env(table).expect("AWS_* variables"));
    contexts.ping().await.expect("the table exists");
    contexts.delete_table().await.unwrap();
}
