//! `tenantry provisioner` (or `tenantry projector`) as a child process that the tests kill and start
//! again: each start is an *incarnation* with its own log file
//! (`provisioner-NN.log`, or `provisioner-<member>-NN.log` for a named member
//! of a fleet, in the run directory: the process's stderr, where the
//! provisioner logs).

use std::path::PathBuf;
use std::time::Duration;
use tenantry_integration_tests::logs::append_line;
use tenantry_integration_tests::process::{ServiceProcess, command_with, pin_tenantry, tail};
use tenantry_integration_tests::{DOMAIN, RunDir};

/// Log filter of the children: the services' default, plus the Kafka
/// adapter's debug lines (partitions assigned and revoked), which show in
/// each incarnation's log whether and when it got partitions.
const LOG_FILTER: &str = "info,rdkafka=warn,sqlx=warn,tenantry_kafka=debug";

/// The environment of one engine deployment under test.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `TENANTRY_BOOTSTRAP`.
    pub bootstrap: String,
    /// `TENANTRY_TOPIC_SUFFIX`.
    pub suffix: String,
    /// `TENANTRY_DATABASE_URL`.
    pub database_url: String,
}

impl Deployment {
    /// Environment for `tenantry` (the provisioner and `publish`): this
    /// deployment's broker, topics, database, and a consumer group of its own.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TENANTRY_BOOTSTRAP", self.bootstrap.clone()),
            ("TENANTRY_TOPIC_SUFFIX", self.suffix.clone()),
            ("TENANTRY_DATABASE_URL", self.database_url.clone()),
            ("TENANTRY_SITE_DOMAIN", DOMAIN.into()),
            ("TENANTRY_GROUP_PREFIX", format!("it-crash-{}", self.suffix)),
            ("TENANTRY_LOG", LOG_FILTER.into()),
            ("NO_COLOR", "1".into()),
        ]
    }

    /// [`Deployment::env`] as `(&str, &str)` pairs.
    pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// One kill of an incarnation.
#[derive(Debug, Clone)]
pub struct Killed {
    /// Incarnation number of its member, from 1.
    pub incarnation: u32,
    /// How long it ran.
    pub lived: Duration,
}

/// A provisioner under test: at most one incarnation at a time, every
/// incarnation started from the same copy of the binary (`pin_tenantry`), so
/// a rebuild of the shared binary during the run cannot mix two builds in
/// one run (it did once: a changed default key directory failed 15 sagas).
#[derive(Debug)]
pub struct Provisioner {
    /// The subcommand: `provisioner`, or `projector`.
    role: &'static str,
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    logs: PathBuf,
    /// Static group member name (`TENANTRY_INSTANCE_ID`), if any.
    member: Option<String>,
    incarnation: u32,
    process: Option<ServiceProcess>,
}

impl Provisioner {
    /// A provisioner for `deployment` with dynamic group membership, logging
    /// into `run`.
    pub fn new(deployment: &Deployment, run: &RunDir) -> Self {
        Self {
            role: "provisioner",
            bin: pin_tenantry(run.path()),
            env: deployment.env(),
            logs: run.path().to_owned(),
            member: None,
            incarnation: 0,
            process: None,
        }
    }

    /// A provisioner for `deployment` that joins the group as the static
    /// member `name` (`TENANTRY_INSTANCE_ID`), so each incarnation takes over
    /// its predecessor's partitions without a rebalance.
    pub fn member(deployment: &Deployment, run: &RunDir, name: &str) -> Self {
        let mut provisioner = Self::new(deployment, run);
        provisioner.env.push((
            "TENANTRY_INSTANCE_ID",
            format!("{name}-{}", deployment.suffix),
        ));
        provisioner.member = Some(name.to_owned());
        provisioner
    }

    /// `tenantry projector` for `deployment` (its context store in the
    /// deployment's database), dynamic membership, logging into `run`
    /// (`projector-NN.log`).
    pub fn projector(deployment: &Deployment, run: &RunDir) -> Self {
        let mut projector = Self::new(deployment, run);
        projector.role = "projector";
        projector
    }

    /// The member name (`None`: a lone service with dynamic membership).
    pub fn name(&self) -> &str {
        self.member.as_deref().unwrap_or(self.role)
    }

    fn log_path(&self) -> PathBuf {
        match &self.member {
            Some(name) => self
                .logs
                .join(format!("{}-{name}-{:02}.log", self.role, self.incarnation)),
            None => self
                .logs
                .join(format!("{}-{:02}.log", self.role, self.incarnation)),
        }
    }

    /// Starts the next incarnation.
    pub fn start(&mut self) {
        assert!(self.process.is_none(), "an incarnation is still running");
        self.incarnation += 1;
        let log = self.log_path();
        let env = Deployment::env_refs(&self.env);
        let process = ServiceProcess::spawn(command_with(&self.bin, &[self.role], &env), &log)
            .expect("spawn tenantry (build it: cargo build --bin tenantry)");
        self.process = Some(process);
    }

    /// SIGKILLs the running incarnation; panics if it had already exited on
    /// its own (a crash the test did not cause).
    pub async fn kill(&mut self) -> Killed {
        let mut process = self.process.take().expect("an incarnation is running");
        if let Some(status) = process.exited() {
            panic!(
                "{} incarnation {} exited on its own with {status}; log {}:\n{}",
                self.name(),
                self.incarnation,
                process.log().display(),
                process.log_tail(30)
            );
        }
        let lived = process.age();
        process.kill().await;
        append_line(process.log(), "=== killed (SIGKILL) by the test");
        Killed {
            incarnation: self.incarnation,
            lived,
        }
    }

    /// SIGTERM, then SIGKILL after 30 s. Returns whether it exited cleanly.
    pub async fn stop(&mut self) -> bool {
        match self.process.take() {
            Some(mut process) => process.terminate(Duration::from_secs(30)).await.success(),
            None => true,
        }
    }

    /// The running incarnation's exit status once it has exited by itself, with
    /// its log's text.
    pub fn exited(&mut self) -> Option<(std::process::ExitStatus, String)> {
        let process = self.process.as_mut()?;
        let status = process.exited()?;
        Some((status, process.log_text()))
    }

    /// Panics with the log tail if the running incarnation has exited.
    pub fn assert_alive(&mut self) {
        let incarnation = self.incarnation;
        let name = self.name().to_owned();
        if let Some(process) = self.process.as_mut()
            && let Some(status) = process.exited()
        {
            panic!(
                "{name} incarnation {incarnation} exited on its own with {status}; log {}:\n{}",
                process.log().display(),
                process.log_tail(30)
            );
        }
    }

    /// The last `lines` lines of the running (or last) incarnation's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_path();
        format!(
            "{}:\n{}",
            log.display(),
            tail(
                &tenantry_integration_tests::process::read_lossy(&log),
                lines
            )
        )
    }

    /// Number of incarnations started.
    pub fn incarnations(&self) -> u32 {
        self.incarnation
    }
}
