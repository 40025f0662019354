//! The three stores under test (the contexts they write are in `fixtures.rs`).
//!
//! PostgreSQL: a fresh database per test on `TENANTRY_DATABASE_URL`'s
//! server, dropped (`WITH (FORCE)`) when the test ends, passed or failed.
//! SQLite: a file in a temporary directory. Memory: a new [`MemoryContexts`].
//!
//! [`MemoryContexts`]: tenantry_store::memory::MemoryContexts

pub(crate) use crate::stores::{Postgres, Sqlite};

/// Runs each named test (`module::test`, taking `Arc<dyn TenantContexts>`)
/// against PostgreSQL, SQLite and memory, as `postgres::<test>`,
/// `sqlite::<test>` and `memory::<test>`, on a multi-threaded runtime so
/// spawned writers run at once.
macro_rules! conformance {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let backend = crate::harness::Postgres::new("contexts").await;
                crate::$module::$test(std::sync::Arc::new(
                    tenantry_store::ContextStore::new(backend.store.clone()),
                ))
                .await;
            })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let backend = crate::harness::Sqlite::new().await;
                crate::$module::$test(std::sync::Arc::new(
                    tenantry_store::ContextStore::new(backend.store.clone()),
                ))
                .await;
            })*
        }
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                crate::$module::$test(std::sync::Arc::new(
                    tenantry_store::memory::MemoryContexts::new(),
                ))
                .await;
            })*
        }
    };
}
pub(crate) use conformance;
