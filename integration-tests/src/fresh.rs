//! A fresh database and fresh topics for every test, so tests run in parallel
//! against one stack without seeing each other's data. Both are left behind
//! for a failed test's post-mortem and removed by the next `infra/local/test`
//! (which matches the names made here: `tenantry_it_<32 hex>`, topics ending
//! in `-<12 hex>`).

use crate::env::{bootstrap, server_url};
use sqlx::Connection;
use tenantry_kafka::{KafkaConfig, ensure_topics};
use tenantry_schemas::Topics;
use uuid::Uuid;

/// Creates an empty database `tenantry_it_<uuid>` on the shared server
/// ([`server_url`]) and returns its URL.
pub async fn fresh_database() -> String {
    fresh_database_on(&server_url()).await
}

/// Creates an empty database `tenantry_it_<uuid>` on the server at `server`
/// (`postgres://user@host:port`, no database) and returns its URL.
///
/// Panics with a hint when the server is unreachable.
pub async fn fresh_database_on(server: &str) -> String {
    let name = format!("tenantry_it_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {server} is reachable (run infra/local/up): {e}")
        });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    admin.close().await.ok();
    format!("{server}/{name}")
}

/// Fresh topics on the shared broker ([`bootstrap`]): a unique suffix and
/// the topic names with it, created.
pub async fn fresh_topics() -> (String, Topics) {
    fresh_topics_on(&bootstrap()).await
}

/// Fresh topics on the broker at `bootstrap`: a unique 12-character suffix
/// and [`Topics::with_suffix`] of it, each topic created with its partition
/// count ([`Topics::with_partitions`]).
pub async fn fresh_topics_on(bootstrap: &str) -> (String, Topics) {
    let suffix = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let topics = Topics::with_suffix(&suffix);
    ensure_topics(
        &KafkaConfig::new(bootstrap, "tenantry-it"),
        &topics.with_partitions(),
    )
    .await
    .unwrap_or_else(|e| panic!("broker {bootstrap} is reachable (run infra/local/up): {e}"));
    (suffix, topics)
}
