//! `tenantry` (and other programs) as child processes.
//!
//! - [`tenantry`]: a one-shot CLI run (`publish`, `replay`, `sagas …`), output captured.
//! - [`ServiceProcess`]: a long-running service (`tenantry provisioner`, a
//!   broker) whose stdout and stderr go to a log file, killed with SIGKILL
//!   (a crash: no shutdown code runs) or stopped with SIGTERM.
//!
//! Every child is spawned with `kill_on_drop`, so a failing test leaves no
//! process behind.

use crate::env::tenantry_bin;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// `tenantry <args>` with every inherited `TENANTRY_*` variable removed, then
/// `env` set: the child sees exactly the configuration the test gives it.
pub fn tenantry_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    command_with(&tenantry_bin(), args, env)
}

/// [`tenantry_command`] with another `tenantry` binary, e.g. one pinned with
/// [`pin_tenantry`].
pub fn command_with(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(bin);
    for (name, _) in std::env::vars() {
        if name.starts_with("TENANTRY_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .kill_on_drop(true);
    command
}

/// Copies the `tenantry` binary ([`tenantry_bin`]) into `dir`, once, and
/// returns the copy's path. A test that starts the binary many times over
/// minutes runs the copy, so every start is the same build even when the
/// shared binary is rebuilt meanwhile (`cargo build` in another shell
/// replaces it); a later call for the same `dir` returns the first copy
/// (which may be running: it cannot be overwritten then).
pub fn pin_tenantry(dir: &Path) -> PathBuf {
    let bin = tenantry_bin();
    let pinned = dir.join("tenantry");
    if pinned.exists() {
        return pinned;
    }
    std::fs::copy(&bin, &pinned).unwrap_or_else(|e| {
        panic!(
            "copy {} (build it: cargo build --bin tenantry): {e}",
            bin.display()
        )
    });
    pinned
}

/// Runs `tenantry <args>` (see [`tenantry_command`]) to completion, at most
/// 120 s, and returns its output.
pub async fn tenantry(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tenantry_command(args, env);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("tenantry finishes within 120 s")
        .expect("tenantry binary runs (build it: cargo build --bin tenantry)")
}

/// A long-running child process whose stdout and stderr are appended to one
/// log file.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    pid: u32,
    log: PathBuf,
    started: Instant,
}

impl ServiceProcess {
    /// Spawns `command` (kill-on-drop is set here) with stdin closed and its
    /// output appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> std::io::Result<Self> {
        let out = append(log)?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let child = command.spawn()?;
        let pid = child.id().unwrap_or_default();
        Ok(Self {
            child,
            pid,
            log: log.to_owned(),
            started: Instant::now(),
        })
    }

    /// Operating-system process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Time since spawn.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// The exit status if the process has exited (it is reaped), else `None`.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL — the process gets no chance to run shutdown code, exactly
    /// like a crash or an OOM kill — then waits for it to be reaped.
    /// Returns its exit status (already exited: that status).
    pub async fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        // start_kill sends SIGKILL on Unix; an error means it already exited.
        let _ = self.child.start_kill();
        self.child.wait().await.expect("reap killed child")
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if it has not exited within
    /// `grace`. Returns the exit status.
    pub async fn terminate(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        // `kill -TERM` keeps this crate free of `unsafe` (libc::kill).
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.expect("reap terminated child"),
            Err(_) => self.kill().await,
        }
    }

    /// The log file's text so far (lossy UTF-8; empty if unreadable).
    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    /// The last `lines` lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_text(), lines)
    }
}

/// A file's text, lossy UTF-8; empty when it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Opens `path` for appending (created when missing); for a child's output.
pub fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}
