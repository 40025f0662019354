//! The `--json` documents of the commands that print data (`sagas list|show|retry|skip`,
//! `dlq list|redrive`, `republish`, `migrate`, `token keygen|mint`; `replay`'s is in
//! [`crate::replay`], `publish`'s in [`crate::publish`]).
//!
//! Each document is built by a pure function from what the command read, into
//! a small struct of this module, so the JSON field names (snake_case) are
//! the CLI's contract and do not move when a domain type changes. A command
//! prints exactly one document on stdout: an array for a list (`[]` when
//! empty), an object otherwise. Absent values are `null`, never left out.

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::io::Write;
use tenantry_kafka::Record;
use tenantry_sagas::SagaState;
use tenantry_store::parking::Parked;

/// `--json` of a command: one JSON document on stdout instead of text.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Prints `document` as one line of JSON on stdout ([`write_stdout`]).
///
/// Errors: `document` does not serialize (not expected of this module's
/// structs); stdout cannot be written.
pub fn print<T: Serialize>(document: &T) -> anyhow::Result<()> {
    let mut line = serde_json::to_string(document)?;
    line.push('\n');
    write_stdout(line.as_bytes())
}

/// Writes `bytes` to stdout. A reader that closed the pipe early
/// (`tenantry … | head -1`) is not an error: it has what it wanted, and
/// `println!` would panic there instead.
///
/// Errors: any other write error of stdout.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("stdout"),
    }
}

/// One saga, as in `sagas list` and `sagas show`.
#[derive(Debug, Serialize, PartialEq)]
pub struct SagaRow {
    /// Saga id (UUID).
    pub saga_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Saga kind (`provision_product`, …).
    pub kind: &'static str,
    /// Status (`running`, `compensating`, `failed`, …).
    pub status: &'static str,
    /// Compare-and-set version, +1 per transition.
    pub version: i64,
    /// Commerce sequence of the event that started it.
    pub trigger_sequence: i64,
    /// Product key of a product saga, else `null`.
    pub product: Option<String>,
    /// Steps completed, in step order.
    pub steps: Vec<&'static str>,
    /// Steps compensated, in the order they were undone.
    pub compensated: Vec<&'static str>,
    /// Why the saga failed, else `null`.
    pub failure: Option<String>,
    /// Failed at a step blocked outside Tenantry (a retry resumes there).
    pub blocked: bool,
}

impl From<&SagaState> for SagaRow {
    fn from(saga: &SagaState) -> Self {
        Self {
            saga_id: saga.saga_id.to_string(),
            tenant_id: saga.tenant_id.to_string(),
            kind: saga.kind.as_str(),
            status: saga.status.as_str(),
            version: saga.version,
            trigger_sequence: saga.trigger_sequence,
            product: saga.product().map(ToString::to_string),
            steps: saga.results.keys().map(|s| s.name()).collect(),
            compensated: saga.compensated.iter().map(|s| s.name()).collect(),
            failure: saga.failure.clone(),
            blocked: saga.blocked,
        }
    }
}

/// One parked tenant, as in `sagas list --parked` and `sagas show`.
#[derive(Debug, Serialize, PartialEq)]
pub struct ParkedRow {
    /// Tenant id.
    pub tenant_id: String,
    /// `saga_failed` or `sequence_gap`.
    pub kind: String,
    /// Operator-facing reason.
    pub reason: String,
    /// The failed saga (for `saga_failed`), else `null`.
    pub saga_id: Option<String>,
    /// The event the tenant is parked at, else `null`.
    pub event_id: Option<String>,
    /// Operator action requested and not yet carried out (`retry`, `skip`), else `null`.
    pub action: Option<String>,
    /// When it was parked, Unix milliseconds.
    pub parked_at_ms: i64,
    /// Events waiting behind it.
    pub waiting: i64,
}

impl From<&Parked> for ParkedRow {
    fn from(p: &Parked) -> Self {
        Self {
            tenant_id: p.tenant_id.clone(),
            kind: p.kind.clone(),
            reason: p.reason.clone(),
            saga_id: p.saga_id.clone(),
            event_id: p.event_id.clone(),
            action: p.action.clone(),
            parked_at_ms: p.parked_at,
            waiting: p.waiting,
        }
    }
}

/// One commerce event of a tenant's stream (`sagas show`).
#[derive(Debug, Serialize, PartialEq)]
pub struct EventRow {
    /// Commerce sequence.
    pub sequence: i64,
    /// Event kind (`tenant_created`, …).
    pub kind: String,
    /// `processed`, `stale` or `waiting`.
    pub state: String,
}

/// One rejected commerce event of a tenant (`sagas show`).
#[derive(Debug, Serialize, PartialEq)]
pub struct RejectionRow {
    /// Commerce sequence.
    pub sequence: i64,
    /// Event kind.
    pub kind: String,
    /// Why it was rejected.
    pub reason: String,
}

/// `sagas show <tenant> --json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct TenantReport {
    /// Tenant id.
    pub tenant_id: String,
    /// Its sagas, oldest first.
    pub sagas: Vec<SagaRow>,
    /// Its commerce events, by sequence.
    pub events: Vec<EventRow>,
    /// Its rejected events.
    pub rejections: Vec<RejectionRow>,
    /// Its parking, else `null`.
    pub parked: Option<ParkedRow>,
}

impl TenantReport {
    /// The report of `tenant` from what the store holds of it: sagas, the
    /// event stream and rejections as `(sequence, kind, state or reason)`.
    pub fn new(
        tenant: &str,
        sagas: &[SagaState],
        events: &[(i64, String, String)],
        rejections: &[(i64, String, String)],
        parked: Option<&Parked>,
    ) -> Self {
        Self {
            tenant_id: tenant.to_owned(),
            sagas: sagas.iter().map(SagaRow::from).collect(),
            events: events
                .iter()
                .map(|(sequence, kind, state)| EventRow {
                    sequence: *sequence,
                    kind: kind.clone(),
                    state: state.clone(),
                })
                .collect(),
            rejections: rejections
                .iter()
                .map(|(sequence, kind, reason)| RejectionRow {
                    sequence: *sequence,
                    kind: kind.clone(),
                    reason: reason.clone(),
                })
                .collect(),
            parked: parked.map(ParkedRow::from),
        }
    }
}

/// One dead-lettered record (`dlq list`).
#[derive(Debug, Serialize, PartialEq)]
pub struct DlqRow {
    /// Partition of the dead-letter topic.
    pub partition: i32,
    /// Offset in that partition (what `dlq redrive --offset` takes).
    pub offset: i64,
    /// Record key (the tenant id), else `null`.
    pub key: Option<String>,
    /// Topic it came from (header `dlq.source.topic`), else `null`.
    pub source_topic: Option<String>,
    /// Partition it came from (`dlq.source.partition`), else `null`.
    pub source_partition: Option<i32>,
    /// Offset it came from (`dlq.source.offset`), else `null`.
    pub source_offset: Option<i64>,
    /// Why it was dead-lettered (`dlq.reason`), else `null`.
    pub reason: Option<String>,
}

impl From<&Record> for DlqRow {
    fn from(r: &Record) -> Self {
        let header = |name: &str| {
            r.header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        Self {
            partition: r.partition,
            offset: r.offset,
            key: r.key_str().map(str::to_owned),
            source_topic: header("dlq.source.topic"),
            source_partition: header("dlq.source.partition").and_then(|v| v.parse().ok()),
            source_offset: header("dlq.source.offset").and_then(|v| v.parse().ok()),
            reason: header("dlq.reason"),
        }
    }
}

/// `republish --json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct RepublishRow {
    /// Tenants whose state was queued in the outbox.
    pub queued_tenants: usize,
    /// Records waiting in the outbox for the provisioner's relay.
    pub outbox_pending: i64,
}

/// `migrate --json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct MigrateRow {
    /// The saga and event store migrated, its URL with the password masked.
    pub store: String,
    /// The context store made ready.
    pub context_store: ContextStoreRow,
}

/// Which context store `migrate` made ready: `{"kind": "sql", "url": …}` or
/// `{"kind": "dynamodb", "table": …}`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContextStoreRow {
    /// A SQL database, migrated; its URL with the password masked.
    Sql {
        /// Masked URL.
        url: String,
    },
    /// A DynamoDB table, created when missing.
    Dynamodb {
        /// Table name.
        table: String,
    },
}

/// `sagas retry|skip --json`: the operator action recorded for a parked
/// tenant (the provisioner carries it out).
#[derive(Debug, Serialize, PartialEq)]
pub struct RequestedRow {
    /// Tenant id.
    pub tenant_id: String,
    /// `retry` or `skip`.
    pub action: &'static str,
}

/// `dlq redrive --json`: where a dead-lettered record was republished.
#[derive(Debug, Serialize, PartialEq)]
pub struct RedrivenRow {
    /// `<partition>:<offset>` of the record in the dead-letter topic.
    pub from: String,
    /// The source topic it went back to.
    pub topic: String,
    /// Partition it was written to.
    pub partition: i32,
    /// Offset it was written at.
    pub offset: i64,
}

/// `token keygen --json`: the files written.
#[derive(Debug, Serialize, PartialEq)]
pub struct KeygenRow {
    /// Key id.
    pub kid: String,
    /// Path of the private key (PKCS#8 PEM, mode 0600).
    pub private_key: String,
    /// Path of the JWK set the public key was added to.
    pub jwks: String,
}

/// `token mint --json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct TokenRow {
    /// The compact JWS.
    pub token: String,
}

#[cfg(test)]
mod tests;
