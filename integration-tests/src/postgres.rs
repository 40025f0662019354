//! [`PrivateCluster`]: a PostgreSQL server of the test's own, to stop and
//! start while the engine runs; and [`terminate_backends`], which drops every
//! connection to one database of any server.
//!
//! The shared server on `TENANTRY_DATABASE_URL` serves every test running in
//! parallel and must never be restarted by one. A private cluster is made
//! with the machine's own PostgreSQL binaries (`initdb`, `pg_ctl` from
//! `/usr/lib/postgresql/<newest>/bin`, or `TENANTRY_PG_BIN`) in a temporary
//! directory, listening on 127.0.0.1 on a free port with trust
//! authentication. PostgreSQL refuses to run as root, so when the test runs
//! as root the commands run as the `postgres` user through `runuser`.
//! [`PrivateCluster::start`] returns an error (the caller decides what to do)
//! when that is not possible on this machine.

use crate::env::free_port;
use crate::logs::append_line;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// Longest wait for `pg_ctl start|stop -w`.
const PG_CTL_WAIT_S: &str = "60";

/// A PostgreSQL cluster in a temporary directory on `127.0.0.1:<free port>`,
/// superuser `postgres`, trust authentication. Stopped (immediate) and
/// removed when dropped.
#[derive(Debug)]
pub struct PrivateCluster {
    bin: PathBuf,
    port: u16,
    log: PathBuf,
    run_as_postgres: bool,
    // Last: removed after the server is stopped in `drop`.
    dir: tempfile::TempDir,
}

impl PrivateCluster {
    /// Creates the cluster (`initdb`) and starts it (`pg_ctl start -w`).
    /// Server output goes to `log`.
    ///
    /// Errors (as text, for the caller's report): no PostgreSQL binaries,
    /// root without a `postgres` user or `runuser`, `initdb` or start failed.
    pub async fn start(log: &Path) -> Result<Self, String> {
        let bin = pg_bin().ok_or("no PostgreSQL binaries (initdb, pg_ctl) found")?;
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("tenantry-it-pg-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        if run_as_postgres {
            // The server runs as `postgres`: it must own its directory and log.
            std::fs::File::create(log).map_err(|e| format!("log {}: {e}", log.display()))?;
            for path in [dir.path(), log] {
                run(std::process::Command::new("chown")
                    .arg("postgres:")
                    .arg(path))?;
            }
        }
        let cluster = Self {
            bin,
            port: free_port(),
            log: log.to_owned(),
            run_as_postgres,
            dir,
        };
        let data = cluster.data_dir();
        let initdb = cluster.bin.join("initdb");
        cluster
            .pg(
                &initdb,
                &[
                    "-D",
                    path_str(&data)?,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            )
            .await?;
        cluster.start_server().await?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:<port>` (no database).
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server with `pg_ctl stop -m immediate`: every server
    /// process exits at once without a checkpoint, as in a crash; the next
    /// start runs crash recovery.
    pub async fn stop_immediate(&self) -> Result<(), String> {
        append_line(
            &self.log,
            "=== server stopped (pg_ctl stop -m immediate) by the test",
        );
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        self.pg(
            &pg_ctl,
            &[
                "stop",
                "-w",
                "-t",
                PG_CTL_WAIT_S,
                "-m",
                "immediate",
                "-D",
                path_str(&data)?,
            ],
        )
        .await
    }

    /// Starts the server again (`pg_ctl start -w`), after crash recovery.
    pub async fn start_server(&self) -> Result<(), String> {
        append_line(&self.log, "=== server start by the test");
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            path_str(self.dir.path())?
        );
        self.pg(
            &pg_ctl,
            &[
                "start",
                "-w",
                "-t",
                PG_CTL_WAIT_S,
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&self.log)?,
                "-o",
                &options,
            ],
        )
        .await
    }

    /// The server log.
    pub fn log(&self) -> &Path {
        &self.log
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a PostgreSQL program, as `postgres` when we are root.
    async fn pg(&self, program: &Path, args: &[&str]) -> Result<(), String> {
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .map_err(|_| format!("{} {args:?} did not finish within 120 s", program.display()))?
            .map_err(|e| format!("{} {args:?}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {args:?} failed with {}: {}{}",
                program.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Blocking on purpose: drop cannot await, and the server must be gone
        // before its directory is removed.
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let mut command = if self.run_as_postgres {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            std::process::Command::new(&pg_ctl)
        };
        let _ = command
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Terminates every backend connected to database `database` on the server
/// at `server` (`pg_terminate_backend`), except the one asking. Returns how
/// many were terminated. The engine sees its connections fail mid-query and
/// must reconnect.
pub async fn terminate_backends(server: &str, database: &str) -> Result<i64, sqlx::Error> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
    let (terminated,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
    )
    .bind(database)
    .fetch_one(&mut admin)
    .await?;
    admin.close().await.ok();
    Ok(terminated)
}

/// The directory of `initdb` and `pg_ctl`: `TENANTRY_PG_BIN`, else the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian layout).
fn pg_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TENANTRY_PG_BIN") {
        return Some(dir.into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process's effective user is root (`Uid:` in
/// /proc/self/status: real, effective, saved, filesystem), without
/// `unsafe` libc calls.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", path.display()))
}

fn run(command: &mut std::process::Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}
