//! A KMS stand-in that answers every request with one fixed error, to test
//! what moto cannot show: throttling (moto never throttles) and real KMS's
//! key-state errors (moto ignores key state on Decrypt and GenerateDataKey).

use std::sync::{Arc, Mutex};

use tenantry_keys::{KmsEndpoint, KmsKeyService, KmsSettings, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Duration;

/// The fake server: its `X-Amz-Target` log, one entry per request received.
pub struct FakeKms {
    pub targets: Arc<Mutex<Vec<String>>>,
    url: String,
}

impl FakeKms {
    /// Listens on 127.0.0.1 (a free port) and answers `400 {"__type": code}`
    /// (the AWS JSON 1.1 error shape) to every request.
    pub async fn start(code: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let targets = Arc::new(Mutex::new(Vec::new()));
        let log = targets.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, code, log.clone()));
            }
        });
        Self { targets, url }
    }

    /// A `KmsKeyService` on this server: `attempts` per call, 1–20 ms waits.
    pub fn service(&self, attempts: u32, check_key_state: bool) -> KmsKeyService {
        let endpoint = KmsEndpoint {
            region: "us-east-1".into(),
            account: tenantry_aws::AwsAccount {
                endpoint_url: Some(self.url.clone()),
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                session_token: None,
            },
        };
        let settings = KmsSettings {
            retry: RetryPolicy {
                max_attempts: attempts,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(20),
            },
            check_key_state,
            ..KmsSettings::default()
        };
        KmsKeyService::new(&endpoint, settings)
    }

    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

/// HTTP/1.1 with keep-alive: read a head and a `Content-Length` body, answer, repeat.
async fn serve(mut stream: TcpStream, code: &'static str, log: Arc<Mutex<Vec<String>>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(end) = read_until_head_end(&mut stream, &mut buffer).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines().find_map(|line| {
                line.strip_prefix(name)
                    .map(|v| v.trim_start_matches(':').trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        log.lock()
            .unwrap()
            .push(header("x-amz-target").unwrap_or_default());
        while buffer.len() < end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..end + length);
        let body = format!(r#"{{"__type":"{code}","message":"fake KMS says {code}"}}"#);
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\n\
             x-amzn-errortype: {code}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads until `\r\n\r\n`; returns the offset just past it, `None` on EOF.
async fn read_until_head_end(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}
