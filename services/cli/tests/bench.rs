//! The small forms of `tenantry bench kms` and `tenantry bench contexts`
//! against the local stack (`. infra/local/env`: moto at
//! `AWS_ENDPOINT_URL`, PostgreSQL at `TENANTRY_DATABASE_URL`), holding
//! their counts to what the code under measure must do.

use sqlx::Connection;
use tenantry_cli::bench::contexts::{self, ContextsArgs, report::Op};
use tenantry_cli::bench::kms::{self, KmsArgs};
use tenantry_keys::KmsEndpoint;
use tenantry_sagas::TenantContexts;

fn endpoint() -> KmsEndpoint {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "these tests run against moto: `. infra/local/env` and `infra/local/up` first"
    );
    KmsEndpoint::from_env().expect("AWS settings from infra/local/env")
}

fn database_url() -> String {
    std::env::var("TENANTRY_DATABASE_URL")
        .expect("TENANTRY_DATABASE_URL: `. infra/local/env` and `infra/local/up` first")
}

/// Under the default limits the run is one usage window: one
/// `GenerateDataKey` (and the `DescribeKey` of the key-state check before
/// it) per tenant, however many seals. Without the cache there would be one
/// per seal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seals_cost_one_generate_data_key_per_tenant() {
    let args = KmsArgs {
        tenants: 5,
        seals: 200,
        opens: 20,
        concurrency: 16,
        ..KmsArgs::default()
    };
    let report = kms::measure(&endpoint(), &args).await.unwrap();
    let seal = &report.seal.calls;
    assert_eq!(report.generate_data_key_calls(), 5, "{report}");
    assert_eq!(report.service_generate_data_key_calls, 5, "{report}");
    assert_eq!(seal.calls("DescribeKey"), 5, "{report}");
    assert_eq!((seal.total(), seal.errors()), (10, 0), "{report}");
    assert_eq!(report.windows(), 5);
    assert!(report.goal_met(), "{report}");
    assert_eq!(report.seal.latencies.as_ref().map(|h| h.len()), Some(200));

    let create = &report.create.calls;
    for operation in ["DescribeKey", "CreateKey", "CreateAlias"] {
        assert_eq!(create.calls(operation), 5, "{operation}: {report}");
    }
    let open = report.open.as_ref().expect("an open phase");
    assert_eq!(open.calls.calls("Decrypt"), 20, "{report}");
    assert_eq!(report.cleanup.calls("ScheduleKeyDeletion"), 5, "{report}");
}

/// A data key retired after 30 seals: 100 seals per tenant need 4 keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_data_key_is_generated_per_usage_window() {
    let args = KmsArgs {
        tenants: 5,
        seals: 500,
        opens: 0,
        concurrency: 16,
        max_seals: Some(30),
        ..KmsArgs::default()
    };
    let report = kms::measure(&endpoint(), &args).await.unwrap();
    assert_eq!(report.windows(), 20);
    assert_eq!(report.generate_data_key_calls(), 20, "{report}");
    assert_eq!(report.service_generate_data_key_calls, 20, "{report}");
    assert!(report.goal_met(), "{report}");
    assert!(report.open.is_none());
}

/// Every phase handles every context on both stores (the bench checks
/// each write landed and each read found what was written), and both
/// stores are gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_context_stores_write_and_read_every_context_then_are_removed() {
    endpoint();
    let url = database_url();
    let args = ContextsArgs {
        contexts: 50,
        batch: 10,
        concurrency: 4,
        ..ContextsArgs::default()
    };
    let report = contexts::measure(&url, &args).await.unwrap();
    for op in Op::ALL {
        for store in ["PostgreSQL", "DynamoDB"] {
            let figures = report
                .get(op, store)
                .unwrap_or_else(|| panic!("{store} {}: {report}", op.name()));
            assert_eq!(figures.contexts, 50, "{store} {}: {report}", op.name());
            if store == "PostgreSQL" {
                assert_eq!(figures.rewritten, 0, "{}: {report}", op.name());
            }
            let operations = match op {
                Op::Insert | Op::Update => 5,
                Op::GetByTenant | Op::GetByHost => 50,
            };
            assert_eq!(figures.latencies.len(), operations, "{store} {}", op.name());
        }
        assert!(report.ratio(op).is_some(), "{}", op.name());
    }

    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&report.database)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "database {} left behind", report.database);
    let config = tenantry_dynamodb::DynamoConfig::from_env(report.table.clone()).unwrap();
    let table = tenantry_dynamodb::DynamoContexts::new(config);
    assert!(
        table.ping().await.is_err(),
        "table {} left behind",
        report.table
    );
}
