//! The services under test as child processes, and their accounting from /proc.

use super::STOP_TIMEOUT;
use crate::settings::Settings;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// What the child services need besides this process's settings.
pub(super) struct ServiceEnv<'a> {
    pub(super) settings: &'a Settings,
    pub(super) database_url: &'a str,
    pub(super) suffix: &'a str,
}

/// A service running as a child process of this executable.
pub(super) struct Service {
    pub(super) role: &'static str,
    child: Child,
    pid: u32,
    pub(super) log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Service {
    /// Starts `tenantry <role>` with this run's settings, database, topic
    /// suffix and group prefix. Its stderr
    /// (the service log) goes to `<logs>/<role>.log`.
    pub(super) fn spawn(
        role: &'static str,
        env: &ServiceEnv<'_>,
        logs: &Path,
    ) -> anyhow::Result<Self> {
        Self::spawn_with(role, role, env, logs, |_| {})
    }

    /// [`Service::spawn`] for one of several instances of `role`: its log
    /// is `<logs>/<name>.log`, and `configure` adds to the command (flags,
    /// environment) after the run's settings, e.g. a listen address.
    pub(super) fn spawn_with(
        role: &'static str,
        name: &str,
        env: &ServiceEnv<'_>,
        logs: &Path,
        configure: impl FnOnce(&mut Command),
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("path of the tenantry executable")?;
        let log = logs.join(format!("{name}.log"));
        let mut command = Command::new(&exe);
        // The environment is inherited (TENANTRY_* variables reach the
        // services as they reach this process); what this run must decide,
        // and every flag given to `tenantry bench`, is set explicitly.
        let settings = env.settings;
        command
            .arg(role)
            .env("TENANTRY_BOOTSTRAP", &settings.broker.bootstrap)
            .env("TENANTRY_DATABASE_URL", env.database_url)
            .env("TENANTRY_CONTEXT_DATABASE_URL", env.database_url)
            .env("TENANTRY_TOPIC_SUFFIX", env.suffix)
            .env("TENANTRY_GROUP_PREFIX", env.suffix)
            .env("TENANTRY_SITE_DOMAIN", &settings.saga.site_domain)
            .env(
                "TENANTRY_SHARD_CAPACITY",
                settings.saga.shard_capacity.to_string(),
            )
            .env("TENANTRY_WORKERS", settings.saga.workers.to_string());
        match &settings.schema.schema_registry_url {
            Some(url) => command.env("TENANTRY_SCHEMA_REGISTRY_URL", url),
            None => command.env_remove("TENANTRY_SCHEMA_REGISTRY_URL"),
        };
        match &settings.log {
            Some(filter) => command.env("TENANTRY_LOG", filter),
            None => command.env_remove("TENANTRY_LOG"),
        };
        // `--kafka-property` given to `tenantry bench` reaches the services too.
        let properties: Vec<String> = settings
            .broker
            .kafka_properties
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if properties.is_empty() {
            command.env_remove("TENANTRY_KAFKA_PROPERTIES");
        } else {
            command.env("TENANTRY_KAFKA_PROPERTIES", properties.join(","));
        }
        configure(&mut command);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} {role}", exe.display()))?;
        let pid = child.id().context("child pid")?;
        tracing::info!(service = name, pid, log = %log.display(), "Service started.");
        Ok(Self {
            role,
            child,
            pid,
            log,
            exited: None,
        })
    }

    /// Its process id, while it runs.
    ///
    /// # Errors
    /// It has exited.
    pub(super) fn pid(&mut self) -> anyhow::Result<u32> {
        self.check()?;
        Ok(self.pid)
    }

    /// Fails when the service has exited.
    pub(super) fn check(&mut self) -> anyhow::Result<()> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        match self.exited {
            Some(status) => bail!(
                "{} exited early ({status}); its log: {}",
                self.role,
                self.log.display()
            ),
            None => Ok(()),
        }
    }

    /// CPU time and peak RSS so far.
    pub(super) fn stats(&mut self) -> anyhow::Result<ProcStats> {
        self.check()?;
        os::stats(self.pid).with_context(|| format!("read /proc of the {}", self.role))
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
    pub(super) async fn stop(&mut self) -> anyhow::Result<()> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        if self.exited.is_some() {
            return Ok(());
        }
        os::terminate(self.pid)?;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                self.exited = Some(status?);
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("{} ignored SIGTERM for {STOP_TIMEOUT:?}; killed", self.role)
            }
        }
    }
}

/// Fails when Ctrl-C was pressed or a service exited.
pub(super) fn check(services: &mut [Service], shutdown: &CancellationToken) -> anyhow::Result<()> {
    if shutdown.is_cancelled() {
        bail!("interrupted");
    }
    services.iter_mut().try_for_each(Service::check)
}

/// A process's accounting from /proc.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProcStats {
    /// utime + stime.
    cpu: Duration,
    /// VmHWM, bytes.
    peak_rss: u64,
}

#[cfg(target_os = "linux")]
pub(super) mod os {
    use super::ProcStats;
    use std::time::Duration;

    /// utime + stime (`/proc/<pid>/stat`, clock ticks) and VmHWM (`/proc/<pid>/status`, kB).
    pub(in crate::bench) fn stats(pid: u32) -> anyhow::Result<ProcStats> {
        let process = procfs::process::Process::new(i32::try_from(pid)?)?;
        let stat = process.stat()?;
        let ticks = (stat.utime + stat.stime) as f64;
        Ok(ProcStats {
            cpu: Duration::from_secs_f64(ticks / procfs::ticks_per_second() as f64),
            peak_rss: process.status()?.vmhwm.unwrap_or(0) * 1024,
        })
    }

    /// CPU used so far by every process whose name is in `names`, by name:
    /// utime + stime plus the children's (`cutime`, `cstime`) — so a
    /// PostgreSQL postmaster also counts the backends it has reaped. Keyed by
    /// pid, so a later [`super::StackCpu::between`] can tell processes apart.
    pub(in crate::bench) fn named_cpu(
        names: &[&str],
    ) -> std::collections::BTreeMap<i32, (String, u64)> {
        let mut found = std::collections::BTreeMap::new();
        let Ok(all) = procfs::process::all_processes() else {
            return found;
        };
        for process in all.flatten() {
            let Ok(stat) = process.stat() else { continue };
            if names.contains(&stat.comm.as_str()) {
                let children = u64::try_from(stat.cutime + stat.cstime).unwrap_or(0);
                found.insert(stat.pid, (stat.comm, stat.utime + stat.stime + children));
            }
        }
        found
    }

    /// Clock ticks per second of `/proc`'s CPU figures.
    pub(in crate::bench) fn ticks_per_second() -> u64 {
        procfs::ticks_per_second()
    }

    pub(in crate::bench) fn terminate(pid: u32) -> anyhow::Result<()> {
        let pid = rustix::process::Pid::from_raw(i32::try_from(pid)?)
            .ok_or_else(|| anyhow::anyhow!("pid 0"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) mod os {
    use super::ProcStats;

    pub(in crate::bench) fn stats(_pid: u32) -> anyhow::Result<ProcStats> {
        anyhow::bail!("tenantry bench reads /proc and runs on Linux only")
    }

    pub(in crate::bench) fn terminate(_pid: u32) -> anyhow::Result<()> {
        anyhow::bail!("tenantry bench runs on Linux only")
    }

    pub(in crate::bench) fn named_cpu(
        _names: &[&str],
    ) -> std::collections::BTreeMap<i32, (String, u64)> {
        std::collections::BTreeMap::new()
    }

    pub(in crate::bench) fn ticks_per_second() -> u64 {
        100
    }
}

/// Processes of the local stack whose CPU the report shows: PostgreSQL and
/// the Kafka broker, a JVM named `java` (the services that share the cores
/// with Tenantry; any other JVM running on the machine counts too).
pub(super) const STACK_PROCESSES: &[&str] = &["postgres", "java"];

/// CPU of the stack's processes over the measured window, by process name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct StackCpu(pub(super) Vec<(String, Duration)>);

impl StackCpu {
    /// What each name used between two [`os::named_cpu`] readings; a process
    /// that started in between counts from zero.
    pub(super) fn between(
        before: &std::collections::BTreeMap<i32, (String, u64)>,
        after: &std::collections::BTreeMap<i32, (String, u64)>,
        ticks_per_second: u64,
    ) -> Self {
        let mut by_name: std::collections::BTreeMap<String, u64> =
            std::collections::BTreeMap::new();
        for (pid, (name, ticks)) in after {
            let start = match before.get(pid) {
                Some((old, t)) if old == name => *t,
                _ => 0,
            };
            *by_name.entry(name.clone()).or_default() += ticks.saturating_sub(start);
        }
        Self(
            by_name
                .into_iter()
                .map(|(name, ticks)| {
                    (
                        name,
                        Duration::from_secs_f64(ticks as f64 / ticks_per_second.max(1) as f64),
                    )
                })
                .collect(),
        )
    }
}

/// One service's figures over the measured window.
#[derive(Debug, Clone, Copy)]
pub(super) struct ServiceFigures {
    pub(super) cpu: Duration,
    pub(super) peak_rss: u64,
}

impl ServiceFigures {
    pub(super) fn between(before: &ProcStats, after: &ProcStats) -> Self {
        Self {
            cpu: after.cpu.saturating_sub(before.cpu),
            peak_rss: after.peak_rss,
        }
    }
}
