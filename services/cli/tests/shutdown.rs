//! A service shuts down on SIGTERM even when its stderr is a pipe nobody
//! reads any more (`tenantry context-api 2>&1 | head -1`). Needs no local
//! stack: a SQLite context store, no cache (no Kafka client at all).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tenantry");

#[test]
fn a_service_whose_stderr_pipe_is_closed_still_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let store = format!("sqlite://{}", dir.path().join("contexts.db").display());
    let mut child = Command::new(BIN)
        .args([
            "context-api",
            "--context-database-url",
            &store,
            "--cache-mib",
            "0",
            "--listen",
            &address,
            "--log",
            "debug",
        ])
        .env_remove("TENANTRY_API_JWT_SECRET")
        .env_remove("TENANTRY_API_JWKS_FILES")
        .env_remove("TENANTRY_API_JWKS_URL")
        .env_remove("TENANTRY_API_ALLOW")
        .env_remove("TENANTRY_CONTEXT_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads stderr from here on: every later log line fails to write.
    drop(child.stderr.take());
    let started = Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "context-api did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "stopped with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("context-api still running 20 s after SIGTERM with a closed stderr");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
