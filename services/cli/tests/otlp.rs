//! `--otlp-endpoint` reaches the exporter: the context API, given a
//! collector address, exports its request span there over OTLP/gRPC (at the
//! latest when it stops, which flushes the batch). The collector here is a
//! plain TCP listener that checks the HTTP/2 connection preface gRPC opens
//! with (RFC 9113 §3.4). Needs no local stack: a SQLite context store and no
//! cache.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tenantry");

/// The first bytes of every HTTP/2 connection (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn a_service_exports_its_spans_to_the_otlp_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    collector.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let address = free_address();
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
            "--otlp-endpoint",
            &endpoint,
        ])
        .env_remove("TENANTRY_API_JWT_SECRET")
        .env_remove("TENANTRY_API_JWKS_FILES")
        .env_remove("TENANTRY_API_JWKS_URL")
        .env_remove("TENANTRY_API_ALLOW")
        .env_remove("TENANTRY_CONTEXT_STORE")
        .env_remove("OTEL_SERVICE_NAME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut api = loop {
        match TcpStream::connect(&address) {
            Ok(stream) => break stream,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => panic!("context-api did not listen: {error}"),
        }
    };
    // One request: one span to export.
    api.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    api.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut connection = loop {
        match collector.accept() {
            Ok((stream, _)) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => {
                let _ = child.kill();
                panic!("no OTLP connection to the collector within 20 s: {error}");
            }
        }
    };
    connection.set_nonblocking(false).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut preface = vec![0; PREFACE.len()];
    connection.read_exact(&mut preface).unwrap();
    assert_eq!(preface, PREFACE);
    drop(connection);

    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "stopped with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("context-api still running 20 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
