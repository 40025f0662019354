//! Whether a Docker engine answers here ([`docker_answers`]), with the
//! standard library only, so the check and its tests build without the
//! `testcontainers` feature and run on machines without Docker.
//!
//! The engine is looked for where `testcontainers` 0.27 looks
//! ([`docker_endpoint`]): `DOCKER_HOST`, else the first socket file of
//! `/var/run/docker.sock`, `$XDG_RUNTIME_DIR/.docker/run/docker.sock`,
//! `$HOME/.docker/run/docker.sock`, `$HOME/.docker/desktop/docker.sock`.
//! It answers when `GET /_ping` there returns `200` within
//! [`PING_TIMEOUT`] (a socket file left by a stopped engine does not).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long [`docker_answers`] waits for the engine: to connect, and for its
/// answer.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the Docker engine's API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEndpoint {
    /// A Unix socket (`unix://PATH`, or one of the default socket files).
    Unix(PathBuf),
    /// Plain HTTP on `host:port` (`tcp://host:port` or `http://host:port`).
    Tcp(String),
}

/// Whether a Docker engine answers at [`docker_endpoint`] of this process's
/// environment: `GET /_ping` is `200` within [`PING_TIMEOUT`].
pub fn docker_answers() -> bool {
    let env = |name: &str| std::env::var(name).ok();
    docker_endpoint(&env, &|path| path.exists())
        .is_some_and(|endpoint| http_get_ok(&endpoint, "/_ping", PING_TIMEOUT))
}

/// Where `testcontainers` would reach the Docker engine, from the variables
/// `env` gives and the files `exists` sees; `None` when it cannot be reached
/// without TLS:
///
/// - `DOCKER_HOST` (non-empty): `unix://PATH`, or `tcp://` / `http://`
///   `host:port` unless `DOCKER_TLS_VERIFY` is `1` (the feature builds
///   `testcontainers` without a TLS provider); any other scheme (`ssh://`,
///   `npipe://`, `https://`) is `None`.
/// - else the first existing socket file of `/var/run/docker.sock`,
///   `$XDG_RUNTIME_DIR/.docker/run/docker.sock`,
///   `$HOME/.docker/run/docker.sock`, `$HOME/.docker/desktop/docker.sock`.
pub fn docker_endpoint(
    env: &impl Fn(&str) -> Option<String>,
    exists: &impl Fn(&Path) -> bool,
) -> Option<DockerEndpoint> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    if let Some(host) = set("DOCKER_HOST") {
        let host = host.trim();
        if let Some(path) = host.strip_prefix("unix://") {
            return Some(DockerEndpoint::Unix(path.into()));
        }
        let tls = set("DOCKER_TLS_VERIFY").is_some_and(|v| v.trim() == "1");
        let address = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))?;
        let address = address.trim_end_matches('/');
        return (!tls && !address.is_empty()).then(|| DockerEndpoint::Tcp(address.to_owned()));
    }
    let mut candidates = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(runtime) = set("XDG_RUNTIME_DIR") {
        candidates.push(Path::new(&runtime).join(".docker/run/docker.sock"));
    }
    if let Some(home) = set("HOME") {
        candidates.push(Path::new(&home).join(".docker/run/docker.sock"));
        candidates.push(Path::new(&home).join(".docker/desktop/docker.sock"));
    }
    candidates
        .into_iter()
        .find(|path| exists(path))
        .map(DockerEndpoint::Unix)
}

/// `GET path` over HTTP/1.0 at `endpoint` answers `200` within `timeout`
/// (to connect, and again to read the answer). Also used to wait for moto.
pub fn http_get_ok(endpoint: &DockerEndpoint, path: &str, timeout: Duration) -> bool {
    let answer = match endpoint {
        DockerEndpoint::Unix(socket) => unix_get(socket, path, timeout),
        DockerEndpoint::Tcp(address) => tcp_get(address, path, timeout),
    };
    answer.is_ok_and(|status| status == 200)
}

#[cfg(unix)]
fn unix_get(socket: &Path, path: &str, timeout: Duration) -> std::io::Result<u16> {
    // Connecting to a Unix socket does not wait: it is accepted or refused.
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    get(stream, path)
}

#[cfg(not(unix))]
fn unix_get(_socket: &Path, _path: &str, _timeout: Duration) -> std::io::Result<u16> {
    Err(std::io::ErrorKind::Unsupported.into())
}

fn tcp_get(address: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut last = std::io::Error::from(std::io::ErrorKind::AddrNotAvailable);
    for socket in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&socket, timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                return get(stream, path);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Sends `GET path` (HTTP/1.0: the server closes after its answer) and
/// returns the status code of the answer's first line.
fn get(mut stream: impl Read + Write, path: &str) -> std::io::Result<u16> {
    // One write: `write!` would send the pieces of its format one by one,
    // and a server that answers after the first piece and closes makes the
    // next piece fail (EPIPE) before the answer is read.
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    // The status line is all we need; read until it is complete.
    let mut head = Vec::new();
    let mut buffer = [0_u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    status_code(&head).ok_or_else(|| std::io::ErrorKind::InvalidData.into())
}

/// The status code of an HTTP answer's first line (`HTTP/1.1 200 OK`).
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn files(existing: &[&str]) -> impl Fn(&Path) -> bool + use<> {
        let existing: Vec<PathBuf> = existing.iter().map(PathBuf::from).collect();
        move |path| existing.iter().any(|p| p == path)
    }

    fn unix(path: &str) -> Option<DockerEndpoint> {
        Some(DockerEndpoint::Unix(path.into()))
    }

    #[test]
    fn docker_host_wins_over_socket_files() {
        let all = files(&["/var/run/docker.sock"]);
        assert_eq!(
            docker_endpoint(
                &env(&[("DOCKER_HOST", "unix:///run/user/1000/docker.sock")]),
                &all
            ),
            unix("/run/user/1000/docker.sock")
        );
        assert_eq!(
            docker_endpoint(&env(&[("DOCKER_HOST", "tcp://10.0.0.5:2375")]), &all),
            Some(DockerEndpoint::Tcp("10.0.0.5:2375".into()))
        );
        assert_eq!(
            docker_endpoint(&env(&[("DOCKER_HOST", "http://docker:2375/")]), &all),
            Some(DockerEndpoint::Tcp("docker:2375".into()))
        );
    }

    #[test]
    fn docker_host_that_needs_tls_or_another_transport_is_not_reachable() {
        let all = files(&["/var/run/docker.sock"]);
        let tls = env(&[
            ("DOCKER_HOST", "tcp://docker:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
        ]);
        assert_eq!(docker_endpoint(&tls, &all), None);
        for host in [
            "ssh://me@docker",
            "npipe:////./pipe/docker_engine",
            "https://d:2376",
            "tcp://",
        ] {
            assert_eq!(
                docker_endpoint(&env(&[("DOCKER_HOST", host)]), &all),
                None,
                "{host}"
            );
        }
    }

    #[test]
    fn without_docker_host_the_first_existing_socket_file_is_used() {
        let vars = env(&[("HOME", "/home/me"), ("XDG_RUNTIME_DIR", "/run/user/1000")]);
        assert_eq!(
            docker_endpoint(
                &vars,
                &files(&["/var/run/docker.sock", "/home/me/.docker/run/docker.sock"])
            ),
            unix("/var/run/docker.sock")
        );
        assert_eq!(
            docker_endpoint(&vars, &files(&["/run/user/1000/.docker/run/docker.sock"])),
            unix("/run/user/1000/.docker/run/docker.sock")
        );
        assert_eq!(
            docker_endpoint(&vars, &files(&["/home/me/.docker/desktop/docker.sock"])),
            unix("/home/me/.docker/desktop/docker.sock")
        );
        // An empty DOCKER_HOST counts as unset.
        let empty = env(&[("DOCKER_HOST", " "), ("HOME", "/home/me")]);
        assert_eq!(
            docker_endpoint(&empty, &files(&["/home/me/.docker/run/docker.sock"])),
            unix("/home/me/.docker/run/docker.sock")
        );
    }

    #[test]
    fn no_docker_host_and_no_socket_file_is_no_endpoint() {
        assert_eq!(
            docker_endpoint(&env(&[("HOME", "/home/me")]), &files(&[])),
            None
        );
    }

    #[test]
    fn status_code_reads_the_first_line() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\n"),
            Some(200)
        );
        assert_eq!(
            status_code(b"HTTP/1.0 500 Internal Server Error\r\n"),
            Some(500)
        );
        assert_eq!(status_code(b"SSH-2.0-OpenSSH_9.6\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    /// A one-connection HTTP server on a Unix socket in a temporary
    /// directory that answers `answer` (or closes at once when empty).
    #[cfg(unix)]
    fn fake_engine(answer: &'static str) -> (tempfile::TempDir, DockerEndpoint) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind socket");
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0_u8; 512];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (dir, DockerEndpoint::Unix(socket))
    }

    #[cfg(unix)]
    #[test]
    fn an_engine_that_answers_200_to_ping_answers() {
        let (_dir, endpoint) =
            fake_engine("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nApi-Version: 1.47\r\n\r\nOK");
        assert!(http_get_ok(&endpoint, "/_ping", PING_TIMEOUT));
    }

    #[cfg(unix)]
    #[test]
    fn an_engine_that_fails_or_hangs_up_does_not_answer() {
        let (_dir, endpoint) = fake_engine("HTTP/1.1 500 Internal Server Error\r\n\r\n");
        assert!(!http_get_ok(&endpoint, "/_ping", PING_TIMEOUT));
        let (_dir, endpoint) = fake_engine("");
        assert!(!http_get_ok(&endpoint, "/_ping", PING_TIMEOUT));
    }

    #[test]
    fn a_socket_file_without_an_engine_or_a_closed_port_does_not_answer() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let stale = DockerEndpoint::Unix(dir.path().join("docker.sock"));
        assert!(!http_get_ok(&stale, "/_ping", PING_TIMEOUT));
        // A port that was free a moment ago: nothing listens there.
        let closed = DockerEndpoint::Tcp(format!("127.0.0.1:{}", crate::env::free_port()));
        assert!(!http_get_ok(&closed, "/_ping", PING_TIMEOUT));
    }
}
