//! The stack in containers (feature `testcontainers`): PostgreSQL, Apache
//! Kafka and moto, started once per test process when
//! [`crate::env::selected_stack`] is [`crate::env::StackSource::Containers`]
//! and kept until the process ends.
//!
//! | service | image | as the local stack |
//! |---|---|---|
//! | PostgreSQL | official `postgres` ([`POSTGRES_TAG`]) | superuser `postgres`, trust auth, database `tenantry`, locale `C.UTF-8`, `max_connections` 300; no `pg_stat_statements` |
//! | Apache Kafka | official `apache/kafka` ([`KAFKA_TAG`], the version of `infra/local/pom.xml`) | one KRaft node (broker and controller), listener advertised on `127.0.0.1:<mapped port>`, topics only created explicitly, replication factor 1 |
//! | moto | `motoserver/moto` ([`MOTO_TAG`], the version `infra/local/up` installs) | ready when `/moto-api/data.json` answers |
//!
//! **Why a thread of its own.** [`crate::env::bootstrap`] and
//! [`crate::env::server_url`] are synchronous and called everywhere in the
//! tests, often inside a `#[tokio::test]` runtime, where blocking on another
//! future panics; and each test's runtime ends with its test, taking along
//! whatever was started on it. So the first call of [`stack`] starts a
//! thread with a runtime of its own, which starts the containers, hands back
//! their addresses and then waits for the rest of the process, holding the
//! containers' handles. Callers block (a `std::sync::OnceLock`) until the
//! addresses are there; later calls return at once. An async
//! `ensure_stack()` each test awaits first was the alternative; it would
//! have meant changing every test and still needed a runtime that outlives
//! the tests.
//!
//! **Removal.** A `static` is never dropped, so the containers' own
//! remove-on-drop never runs. They carry the label
//! `org.tenantry.it.session=<uuid>` and, unless
//! `TESTCONTAINERS_RYUK_DISABLED=true`, the process first starts
//! `testcontainers/ryuk` (as testcontainers does in Java and Go) and keeps a
//! connection to it open: about 10 s after the process ends, and that
//! connection with it, Ryuk removes every container with the label, then
//! itself. Without Ryuk (disabled, Docker reached over TCP, or Ryuk failed to
//! start, which is reported on stderr) remove them with `docker rm -f $(docker
//! ps -aq --filter label=org.tenantry.it.session)`.
//!
//! The Kafka listener is advertised on `127.0.0.1`, so Docker must run on
//! this host (a local or rootless engine, Docker Desktop), not behind a
//! remote `DOCKER_HOST`.

use crate::docker::{DockerEndpoint, http_get_ok};
use sqlx::Connection;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use testcontainers_modules::kafka::apache::{KAFKA_PORT, Kafka};
use testcontainers_modules::postgres::Postgres;

/// `postgres` image tag: the major version of the local stack's server
/// (Debian's `postgresql` package), on the same Debian release.
pub const POSTGRES_TAG: &str = "15-bookworm";
/// `apache/kafka` image tag: `kafka.version` of `infra/local/pom.xml`.
pub const KAFKA_TAG: &str = "4.1.1";
/// `motoserver/moto` image tag: `MOTO_VERSION` of `infra/local/up`.
pub const MOTO_TAG: &str = "5.2.5";
/// `testcontainers/ryuk` image tag.
pub const RYUK_TAG: &str = "0.14.0";
/// Label on every container this process starts; its value is the session.
pub const SESSION_LABEL: &str = "org.tenantry.it.session";

/// How long one container may take to be ready once created (image pulls
/// come before and do not count).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// The addresses of the containers this process started.
#[derive(Debug, Clone)]
pub struct ContainerStack {
    /// Kafka `bootstrap.servers`: `127.0.0.1:<port>`.
    pub bootstrap: String,
    /// PostgreSQL without a database: `postgres://postgres@<host>:<port>`.
    pub server_url: String,
    /// moto: `http://<host>:<port>`.
    pub aws_endpoint_url: String,
    /// The value of [`SESSION_LABEL`] on this process's containers.
    pub session: String,
}

/// The containers of this process, started at the first call (on a thread
/// of their own, see the module's documentation) and kept until it ends.
///
/// Panics, at this call and every later one, when they could not be
/// started; the message says what failed.
pub fn stack() -> &'static ContainerStack {
    static STACK: OnceLock<Result<ContainerStack, String>> = OnceLock::new();
    match STACK.get_or_init(start_on_own_thread) {
        Ok(stack) => stack,
        Err(e) => panic!("testcontainers: the stack did not start: {e}"),
    }
}

/// Starts the thread that starts and then holds the containers; returns
/// their addresses once they are ready.
fn start_on_own_thread() -> Result<ContainerStack, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tenantry-it-containers".into())
        .spawn(move || {
            // Multi-threaded: a container dropped on it (those of a failed
            // start) is removed with `block_in_place`, while the Docker
            // client's connections keep being driven on its workers.
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("tenantry-it-containers-rt")
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = sender.send(Err(format!("tokio runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let session = uuid::Uuid::new_v4().simple().to_string();
                let reaper = start_reaper(&session).await;
                match start_services(&session).await {
                    Ok((stack, services)) => {
                        eprintln!(
                            "tenantry-integration-tests: stack in containers (session \
                             {session}): Kafka {}, PostgreSQL {}, moto {}",
                            stack.bootstrap, stack.server_url, stack.aws_endpoint_url
                        );
                        let _ = sender.send(Ok(stack));
                        // Hold the containers and the reaper's connection
                        // until the process ends.
                        let _held = (services, reaper);
                        std::future::pending::<()>().await;
                    }
                    // What did start is dropped, so removed, here.
                    Err(e) => {
                        let _ = sender.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| format!("spawn the containers' thread: {e}"))?;
    receiver
        .recv()
        .map_err(|_| "the containers' thread ended without an answer".to_owned())?
}

/// The containers of one process, held so they are not removed.
struct Services {
    _postgres: ContainerAsync<Postgres>,
    _kafka: ContainerAsync<Kafka>,
    _moto: ContainerAsync<GenericImage>,
}

/// Starts the three services at once and waits until each is ready.
async fn start_services(session: &str) -> Result<(ContainerStack, Services), String> {
    let ((postgres, server_url), (kafka, bootstrap), (moto, aws_endpoint_url)) = tokio::try_join!(
        start_postgres(session),
        start_kafka(session),
        start_moto(session)
    )?;
    let stack = ContainerStack {
        bootstrap,
        server_url,
        aws_endpoint_url,
        session: session.to_owned(),
    };
    let services = Services {
        _postgres: postgres,
        _kafka: kafka,
        _moto: moto,
    };
    Ok((stack, services))
}

async fn start_postgres(session: &str) -> Result<(ContainerAsync<Postgres>, String), String> {
    let container = Postgres::default()
        .with_host_auth()
        .with_db_name("tenantry")
        .with_tag(POSTGRES_TAG)
        .with_env_var("POSTGRES_INITDB_ARGS", "--locale=C.UTF-8 --encoding=UTF8")
        // Replaces the module's command (`-c fsync=off`), keeping it.
        .with_cmd(["-c", "fsync=off", "-c", "max_connections=300"])
        .with_label(SESSION_LABEL, session)
        .with_startup_timeout(STARTUP_TIMEOUT)
        .start()
        .await
        .map_err(|e| format!("PostgreSQL (postgres:{POSTGRES_TAG}): {e}"))?;
    let host = host_of(&container).await?;
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .map_err(|e| format!("PostgreSQL port: {e}"))?;
    let server = format!("postgres://postgres@{host}:{port}");
    // The image's log says "ready" once for its init server too; ready is
    // when the final server takes a connection to `tenantry`.
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        match sqlx::PgConnection::connect(&format!("{server}/tenantry")).await {
            Ok(connection) => {
                let _ = connection.close().await;
                break;
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("PostgreSQL at {server} did not answer: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Ok((container, server))
}

async fn start_kafka(session: &str) -> Result<(ContainerAsync<Kafka>, String), String> {
    // The module runs one KRaft node (broker and controller) and advertises
    // its PLAINTEXT listener on 127.0.0.1:<mapped port> once the port is
    // known; these settings make it the broker `infra/local/kafka-node`
    // configures for one node.
    let settings = [
        ("KAFKA_NODE_ID", "1"),
        ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"),
        ("KAFKA_NUM_PARTITIONS", "3"),
        ("KAFKA_DEFAULT_REPLICATION_FACTOR", "1"),
        ("KAFKA_MIN_INSYNC_REPLICAS", "1"),
        ("KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS", "10"),
        ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
        ("KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS", "10"),
        (
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
            "1",
        ),
        ("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "1"),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
        ("KAFKA_HEAP_OPTS", "-Xmx512m -Xms512m"),
    ];
    let mut request = Kafka::default()
        .with_jvm_image()
        .with_tag(KAFKA_TAG)
        .with_label(SESSION_LABEL, session)
        .with_startup_timeout(STARTUP_TIMEOUT);
    for (name, value) in settings {
        request = request.with_env_var(name, value);
    }
    let container = request
        .start()
        .await
        .map_err(|e| format!("Kafka (apache/kafka:{KAFKA_TAG}): {e}"))?;
    let port = container
        .get_host_port_ipv4(KAFKA_PORT)
        .await
        .map_err(|e| format!("Kafka port: {e}"))?;
    Ok((container, format!("127.0.0.1:{port}")))
}

async fn start_moto(session: &str) -> Result<(ContainerAsync<GenericImage>, String), String> {
    let container = GenericImage::new("motoserver/moto", MOTO_TAG)
        .with_exposed_port(5000.tcp())
        .with_label(SESSION_LABEL, session)
        .with_startup_timeout(STARTUP_TIMEOUT)
        .start()
        .await
        .map_err(|e| format!("moto (motoserver/moto:{MOTO_TAG}): {e}"))?;
    let host = host_of(&container).await?;
    let port = container
        .get_host_port_ipv4(5000)
        .await
        .map_err(|e| format!("moto port: {e}"))?;
    // Ready when its API answers, as `infra/local/up` checks the local one
    // (the published port accepts connections before moto listens).
    let endpoint = DockerEndpoint::Tcp(format!("{host}:{port}"));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let probe = endpoint.clone();
        let answers = tokio::task::spawn_blocking(move || {
            http_get_ok(&probe, "/moto-api/data.json", Duration::from_secs(2))
        })
        .await
        .unwrap_or(false);
        if answers {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "moto at {host}:{port} did not answer within {STARTUP_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((container, format!("http://{host}:{port}")))
}

/// The host the container's mapped ports are on; `127.0.0.1` for a local
/// engine (not `localhost`, which may resolve to `::1` first).
async fn host_of<I: testcontainers::Image>(
    container: &ContainerAsync<I>,
) -> Result<String, String> {
    let host = container
        .get_host()
        .await
        .map_err(|e| format!("container host: {e}"))?
        .to_string();
    Ok(if host == "localhost" {
        "127.0.0.1".into()
    } else {
        host
    })
}

/// Ryuk and the open connection that keeps it from removing this session's
/// containers.
struct Reaper {
    _container: ContainerAsync<GenericImage>,
    _connection: TcpStream,
}

/// Starts Ryuk for `session` and registers the session's label with it;
/// `None` (with the reason on stderr) when disabled or not possible.
async fn start_reaper(session: &str) -> Option<Reaper> {
    let env = |name: &str| std::env::var(name).ok();
    if env("TESTCONTAINERS_RYUK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    let exists = |path: &std::path::Path| path.exists();
    let socket = match crate::docker::docker_endpoint(&env, &exists) {
        Some(DockerEndpoint::Unix(path)) => env("TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE")
            .unwrap_or_else(|| path.to_string_lossy().into_owned()),
        _ => {
            eprintln!(
                "testcontainers: Docker is not reached over a Unix socket, so no Ryuk: remove \
                 this session's containers with `docker rm -f $(docker ps -aq --filter \
                 label={SESSION_LABEL}={session})`"
            );
            return None;
        }
    };
    match reaper(session, &socket).await {
        Ok(reaper) => Some(reaper),
        Err(e) => {
            eprintln!(
                "testcontainers: Ryuk did not start ({e}); remove this session's containers \
                 with `docker rm -f $(docker ps -aq --filter label={SESSION_LABEL}={session})`"
            );
            None
        }
    }
}

async fn reaper(session: &str, socket: &str) -> Result<Reaper, String> {
    // As testcontainers elsewhere: privileged only when asked (SELinux hosts).
    let privileged = std::env::var("TESTCONTAINERS_RYUK_PRIVILEGED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let container = GenericImage::new("testcontainers/ryuk", RYUK_TAG)
        .with_exposed_port(8080.tcp())
        .with_wait_for(WaitFor::message_on_either_std("listening"))
        .with_mount(Mount::bind_mount(socket, "/var/run/docker.sock"))
        .with_privileged(privileged)
        // Ryuk never removes itself: Docker does once it exits.
        .with_label("org.testcontainers.ryuk", "true")
        .with_host_config_modifier(|config| config.auto_remove = Some(true))
        .start()
        .await
        .map_err(|e| format!("testcontainers/ryuk:{RYUK_TAG}: {e}"))?;
    let host = host_of(&container).await?;
    let port = container
        .get_host_port_ipv4(8080)
        .await
        .map_err(|e| format!("Ryuk port: {e}"))?;
    let filter = format!("label={SESSION_LABEL}={session}");
    let connection = tokio::task::spawn_blocking(move || register(&host, port, &filter))
        .await
        .map_err(|e| format!("Ryuk registration: {e}"))??;
    Ok(Reaper {
        _container: container,
        _connection: connection,
    })
}

/// Sends Ryuk one filter line and waits for its `ACK`; the returned
/// connection must stay open for as long as the containers must live.
fn register(host: &str, port: u16, filter: &str) -> Result<TcpStream, String> {
    let address = format!("{host}:{port}");
    let connection = TcpStream::connect(&address).map_err(|e| format!("Ryuk at {address}: {e}"))?;
    connection
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    (&connection)
        .write_all(format!("{filter}\n").as_bytes())
        .map_err(|e| format!("Ryuk at {address}: {e}"))?;
    let mut answer = String::new();
    BufReader::new(&connection)
        .read_line(&mut answer)
        .map_err(|e| format!("Ryuk at {address}: {e}"))?;
    if answer.trim() != "ACK" {
        return Err(format!("Ryuk at {address} answered {answer:?}, not ACK"));
    }
    connection
        .set_read_timeout(None)
        .map_err(|e| e.to_string())?;
    Ok(connection)
}
