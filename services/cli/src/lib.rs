//! The `tenantry` command line: one binary for every role.
//!
//! - `publish`: one commerce event from flags, or a JSON-lines batch ([`publish`]).
//! - `provisioner`, `projector`, `context-api`, `context-sidecar`: run one
//!   service ([`services`]).
//! - `replay`: rebuild the context store from the provisioning topic.
//! - `republish`: publish every tenant's state again from the provisioner's store.
//! - `dev [--demo]`: everything in one process on the embedded default —
//!   librdkafka's mock cluster and SQLite files ([`dev`]).
//! - `sagas list|show|retry|skip`: inspect sagas, release parked tenants.
//! - `dlq list|redrive`: the commerce dead-letter topic.
//! - `token keygen|mint`: service-token keys and tokens for the context API ([`token`]).
//! - `completions bash|zsh|fish`: a shell completion script ([`completions`]).
//!
//! The commands that print data (`sagas list|show`, `dlq list`, `replay`,
//! `republish`, `migrate`) take `--json`: one JSON document on stdout instead
//! of text ([`output`]).
//!
//! Settings come from flags, then `TENANTRY_*` environment variables, then
//! defaults; each command takes only its own flags ([`settings`]).

pub mod admin;
pub mod bench;
pub mod completions;
pub mod dev;
pub mod dlq;
pub mod output;
pub mod progress;
pub mod projector_args;
pub mod publish;
pub mod replay;
pub mod services;
pub mod settings;
pub mod telemetry_args;
pub mod token;
pub mod usage;

use clap::{Parser, Subcommand};
use settings::{Settings, flags};

/// Tenantry: event-sourced tenant provisioning.
#[derive(Debug, Parser)]
#[command(name = "tenantry", version, about)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `tenantry_provisioner=debug`.
    #[arg(long, global = true, env = "TENANTRY_LOG", value_parser = settings::parse_log_filter)]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands, each with its own flags ([`flags`]).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish commerce events to commerce.lifecycle.v1.
    Publish {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: Box<publish::PublishArgs>,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: Box<flags::Publish>,
    },
    /// Rebuild tenant contexts (all, or --tenant's) from the provisioning topic; write
    /// the differences with compare-and-set and publish them on the changelog, or with
    /// --dry-run / --check only print them.
    ///
    /// With --json: `{"dry_run", "records_read", "passed_over", "events_applied",
    /// "skipped", "tenants", "unchanged", "caught_up", "differences": [{"tenant_id",
    /// "change": "added"|"removed"|"changed", "revision", "fields": [{"field", "stored",
    /// "rebuilt"}], "context"}], "newer_in_store": [ids], "missing": [ids], "unknown": [ids]}`.
    Replay {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: replay::ReplayArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: Box<flags::Replay>,
    },
    /// Publish every tenant's state again (or the named tenants'), rebuilt from the
    /// provisioner's store: upgrades a store of the previous event contract and
    /// refills a lost context store. The running provisioner's relay sends them.
    ///
    /// With --json: `{"queued_tenants", "outbox_pending"}` (counts).
    Republish {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: services::RepublishArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::SagaStore,
    },
    /// Run the provisioner (commerce events → sagas → outbox → provisioning events).
    Provisioner(Box<flags::Provisioner>),
    /// Run the projector (events → tenant context store).
    Projector {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: projector_args::ProjectorArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: Box<flags::Projector>,
    },
    /// Run the context API (HTTP read side): contexts from a cache kept by the
    /// changelog topic, misses from the context store.
    ContextApi(Box<flags::ContextApi>),
    /// Run the context API next to an edge with no database: the cache is
    /// filled from the changelog topic only and every answer comes from memory.
    ContextSidecar(Box<flags::ContextSidecar>),
    /// Serve the operators' per-tenant timeline page with saga retry and skip (/admin/tenants/<id>).
    Admin(Box<flags::Admin>),
    /// Run everything in one process on an embedded broker and SQLite files.
    Dev {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: dev::DevArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: Box<flags::Dev>,
    },
    /// Inspect sagas; retry or skip parked tenants.
    Sagas(services::SagasArgs),
    /// Inspect and redrive the commerce dead-letter topic.
    Dlq(dlq::DlqArgs),
    /// Benchmark: provision N tenants on the local stack; print throughput, latency, CPU, RSS.
    /// `bench kms`: KMS calls per seal; `bench contexts`: context store PostgreSQL vs DynamoDB;
    /// `bench api`: context sidecar requests/s and latency under wrk.
    Bench(Box<bench::BenchArgs>),
    /// Service tokens for the context API: `keygen` (a key pair and its JWK
    /// set), `mint` (a token signed with a local private key).
    Token(token::TokenArgs),
    /// Create or upgrade the stores: the saga and event store
    /// (--database-url), the context store (--context-database-url, or the
    /// DynamoDB table with --context-store dynamodb). Idempotent; the
    /// services also do it when they start.
    ///
    /// With --json: `{"store": masked URL, "context_store": {"kind": "sql",
    /// "url": masked URL} or {"kind": "dynamodb", "table": name}}`.
    Migrate {
        #[allow(missing_docs)]
        #[command(flatten)]
        args: output::JsonArgs,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::Migrate,
    },
    /// Print a shell completion script on stdout.
    ///
    /// Where to save it: bash, `~/.local/share/bash-completion/completions/tenantry`;
    /// zsh, `_tenantry` in a directory of `$fpath`; fish,
    /// `~/.config/fish/completions/tenantry.fish`.
    Completions(completions::CompletionsArgs),
}

/// Runs a parsed command line.
///
/// Errors: anything that stops the command, as one chain of reasons.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = matches!(
        cli.command,
        Command::Dev { .. }
            | Command::Publish { .. }
            | Command::Replay { .. }
            | Command::Republish { .. }
            | Command::Sagas(_)
            | Command::Dlq(_)
            | Command::Migrate { .. }
            | Command::Token(_)
            | Command::Completions(_)
    );
    let log = cli.log.as_deref();
    let _traces = settings::init_tracing(log, quiet, &telemetry_args::select_traces(&cli.command));
    match cli.command {
        Command::Publish { args, flags } => publish::run(&Settings::of(*flags, log), *args).await,
        Command::Replay { args, flags } => replay::run(&Settings::of(*flags, log), args).await,
        Command::Republish { args, flags } => {
            services::republish(&Settings::of(flags, log), args).await
        }
        Command::Provisioner(flags) => services::provisioner(&Settings::of(*flags, log)).await,
        Command::Projector { args, flags } => {
            services::projector(&Settings::of(*flags, log), &args).await
        }
        Command::ContextApi(flags) => services::context_api(&Settings::of(*flags, log)).await,
        Command::ContextSidecar(flags) => {
            services::context_sidecar(&Settings::of(*flags, log)).await
        }
        Command::Admin(flags) => admin::run(&Settings::of(*flags, log)).await,
        Command::Dev { args, flags } => dev::run(&Settings::of(*flags, log), args).await,
        Command::Sagas(args) => services::sagas(args, log).await,
        Command::Dlq(args) => dlq::run(args, log).await,
        Command::Bench(args) => bench::run(*args, log).await,
        Command::Migrate { args, flags } => {
            services::migrate(&Settings::of(flags, log), args.json).await
        }
        Command::Token(args) => token::run(args),
        Command::Completions(args) => completions::run(args),
    }
}
