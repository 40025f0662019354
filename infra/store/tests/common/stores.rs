//! Fresh stores for the suites that run on both SQL backends, each removed
//! with its value. The including test crate declares `mod scratch` (this
//! directory's `scratch.rs`) at its root.

use crate::scratch::ScratchDatabase;
use tenantry_store::Store;

/// A store on a fresh PostgreSQL database, dropped with this value.
pub(crate) struct Postgres {
    // Declared first: the pool closes before the database is dropped.
    pub(crate) store: Store,
    _database: ScratchDatabase,
}

impl Postgres {
    /// A database named after `suite` on the local stack's server.
    pub(crate) async fn new(suite: &str) -> Self {
        let database = ScratchDatabase::create(suite).await;
        let store = Store::connect(&database.url(), 4).await.unwrap();
        Self {
            store,
            _database: database,
        }
    }
}

/// A store on a SQLite file in a temporary directory, removed with this value.
pub(crate) struct Sqlite {
    pub(crate) store: Store,
    _dir: tempfile::TempDir,
}

impl Sqlite {
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::connect(&format!("sqlite://{}", path.display()), 1)
            .await
            .unwrap();
        Self { store, _dir: dir }
    }
}
