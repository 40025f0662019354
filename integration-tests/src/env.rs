//! Where the local stack and the binaries are, from the variables
//! `infra/local/env` exports; each falls back to the address `infra/local/up`
//! uses, so a test run from an IDE without the env still finds the stack.

use std::path::PathBuf;

/// Site domain the tests give the services (RFC 2606 `.test` TLD).
pub const DOMAIN: &str = "tenantry.test";

/// The shared Kafka-API broker: `TENANTRY_BOOTSTRAP`, default `127.0.0.1:9092`.
pub fn bootstrap() -> String {
    std::env::var("TENANTRY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The shared PostgreSQL server without a database name:
/// `TENANTRY_DATABASE_URL` up to its last `/`, default
/// `postgres://postgres@127.0.0.1:5432`.
pub fn server_url() -> String {
    let url = std::env::var("TENANTRY_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tenantry".into());
    match url.rsplit_once('/') {
        Some((server, _)) => server.to_owned(),
        None => url,
    }
}

/// The `tenantry` binary: `TENANTRY_BIN`, else `tenantry` beside the test
/// executable's `deps/` directory (`target/debug/tenantry`).
pub fn tenantry_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TENANTRY_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("tenantry"))
        .expect("target dir")
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
/// it, release it). Another process may take it before the caller binds it;
/// the caller's readiness check then fails with the port in its message.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind 127.0.0.1:0")
}
