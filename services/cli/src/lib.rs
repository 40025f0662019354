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
//! defaults ([`settings::Settings`]).

pub mod bench;
pub mod completions;
pub mod dev;
pub mod dlq;
pub mod output;
pub mod publish;
pub mod services;
pub mod settings;
pub mod telemetry_args;
pub mod token;

use clap::{Parser, Subcommand};
use settings::Settings;

/// Tenantry: event-sourced tenant provisioning.
#[derive(Debug, Parser)]
#[command(name = "tenantry", version, about)]
pub struct Cli {
    /// Shared settings.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish commerce events to commerce.lifecycle.v1.
    Publish(Box<publish::PublishArgs>),
    /// Rebuild the tenant context store from the provisioning topic, from the beginning.
    ///
    /// With --json: `{"records_read", "events_applied", "skipped", "tenants"}` (counts).
    Replay(output::JsonArgs),
    /// Publish every tenant's state again (or the named tenants'), rebuilt from the
    /// provisioner's store: upgrades a store of the previous event contract and
    /// refills a lost context store. The running provisioner's relay sends them.
    ///
    /// With --json: `{"queued_tenants", "outbox_pending"}` (counts).
    Republish(services::RepublishArgs),
    /// Run the provisioner (commerce events → sagas → outbox → provisioning events).
    Provisioner,
    /// Run the projector (events → tenant context store).
    Projector,
    /// Run the context API (HTTP read side): contexts from a cache kept by the
    /// changelog topic, misses from the context store.
    ContextApi,
    /// Run the context API next to an edge with no database: the cache is
    /// filled from the changelog topic only and every answer comes from memory.
    ContextSidecar,
    /// Run everything in one process on an embedded broker and SQLite files
    /// (--bootstrap and the database URLs do not apply: dev starts its own).
    Dev(dev::DevArgs),
    /// Inspect sagas; retry or skip parked tenants.
    Sagas(services::SagasArgs),
    /// Inspect and redrive the commerce dead-letter topic.
    Dlq(dlq::DlqArgs),
    /// Benchmark: provision N tenants on the local stack; print throughput, latency, CPU, RSS.
    /// `bench kms`: KMS calls per seal; `bench contexts`: context store PostgreSQL vs DynamoDB;
    /// `bench api`: context sidecar requests/s and latency under wrk.
    Bench(bench::BenchArgs),
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
    Migrate(output::JsonArgs),
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
        Command::Dev(_)
            | Command::Publish(_)
            | Command::Replay(_)
            | Command::Republish(_)
            | Command::Sagas(_)
            | Command::Dlq(_)
            | Command::Migrate(_)
            | Command::Token(_)
            | Command::Completions(_)
    );
    settings::init_tracing(&cli.settings, quiet);
    match cli.command {
        Command::Publish(args) => publish::run(&cli.settings, *args).await,
        Command::Replay(args) => services::replay(&cli.settings, args.json).await,
        Command::Republish(args) => services::republish(&cli.settings, args).await,
        Command::Provisioner => services::provisioner(&cli.settings).await,
        Command::Projector => services::projector(&cli.settings).await,
        Command::ContextApi => services::context_api(&cli.settings).await,
        Command::ContextSidecar => services::context_sidecar(&cli.settings).await,
        Command::Dev(args) => dev::run(&cli.settings, args).await,
        Command::Sagas(args) => services::sagas(&cli.settings, args).await,
        Command::Dlq(args) => dlq::run(&cli.settings, args).await,
        Command::Bench(args) => bench::run(&cli.settings, args).await,
        Command::Migrate(args) => services::migrate(&cli.settings, args.json).await,
        Command::Token(args) => token::run(args),
        Command::Completions(args) => completions::run(args),
    }
}
