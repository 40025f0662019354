//! `tenantry replay`: rebuild tenant contexts from the provisioning topic
//! and bring the store to them, as the projector would have.
//!
//! A replay reads the provisioning topic from its beginning to the end it
//! has when the replay starts ([`tenantry_kafka::read_to_end_reporting`]), folds every
//! record of the tenants in [`Scope`] (DESIGN.md "Replay equals live": the
//! fold is the projector's), then compares each tenant's rebuilt context
//! with the stored one ([`diff`]):
//!
//! - equal: nothing is done;
//! - the stored one is newer (higher provisioning sequence): a projector
//!   applied a record written after the replay read to the end; kept;
//! - stored, not rebuilt (the topic has no tenant state of the tenant):
//!   kept and reported as missing ([`ReplayReport::missing`]) — a destroyed
//!   tenant keeps its last state in the topic, so this means lost topic
//!   records far more often than a removed tenant; deleted only with
//!   [`Missing::Delete`] (`--delete-missing`);
//! - otherwise the rebuilt context is written with compare-and-set on the
//!   stored revision (so revisions keep rising across replays), and with
//!   [`Missing::Delete`] a stored context the rebuild does not have is
//!   deleted the same way; a context that changed meanwhile is read and
//!   compared again.
//!
//! Each write is published on the changelog as the projector publishes it
//! (a [`ContextChange`] with the new revision, key the tenant id), each
//! delete as a tombstone (key the tenant id, no value), so context API
//! caches follow — unless [`ReplayOptions::changelog`] is
//! [`Changelog::Off`] (a store no API reads yet). [`Mode::DryRun`] does the
//! comparison only.

mod diff;
mod write;

pub use diff::{ContextDiff, Difference, FieldChange, Missing, MissingContext, field_changes};

use crate::Changelog;
use crate::apply::decode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, ReadProgress, Record, read_to_end_reporting};
use tenantry_sagas::{ContextChange, TenantContext, TenantContexts};
use tenantry_schemas::{Codec, TenantId, Topics};

/// Which tenants a replay rebuilds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant: the topic's, and the store's (a stored tenant the
    /// topic has no tenant state of is handled as [`ReplayOptions::missing`]
    /// says).
    All,
    /// Only these tenants; every other stored context is left as it is. A
    /// named tenant the topic has no tenant state of is reported in
    /// [`ReplayReport::unknown`] (and its stored context, if any, handled
    /// as [`ReplayOptions::missing`] says).
    Tenants(BTreeSet<TenantId>),
}

/// Whether a replay writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write the differences to the store and publish them on the changelog.
    Write,
    /// Compare only: nothing is written or published.
    DryRun,
}

/// What to replay and how.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Which tenants.
    pub scope: Scope,
    /// Write or compare.
    pub mode: Mode,
    /// What becomes of a stored context of the scope that the topic has no
    /// tenant state of: kept and reported ([`Missing::Keep`], the default),
    /// or deleted with a tombstone ([`Missing::Delete`]).
    pub missing: Missing,
    /// Longest the read of the topic may take.
    pub timeout: Duration,
    /// Whether [`Mode::Write`] publishes its writes on the changelog:
    /// [`Changelog::Publish`] for the store the context APIs read,
    /// [`Changelog::Off`] for a store they do not read yet (the green store
    /// of a blue-green rebuild, whose projector publishes nothing either).
    pub changelog: Changelog,
    /// Told how far the read of the topic got (a progress bar); `None`:
    /// nothing is told.
    pub progress: Option<ReadProgress>,
}

/// What a replay found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records read from the provisioning topic.
    pub records_read: usize,
    /// Records of tenants outside the scope, passed over by key without
    /// being decoded.
    pub passed_over: usize,
    /// Records that changed a rebuilt context.
    pub events_applied: usize,
    /// Records of the scope not applied: undecodable, older than a record
    /// already applied, or of the retired saga kinds.
    pub skipped: usize,
    /// Contexts rebuilt (tenants with a tenant state in the topic, in scope).
    pub tenants: usize,
    /// Tenants whose stored context equals the rebuilt one.
    pub unchanged: usize,
    /// Tenants whose stored context differs, by tenant id: in
    /// [`Mode::Write`], as they were before the replay wrote them.
    pub differences: Vec<ContextDiff>,
    /// Tenants kept because the store holds a newer tenant state than the
    /// rebuild (see the module docs).
    pub newer_in_store: Vec<TenantId>,
    /// Stored contexts the topic has no tenant state of, kept as they are
    /// ([`Missing::Keep`]), by tenant id. With [`Missing::Delete`] they are
    /// [`Difference::Removed`] instead.
    pub missing: Vec<MissingContext>,
    /// Tenants named in [`Scope::Tenants`] that have no tenant state in the
    /// topic.
    pub unknown: Vec<TenantId>,
    /// Whether the differences were written ([`Mode::Write`]).
    pub written: bool,
    /// Whether what was written was published on the changelog.
    pub published: bool,
}

/// Contexts compared (and written) per round: one `get_many` and one
/// compare-and-set write each.
const CHUNK: usize = 500;

/// Rebuilds the contexts of `options.scope` from the provisioning topic and
/// compares them with `store`; with [`Mode::Write`] writes the differences
/// (compare-and-set) and publishes each on `topics.changelog` (created,
/// compacted, when missing).
///
/// Errors: the broker, the store or the registry is unreachable; the read
/// takes longer than `options.timeout`; a publish fails after its context
/// was written (the error says so: the store has it, the changelog may not).
pub async fn replay(
    kafka: &KafkaConfig,
    topics: &Topics,
    codec: &Codec,
    store: &dyn TenantContexts,
    options: &ReplayOptions,
) -> anyhow::Result<ReplayReport> {
    // The stored tenants are listed before the topic is read: each was
    // written from a record already in the topic, so the read has it. A
    // context a live projector stores after this list is never deleted (or
    // reported missing) as absent from a rebuild that read too early.
    let stored: BTreeSet<TenantId> = match &options.scope {
        Scope::All => store
            .all()
            .await?
            .into_iter()
            .map(|c| c.tenant_id)
            .collect(),
        Scope::Tenants(named) => {
            let named: Vec<&TenantId> = named.iter().collect();
            store.get_many(&named).await?.into_keys().collect()
        }
    };
    let records = read_to_end_reporting(
        kafka,
        &topics.provisioning,
        options.timeout,
        options.progress.clone(),
    )
    .await?;
    let rebuilt = rebuild(codec, &records, &options.scope).await?;
    let tenants: Vec<TenantId> = match &options.scope {
        Scope::Tenants(named) => named.iter().cloned().collect(),
        Scope::All => {
            let mut all = stored.clone();
            all.extend(rebuilt.contexts.keys().cloned());
            all.into_iter().collect()
        }
    };
    let unknown = match &options.scope {
        Scope::Tenants(named) => named
            .iter()
            .filter(|tenant| !rebuilt.contexts.contains_key(*tenant))
            .cloned()
            .collect(),
        Scope::All => Vec::new(),
    };
    let mut publisher = match (options.mode, options.changelog) {
        (Mode::Write, Changelog::Publish) => Some(write::Publisher::new(kafka, topics).await?),
        (Mode::Write, Changelog::Off) | (Mode::DryRun, _) => None,
    };
    let mut report = ReplayReport {
        records_read: records.len(),
        passed_over: rebuilt.passed_over,
        events_applied: rebuilt.applied,
        skipped: rebuilt.skipped,
        tenants: rebuilt.contexts.len(),
        unchanged: 0,
        differences: Vec::new(),
        newer_in_store: Vec::new(),
        missing: Vec::new(),
        unknown,
        written: options.mode == Mode::Write,
        published: publisher.is_some(),
    };
    for chunk in tenants.chunks(CHUNK) {
        let outcome = write::reconcile(
            store,
            &rebuilt.contexts,
            &stored,
            chunk,
            options.mode,
            options.missing,
        )
        .await?;
        if let Some(publisher) = publisher.as_mut() {
            publisher.publish(&outcome.published).await?;
        }
        report.unchanged += outcome.unchanged;
        report.differences.extend(outcome.differences);
        report.newer_in_store.extend(outcome.newer_in_store);
        report.missing.extend(outcome.missing);
    }
    if let Some(publisher) = publisher {
        publisher.flush().await?;
    }
    if !report.missing.is_empty() {
        tracing::warn!(
            missing = report.missing.len(),
            topic = %topics.provisioning,
            "Stored contexts with no tenant state in the topic were kept; has the topic lost \
             records (retention, a wrong topic suffix)? Only --delete-missing deletes them."
        );
    }
    Ok(report)
}

/// The rebuilt contexts and what the fold made of the records.
struct Rebuilt {
    contexts: BTreeMap<TenantId, TenantContext>,
    passed_over: usize,
    applied: usize,
    skipped: usize,
}

/// Folds `records` (in the topic's order per partition) into one context
/// per tenant of `scope`. A record whose key names a tenant outside the
/// scope is passed over without decoding (the relay keys every record by
/// its tenant id); one without a readable key is decoded and kept by its
/// envelope's tenant.
async fn rebuild(
    codec: &Codec,
    records: &[Record],
    scope: &Scope,
) -> Result<Rebuilt, tenantry_schemas::DecodeError> {
    let named: Option<BTreeSet<&str>> = match scope {
        Scope::All => None,
        Scope::Tenants(tenants) => Some(tenants.iter().map(TenantId::as_str).collect()),
    };
    let in_scope = |tenant: &str| named.as_ref().is_none_or(|named| named.contains(tenant));
    let mut rebuilt = Rebuilt {
        contexts: BTreeMap::new(),
        passed_over: 0,
        applied: 0,
        skipped: 0,
    };
    for record in records {
        if let Some(key) = record.key_str()
            && !in_scope(key)
        {
            rebuilt.passed_over += 1;
            continue;
        }
        let Some(decoded) = decode(codec, record).await? else {
            rebuilt.skipped += 1;
            continue;
        };
        let tenant = &decoded.envelope.tenant_id;
        if !in_scope(tenant.as_str()) {
            rebuilt.passed_over += 1;
            continue;
        }
        let context = rebuilt
            .contexts
            .entry(tenant.clone())
            .or_insert_with(|| TenantContext::empty(tenant.clone()));
        if context.apply(&decoded) {
            rebuilt.applied += 1;
        } else {
            rebuilt.skipped += 1;
        }
    }
    // Tenants seen only in retired saga records have no state to show.
    rebuilt
        .contexts
        .retain(|_, context| context.version.provisioning_sequence > 0);
    Ok(rebuilt)
}

/// What goes to the changelog for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Published {
    /// A context written, with its new revision.
    Version(Box<ContextChange>),
    /// A context deleted: a tombstone.
    Removed(TenantId),
}
