//! `tenantry context-sidecar` as a child process of this executable: its
//! start with the run's topic and keys, readiness, memory and CPU from
//! /proc, `/metrics`, and its stop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

pub use super::usage::Memory;

use super::super::processes::{Service, ServiceEnv};
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
    service: Service,
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
        let service_env = ServiceEnv {
            settings,
            database_url: &settings.store.database_url,
            suffix: env.suffix,
        };
        // Beyond what every service of a run gets: the listener, the cache
        // and the run's key set; the settings that would change the mode of
        // authentication are removed (a secret excludes a key set).
        let service = Service::spawn_with(
            "context-sidecar",
            "context-sidecar",
            &service_env,
            dir,
            |command| {
                command
                    .env("TENANTRY_LISTEN", env.listen)
                    .env("TENANTRY_CACHE_MIB", env.cache_mib.to_string())
                    .env("TENANTRY_API_JWKS_FILES", env.jwks)
                    .env("TENANTRY_API_ALLOW", env.allow.join(";"))
                    .env("TENANTRY_API_JWT_AUDIENCE", &settings.auth.api_jwt_audience)
                    .env("TENANTRY_API_JWT_KID_BINDING", "asap")
                    .env_remove("TENANTRY_API_JWT_SECRET")
                    .env_remove("TENANTRY_API_JWKS_URL")
                    .env_remove("TENANTRY_API_JWT_ALGORITHMS");
                if let Some(filter) = env.log_filter {
                    command.env("TENANTRY_LOG", filter);
                }
            },
        )?;
        Ok(Self {
            log: service.log.clone(),
            service,
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
            self.service.check()?;
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
        usage::memory(self.service.pid()?).context("read /proc of the context sidecar")
    }

    /// CPU time (user + system) used so far.
    ///
    /// # Errors
    /// The sidecar exited, or /proc cannot be read.
    pub fn cpu(&mut self) -> anyhow::Result<Duration> {
        usage::cpu(self.service.pid()?).context("read /proc of the context sidecar")
    }

    /// SIGTERM, then SIGKILL after the bench's stop timeout (`STOP_TIMEOUT`).
    ///
    /// # Errors
    /// It ignored SIGTERM (then it is killed).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.service.stop().await
    }
}
