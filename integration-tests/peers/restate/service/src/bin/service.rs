//! `restate-peer-service`: the Restate SDK endpoint of the peer.
//!
//! Creates its database and table if missing (and empties the table, so
//! every run starts alike), then serves the workflow on `--listen` until
//! SIGTERM or Ctrl-C.

use anyhow::Context as _;
use clap::Parser;
use restate_peer::{STEPS, TABLE};
use restate_sdk::prelude::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::net::SocketAddr;
use std::str::FromStr;

#[derive(Debug, Parser)]
#[command(about = "The Restate peer's workflow service (seven journaled steps).")]
struct Args {
    /// Address to serve the Restate endpoint on (HTTP/2 cleartext).
    #[arg(long, default_value = "127.0.0.1:9080")]
    listen: SocketAddr,
    /// PostgreSQL server to use; only its host, port and user are taken.
    #[arg(
        long,
        env = "TENANTRY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/tenantry"
    )]
    database_url: String,
    /// The peer's own database on that server, created when missing.
    #[arg(long, default_value = "restate_peer")]
    database: String,
    /// Connections in the pool (Tenantry's provisioner uses 8 as well).
    #[arg(long, default_value_t = 8)]
    pool: u32,
    /// Steps do nothing: measures Restate alone, without PostgreSQL.
    #[arg(long)]
    noop: bool,
    /// Leave Nagle's algorithm on (the SDK's default), to show the stall
    /// TCP_NODELAY removes; never for a comparison.
    #[arg(long)]
    no_nodelay: bool,
}

/// The workflow. `pool` is `None` in `--noop` mode.
struct PeerWorkflow {
    pool: Option<PgPool>,
}

#[restate_sdk::workflow(name = "PeerWorkflow")]
impl PeerWorkflow {
    /// Seven sequential journaled steps; each is one `INSERT` of
    /// (workflow key, step), idempotent like a Tenantry step.
    #[handler]
    async fn run(&self, ctx: WorkflowContext<'_>) -> HandlerResult<()> {
        let key = ctx.key().to_owned();
        for step in STEPS {
            let (pool, key) = (self.pool.clone(), key.clone());
            ctx.run(|| async move {
                if let Some(pool) = pool {
                    sqlx::query(&format!(
                        "INSERT INTO {TABLE} (workflow, step) VALUES ($1, $2) ON CONFLICT DO NOTHING"
                    ))
                    .bind(key)
                    .bind(step)
                    .execute(&pool)
                    .await?;
                }
                Ok(())
            })
            .name(step)
            .await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let pool = if args.noop {
        None
    } else {
        Some(prepare_database(&args).await?)
    };
    // restate-sdk 0.13's server does not set TCP_NODELAY on the connections
    // it accepts. With Nagle's algorithm and delayed ACKs, every step whose
    // `ctx.run` waits on real I/O stalls about 40 ms (311 ms per workflow
    // instead of 8.7 ms at concurrency 1). Linux hands the listening socket's
    // TCP_NODELAY down to every accepted socket, so set it here.
    let socket = match args.listen {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(!args.no_nodelay)?;
    socket
        .bind(args.listen)
        .with_context(|| format!("bind {}", args.listen))?;
    let listener = socket.listen(1024)?;
    eprintln!(
        "restate-peer-service listening on {}",
        listener.local_addr()?
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    HttpServer::new(Endpoint::builder().bind(PeerWorkflow { pool }).build())
        .serve_with_cancel(listener, async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await;
    Ok(())
}

/// Creates the database and the table when missing, empties the table, and
/// returns a pool of `--pool` connections, all opened before the first step.
async fn prepare_database(args: &Args) -> anyhow::Result<PgPool> {
    let server = PgConnectOptions::from_str(&args.database_url)
        .context("--database-url")?
        .disable_statement_logging();
    let mut admin = server
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("connect to the PostgreSQL server")?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&args.database)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE \"{}\"", args.database))
            .execute(&mut admin)
            .await
            .with_context(|| format!("create database {}", args.database))?;
    }
    admin.close().await?;
    let pool = PgPoolOptions::new()
        .max_connections(args.pool)
        .min_connections(args.pool)
        .connect_with(server.database(&args.database))
        .await
        .with_context(|| format!("connect to database {}", args.database))?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (\
         workflow text NOT NULL, step text NOT NULL, \
         at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (workflow, step))"
    ))
    .execute(&pool)
    .await?;
    sqlx::query(&format!("TRUNCATE {TABLE}"))
        .execute(&pool)
        .await?;
    Ok(pool)
}
