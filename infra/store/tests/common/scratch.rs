//! A PostgreSQL database of its own for one test, on the local stack's
//! server (`TENANTRY_DATABASE_URL`'s). Shared by several test crates, each
//! using part of it.
#![allow(dead_code)]

use sqlx::Connection;
use uuid::Uuid;

/// A fresh database, dropped (with any connection left to it) when this is
/// dropped, a failed test included — unless [`ScratchDatabase::keep`] says
/// otherwise.
pub struct ScratchDatabase {
    server: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates `tenantry_<prefix>_<uuid>`.
    pub async fn create(prefix: &str) -> Self {
        let url = std::env::var("TENANTRY_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tenantry".into());
        let server = url
            .rsplit_once('/')
            .map_or(url.clone(), |(s, _)| s.to_owned());
        let name = format!("tenantry_{prefix}_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("PostgreSQL reachable (infra/local/up)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Self { server, name }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Its URL; the database is left behind for a post-mortem (the next
    /// `infra/local/test` removes it).
    pub fn keep(self) -> String {
        let url = self.url();
        std::mem::forget(self);
        url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", self.server);
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot block on a
        // future: a thread with a runtime of its own does the work.
        let result = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&admin).await?;
                    sqlx::query(&drop).execute(&mut admin).await?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                })
        })
        .join();
        if !matches!(result, Ok(Ok(()))) {
            eprintln!("scratch database {} not dropped: {result:?}", self.name);
        }
    }
}
