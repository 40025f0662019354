//! `tenantry bench api`: requests per second and latency of the context
//! API serving from its cache, as `tenantry context-sidecar` runs it next
//! to an edge (no database; every context in memory).
//!
//! A run, isolated by a fresh topic suffix:
//!
//! 1. writes `--tenants` synthetic contexts ([`tenants::context`]: active
//!    tenants with a site host `<name>-<i>.<site domain>`, a region, one or
//!    two products with licence, shard and database, groups) as
//!    `ContextChange` JSON records (revision 1) onto a fresh compacted
//!    changelog topic `tenant-context.changelog.v1-bench-api-<run>`;
//! 2. generates an EdDSA key per issuer (`bench-edge-a`, `bench-edge-b`)
//!    with the code of `tenantry token keygen` into a temporary directory,
//!    and starts `tenantry context-sidecar` (this executable) on a free
//!    loopback port with that suffix, `--api-jwks-file` of the keys and
//!    `--api-allow <issuer>=*` for both, and the global `--cache-mib`
//!    (256 by default: 100,000 tenants need about 230 MiB); waits for `/readyz` 200 (the cache
//!    has read the whole changelog), then checks one request by id, one by
//!    host, and that a request without a token is refused (`401`);
//! 3. mints four tokens (two subjects per issuer, `tenants: ["*"]`, valid
//!    for the whole run), and runs `wrk` with the Lua script of [`wrk`]:
//!    `GET /v1/tenants/<random tenant>/context`, or with probability
//!    `--host-share` `GET /v1/sites/<its host>/context`, each with
//!    `Authorization: Bearer <one of the tokens>`. A `--warm-up-secs` run
//!    first (not counted), then the measured `--duration-secs` run;
//! 4. reads the sidecar's `VmRSS`/`VmHWM` and CPU time (/proc), and the
//!    cache hit ratio from its `/metrics` (`tenantry_api_cache_lookups_total`
//!    over the measured run); stops it (SIGTERM) and deletes the topic.
//!
//! What is measured: complete HTTP/1.1 keep-alive requests over loopback,
//! each through the API's whole stack — routing, the request metrics and
//! tracing middleware, bearer-token authentication and the issuer
//! allow-list, tenant scoping, the cache lookup, and the encoded response.
//! Every request carries a bearer token that the API verifies; a verified
//! token is cached by the API until its `exp` (its `api_jwt_cache_size`
//! cache, as the issue allows), so with four tokens the signature checks are
//! four, and each request pays the token-cache lookup instead. wrk runs on
//! the same cores as the sidecar (the goal is stated for that), on a closed
//! loop; its latencies are from request written to response read.
//!
//! The run fails, after printing its figures, when any answer was not 2xx
//! or a socket error occurred. `--json` prints the figures as one JSON object
//! on stdout ([`report::ApiReport::json`]), the human report on stderr.

pub mod report;
pub mod scrape;
pub mod sidecar;
pub mod tenants;
#[cfg(test)]
mod tests;
pub mod usage;
pub mod wrk;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use tenantry_kafka::{delete_topics, ensure_compacted_topics};
use tenantry_schemas::Topics;
use uuid::Uuid;

use crate::settings::Settings;
use crate::token::{KeygenArgs, MintArgs};
use report::ApiReport;
use scrape::Scrape;
use sidecar::{Sidecar, SidecarEnv};
use wrk::Load;

/// Issuers of the run's tokens, each with its own key (`kid` `<issuer>/<run>`).
const ISSUERS: [&str; 2] = ["bench-edge-a", "bench-edge-b"];

/// Subjects of each issuer's tokens.
const SUBJECTS: [&str; 2] = ["edge-1", "edge-2"];

/// Seconds a token stays valid beyond the warm-up and measured runs.
const TOKEN_MARGIN_SECS: u64 = 300;

/// An issuer's signing key of the run.
#[derive(Debug, Clone)]
struct IssuerKey {
    /// `iss` of its tokens, on the sidecar's allow-list.
    issuer: String,
    /// Its private key file (PKCS#8 PEM).
    private: PathBuf,
    /// `<issuer>/<run>`.
    kid: String,
}

/// `tenantry bench api` arguments.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Tenants written to the changelog and held by the sidecar's cache.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    pub tenants: u32,
    /// wrk threads; 1 leaves the other core to the sidecar.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Open connections (keep-alive), over all wrk threads.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// Seconds of the measured run.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3000))]
    pub duration_secs: u64,
    /// Seconds of load before the measured run, not counted (0: none).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub warm_up_secs: u64,
    /// Share of requests by site host (`/v1/sites/{host}/context`), 0 to 1.
    #[arg(long, default_value_t = 0.2, value_parser = parse_share)]
    pub host_share: f64,
    /// The sidecar's log filter (`TENANTRY_LOG`), e.g. `warn` to see what
    /// its INFO request spans cost; default: the services' default.
    #[arg(long)]
    pub sidecar_log: Option<String>,
    /// Keep the directory of the sidecar's log, keys, paths and Lua script
    /// (printed); it is kept anyway when the run fails.
    #[arg(long)]
    pub keep_logs: bool,
    /// Print the figures as one JSON object on stdout, the human report on stderr.
    #[arg(long)]
    pub json: bool,
}

impl Default for ApiArgs {
    fn default() -> Self {
        Self {
            tenants: 100_000,
            threads: 1,
            connections: 32,
            duration_secs: 20,
            warm_up_secs: 3,
            host_share: 0.2,
            sidecar_log: None,
            keep_logs: false,
            json: false,
        }
    }
}

fn parse_share(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("must be a number from 0 to 1, got {raw:?}")),
    }
}

/// Runs `tenantry bench api` and prints the report.
///
/// # Errors
/// `wrk` is missing, the broker is unreachable, the sidecar does not get
/// ready, wrk fails, or an answer was not 2xx (after the report is printed).
pub async fn run(settings: &Settings, args: ApiArgs) -> anyhow::Result<()> {
    let wrk = wrk::find()?;
    if args.connections < args.threads {
        bail!(
            "connections: wrk needs at least one per thread ({} threads)",
            args.threads
        );
    }
    let ttl = token_ttl(&args, settings.auth.api_jwt_max_lifetime_secs)?;
    let run_id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let suffix = format!("bench-api-{run_id}");
    let topics = Topics::with_suffix(&suffix);
    let kafka = settings.kafka("bench-api");
    ensure_compacted_topics(
        &kafka,
        &[(topics.changelog.as_str(), topics.changelog_partitions())],
    )
    .await
    .with_context(|| settings.at_bootstrap("cannot create topics"))?;
    let dir = tempfile::Builder::new()
        .prefix("tenantry-bench-api-")
        .tempdir()?;
    let run = Run {
        settings,
        args: &args,
        suffix: &suffix,
        topic: &topics.changelog,
        run_id: &run_id,
        dir: dir.path(),
        wrk: &wrk,
        ttl,
    };
    let outcome = run.measure().await;
    if let Err(error) = delete_topics(&kafka, &[topics.changelog.as_str()]).await {
        eprintln!(
            "the run's topic {} was not deleted: {error}",
            topics.changelog
        );
    }
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            eprintln!(
                "sidecar log, keys and script kept in {}",
                dir.keep().display()
            );
            return Err(error);
        }
    };
    if args.json {
        eprintln!("{report}");
        println!("{}", report.json());
    } else {
        println!("{report}");
    }
    let errors = report.errors();
    if errors > 0 || args.keep_logs {
        eprintln!(
            "sidecar log, keys and script kept in {}",
            dir.keep().display()
        );
    }
    if errors > 0 {
        bail!(
            "{errors} requests failed (non-2xx or socket errors): the figures are not those of \
             a working API"
        );
    }
    Ok(())
}

/// Lifetime of the run's tokens: the warm-up and measured runs plus a
/// margin, within the API's `--api-jwt-max-lifetime-secs`.
fn token_ttl(args: &ApiArgs, max_lifetime_secs: u64) -> anyhow::Result<u64> {
    let needed = args.warm_up_secs + args.duration_secs + 60;
    let wanted = needed + TOKEN_MARGIN_SECS;
    match max_lifetime_secs {
        0 => Ok(wanted),
        max if max >= needed => Ok(wanted.min(max)),
        max => bail!(
            "duration_secs: tokens would have to live {needed} s, the API accepts at most {max} s \
             (--api-jwt-max-lifetime-secs)"
        ),
    }
}

/// One run's settings and files.
struct Run<'a> {
    settings: &'a Settings,
    args: &'a ApiArgs,
    suffix: &'a str,
    topic: &'a str,
    run_id: &'a str,
    dir: &'a Path,
    wrk: &'a Path,
    ttl: u64,
}

impl Run<'_> {
    /// Writes the changelog, starts the sidecar, loads it, stops it
    /// (whatever happened).
    async fn measure(&self) -> anyhow::Result<ApiReport> {
        let args = self.args;
        let domain = &self.settings.saga.site_domain;
        let kafka = self.settings.kafka("bench-api");
        tracing::info!(
            tenants = args.tenants,
            topic = self.topic,
            "Writing the changelog."
        );
        let published = tenants::publish(&kafka, self.topic, args.tenants, domain).await?;
        let keys = self.keys()?;
        let paths = self.dir.join("paths.tsv");
        let lines: Vec<String> = (0..args.tenants)
            .map(|i| tenants::paths_line(i, domain))
            .collect();
        std::fs::write(&paths, lines.join("\n") + "\n")
            .with_context(|| format!("write {}", paths.display()))?;
        let listen = format!("127.0.0.1:{}", free_port()?);
        let allow: Vec<String> = ISSUERS.iter().map(|issuer| format!("{issuer}=*")).collect();
        let env = SidecarEnv {
            suffix: self.suffix,
            listen: &listen,
            jwks: &self.dir.join("keys").join("jwks.json"),
            allow: &allow,
            cache_mib: self.settings.cache.cache_mib,
            log_filter: args.sidecar_log.as_deref(),
        };
        let mut sidecar = Sidecar::spawn(self.settings, &env, self.dir)?;
        let loaded = self.load(&mut sidecar, &keys, &paths, published).await;
        let stopped = sidecar.stop().await;
        let report = loaded?;
        stopped?;
        Ok(report)
    }

    /// A key per issuer (`tenantry token keygen`): the private key file and
    /// its `kid`; all public keys go to `<dir>/keys/jwks.json`.
    fn keys(&self) -> anyhow::Result<Vec<IssuerKey>> {
        ISSUERS
            .iter()
            .map(|issuer| {
                let kid = format!("{issuer}/{}", self.run_id);
                let (private, _jwks) = crate::token::keygen(&KeygenArgs {
                    alg: tenantry_context_api::auth::Algorithm::EdDSA,
                    kid: kid.clone(),
                    out_dir: self.dir.join("keys"),
                })?;
                Ok(IssuerKey {
                    issuer: (*issuer).to_owned(),
                    private,
                    kid,
                })
            })
            .collect()
    }

    /// Two tokens per issuer (`tenantry token mint`), for every tenant.
    fn tokens(&self, keys: &[IssuerKey]) -> anyhow::Result<Vec<String>> {
        let mut tokens = Vec::new();
        for key in keys {
            for subject in SUBJECTS {
                tokens.push(crate::token::mint(&MintArgs {
                    key: Some(key.private.clone()),
                    hs256: false,
                    kid: Some(key.kid.clone()),
                    issuer: key.issuer.clone(),
                    audience: self.settings.auth.api_jwt_audience.clone(),
                    tenants: vec!["*".to_owned()],
                    ttl_secs: self.ttl,
                    subject: Some(subject.to_owned()),
                })?);
            }
        }
        Ok(tokens)
    }

    /// Readiness, the checks, the warm-up and measured wrk runs, and the
    /// sidecar's figures.
    async fn load(
        &self,
        sidecar: &mut Sidecar,
        keys: &[IssuerKey],
        paths: &Path,
        published: tenants::Published,
    ) -> anyhow::Result<ApiReport> {
        let args = self.args;
        let ready_after = sidecar.wait_ready().await?;
        tracing::info!(
            seconds = ready_after.as_secs_f64(),
            "Context sidecar ready."
        );
        let tokens = self.tokens(keys)?;
        check(sidecar, &tokens[0], &self.settings.saga.site_domain).await?;
        let memory_warm = sidecar.memory()?;
        let script = self.dir.join("load.lua");
        std::fs::write(&script, wrk::script(paths, &tokens, args.host_share))
            .with_context(|| format!("write {}", script.display()))?;
        let mut load = Load {
            threads: args.threads,
            connections: args.connections,
            duration: Duration::from_secs(args.warm_up_secs),
        };
        if args.warm_up_secs > 0 {
            tracing::info!(seconds = args.warm_up_secs, "Warm-up run.");
            let (warm, _) = wrk::run(self.wrk, &script, sidecar.base_url(), &load).await?;
            if warm.status_errors > 0 || warm.socket_errors() > 0 {
                bail!(
                    "the warm-up run had {} non-2xx answers and {} socket errors; the sidecar's \
                     log: {}",
                    warm.status_errors,
                    warm.socket_errors(),
                    sidecar.log.display()
                );
            }
        }
        load.duration = Duration::from_secs(args.duration_secs);
        let before = sidecar.metrics().await.map(|text| Scrape::parse(&text));
        let cpu_before = sidecar.cpu()?;
        tracing::info!(seconds = args.duration_secs, "Measured run.");
        let started = Instant::now();
        let (figures, wrk_cpu) = wrk::run(self.wrk, &script, sidecar.base_url(), &load).await?;
        let cpu = sidecar.cpu()?.saturating_sub(cpu_before);
        tracing::debug!(elapsed = ?started.elapsed(), "Measured run done.");
        let after = sidecar.metrics().await.map(|text| Scrape::parse(&text));
        let memory_after = sidecar.memory()?;
        let (hit_ratio, ok_ratio, api_non_2xx) = match (&before, &after) {
            (Ok(before), Ok(after)) => (
                after.hit_ratio_since(before),
                after.ok_ratio_since(before),
                Some(after.non_2xx_since(before)),
            ),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(error.message = %format!("{error:#}"), "No /metrics: the report has no hit ratio.");
                (None, None, None)
            }
        };
        let after = after.unwrap_or_default();
        Ok(ApiReport {
            tenants: args.tenants,
            topic: self.topic.to_owned(),
            published,
            ready_after,
            load,
            warm_up: Duration::from_secs(args.warm_up_secs),
            host_share: args.host_share,
            tokens: tokens.len(),
            issuers: keys.len(),
            sidecar_log: args.sidecar_log.clone(),
            wrk: figures,
            hit_ratio,
            ok_ratio,
            api_non_2xx,
            cache_entries: after.cache_entries,
            cache_bytes: after.cache_bytes,
            memory_warm,
            memory_after,
            sidecar_cpu: cpu,
            wrk_cpu,
        })
    }
}

/// Before any load: tenant 0 by id and by host answers `200` with its
/// context, and a request without a token is refused with `401` (the API
/// really checks tokens).
async fn check(sidecar: &Sidecar, token: &str, domain: &str) -> anyhow::Result<()> {
    let tenant = tenants::tenant_id(0);
    let host = tenants::site_host(0, domain);
    for path in [
        format!("/v1/tenants/{tenant}/context"),
        format!("/v1/sites/{host}/context"),
    ] {
        let (status, body) = sidecar.get(&path, token).await?;
        if status != 200 || !body.contains(&format!("\"{tenant}\"")) {
            bail!("GET {path} answered {status} {body}; expected 200 with {tenant}'s context");
        }
    }
    let path = format!("/v1/tenants/{tenant}/context");
    let (status, _) = sidecar.get(&path, "not-a-token").await?;
    if status != 401 {
        bail!(
            "GET {path} with a bad token answered {status}, not 401: is the API checking tokens?"
        );
    }
    Ok(())
}

/// A port nothing listens on now (the kernel's choice for port 0).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}
