//! `tenantry context-sidecar` as a child process of this executable: its
//! start with the run's topic and keys, readiness, memory and CPU from
//! /proc, `/metrics`, and its stop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

pub use super::usage::Memory;

use super::super::STOP_TIMEOUT;
use super::super::processes::os;
use super::usage;
use crate::settings::Settings;

/// How long the sidecar may take to read the changelog to its end.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How often `/readyz` is asked while the cache warms.
const READY_POLL: Duration = Duration::from_millis(100);

/// What the sidecar is started with besides the inherited environment.
#[derive(Debug, Clone)]
pub struct SidecarEnv<'a> {
    /// Topic suffix of the run: the sidecar follows `tenant-context.changelog.v1-<suffix>`.
    pub suffix: &'a str,
    /// `127.0.0.1:<port>`.
    pub listen: &'a str,
    /// The run's JWK set (`--api-jwks-file`).
    pub jwks: &'a Path,
    /// `--api-allow` entries (`issuer=*`).
    pub allow: &'a [String],
    /// `--cache-mib`.
    pub cache_mib: u64,
    /// `TENANTRY_LOG` of the sidecar; `None`: the settings' (or the
    /// services' default, `info`).
    pub log_filter: Option<&'a str>,
}

/// The running sidecar.
pub struct Sidecar {
    child: Child,
    pid: u32,
    /// Its stderr: the service log.
    pub log: PathBuf,
    base_url: String,
    http: reqwest::Client,
}

impl Sidecar {
    /// Starts `tenantry context-sidecar`, stderr to `<dir>/context-sidecar.log`.
    ///
    /// # Errors
    /// The executable cannot be started.
    pub fn spawn(settings: &Settings, env: &SidecarEnv<'_>, dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("path of the tenantry executable")?;
        let log = dir.join("context-sidecar.log");
        let mut command = Command::new(&exe);
        let properties: Vec<String> = settings
            .kafka_properties
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        // What the run decides is set; the settings that would change the
        // mode of authentication are removed (a secret excludes a key set).
        command
            .arg("context-sidecar")
            .env("TENANTRY_BOOTSTRAP", &settings.bootstrap)
            .env("TENANTRY_KAFKA_PROPERTIES", properties.join(","))
            .env("TENANTRY_TOPIC_SUFFIX", env.suffix)
            .env("TENANTRY_LISTEN", env.listen)
            .env("TENANTRY_CACHE_MIB", env.cache_mib.to_string())
            .env("TENANTRY_API_JWKS_FILES", env.jwks)
            .env("TENANTRY_API_ALLOW", env.allow.join(";"))
            .env("TENANTRY_API_JWT_AUDIENCE", &settings.api_jwt_audience)
            .env("TENANTRY_API_JWT_KID_BINDING", "asap")
            .env_remove("TENANTRY_API_JWT_SECRET")
            .env_remove("TENANTRY_API_JWKS_URL")
            .env_remove("TENANTRY_API_JWT_ALGORITHMS");
        if properties.is_empty() {
            command.env_remove("TENANTRY_KAFKA_PROPERTIES");
        }
        match env.log_filter.or(settings.log.as_deref()) {
            Some(filter) => command.env("TENANTRY_LOG", filter),
            None => command.env_remove("TENANTRY_LOG"),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} context-sidecar", exe.display()))?;
        let pid = child.id().context("child pid")?;
        tracing::info!(pid, log = %log.display(), "Context sidecar started.");
        Ok(Self {
            child,
            pid,
            log,
            base_url: format!("http://{}", env.listen),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Fails when the sidecar has exited.
    fn check(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "context-sidecar exited early ({status}); its log: {}",
                self.log.display()
            );
        }
        Ok(())
    }

    /// Waits until `/readyz` answers 200: the cache has read the changelog
    /// to the end it had. Returns how long that took from now.
    ///
    /// # Errors
    /// The sidecar exited, or is not ready within [`READY_TIMEOUT`].
    pub async fn wait_ready(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let url = format!("{}/readyz", self.base_url);
        let mut last = String::from("no answer yet");
        while started.elapsed() < READY_TIMEOUT {
            self.check()?;
            match self.http.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(started.elapsed()),
                Ok(response) => last = response.text().await.unwrap_or_default(),
                Err(error) => last = error.to_string(),
            }
            tokio::time::sleep(READY_POLL).await;
        }
        bail!(
            "context-sidecar not ready after {READY_TIMEOUT:?} (last /readyz: {last}); its log: {}",
            self.log.display()
        )
    }

    /// `GET <path>` with `token`: the status and body.
    ///
    /// # Errors
    /// No answer.
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<(u16, String)> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// The body of `GET /metrics`.
    ///
    /// # Errors
    /// No answer, or not 200.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let response = self
            .http
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .context("GET /metrics")?;
        if !response.status().is_success() {
            bail!("GET /metrics answered {}", response.status());
        }
        Ok(response.text().await?)
    }

    /// Resident and peak resident memory now.
    ///
    /// # Errors
    /// The sidecar exited, or /proc cannot be read.
    pub fn memory(&mut self) -> anyhow::Result<Memory> {
        self.check()?;
        usage::memory(self.pid).context("read /proc of the context sidecar")
    }

    /// CPU time (user + system) used so far.
    ///
    /// # Errors
    /// The sidecar exited, or /proc cannot be read.
    pub fn cpu(&mut self) -> anyhow::Result<Duration> {
        self.check()?;
        usage::cpu(self.pid).context("read /proc of the context sidecar")
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
    ///
    /// # Errors
    /// It ignored SIGTERM (then it is killed).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        os::terminate(self.pid)?;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("context-sidecar ignored SIGTERM for {STOP_TIMEOUT:?}; killed")
            }
        }
    }
}
