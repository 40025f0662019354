//! The three stores under test (the contexts they write are in `fixtures.rs`).
//!
//! PostgreSQL: a fresh database per test on `TENANTRY_DATABASE_URL`'s
//! server, dropped (`WITH (FORCE)`) when the test ends, passed or failed.
//! SQLite: a file in a temporary directory. Memory: a new [`MemoryContexts`].
//!
//! [`MemoryContexts`]: tenantry_store::memory::MemoryContexts

use crate::scratch::ScratchDatabase;
use tenantry_store::Store;

/// A fresh PostgreSQL database, dropped with this value.
pub(crate) struct Postgres {
    // Declared first: the pool closes before the database is dropped.
    pub(crate) store: Store,
    _database: ScratchDatabase,
}

impl Postgres {
    pub(crate) async fn new() -> Self {
        let database = ScratchDatabase::create("contexts").await;
        let store = Store::connect(&database.url(), 4).await.unwrap();
        Self {
            store,
            _database: database,
        }
    }
}

/// A SQLite file in a temporary directory, removed with this value.
pub(crate) struct Sqlite {
    pub(crate) store: Store,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contexts.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()), 1)
            .await
            .unwrap();
        Self { store, _dir: dir }
    }
}

/// Runs each named test (`module::test`, taking `Arc<dyn TenantContexts>`)
/// against PostgreSQL, SQLite and memory, as `postgres::<test>`,
/// `sqlite::<test>` and `memory::<test>`, on a multi-threaded runtime so
/// spawned writers run at once.
macro_rules! conformance {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let backend = crate::harness::Postgres::new().await;
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
