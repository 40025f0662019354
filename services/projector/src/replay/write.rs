//! Bringing the store to the rebuilt contexts ([`reconcile`]) and
//! publishing what was written ([`Publisher`]).

use super::diff::{ContextDiff, Difference, Missing, MissingContext, Verdict, compare};
use super::{Mode, Published};
use anyhow::Context as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, Producer};
use tenantry_sagas::{ContextChange, ContextsError, TenantContext, TenantContexts};
use tenantry_schemas::{TenantId, Topics};

/// Rounds of read, compare and compare-and-set for one chunk before giving
/// up: each lost round means a projector wrote the same tenant meanwhile.
const ROUNDS: usize = 20;

/// How long the producer may take to deliver what is queued at the end.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// What one chunk of tenants came to.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub unchanged: usize,
    pub differences: Vec<ContextDiff>,
    pub newer_in_store: Vec<TenantId>,
    /// Stored contexts the rebuild lacks, kept ([`Missing::Keep`]), by
    /// tenant id.
    pub missing: Vec<MissingContext>,
    /// What to publish, in tenant order ([`Mode::Write`] only).
    pub published: Vec<Published>,
}

/// Compares the stored contexts of `tenants` with `rebuilt` and, in
/// [`Mode::Write`], writes each difference with compare-and-set on the
/// revision read: a rebuilt context is put at `revision + 1` (or inserted
/// at 1). A stored context the rebuild lacks is kept as newer if it is
/// not one of `stored_before` (stored before the topic was read: a
/// projector stored it from a record the read did not reach); otherwise,
/// with `missing` [`Missing::Delete`], it is deleted at its revision, and
/// with [`Missing::Keep`] left as it is and reported in
/// [`Outcome::missing`]. A tenant whose write lost (a projector wrote it
/// since the read) is read and compared again.
///
/// Errors: the store's; [`ContextsError::Unavailable`] when a tenant kept
/// changing for [`ROUNDS`] rounds.
pub(crate) async fn reconcile(
    store: &dyn TenantContexts,
    rebuilt: &BTreeMap<TenantId, TenantContext>,
    stored_before: &BTreeSet<TenantId>,
    tenants: &[TenantId],
    mode: Mode,
    missing: Missing,
) -> Result<Outcome, ContextsError> {
    let mut outcome = Outcome::default();
    let mut pending: Vec<TenantId> = tenants.to_vec();
    for _ in 0..ROUNDS {
        if pending.is_empty() {
            break;
        }
        let refs: Vec<&TenantId> = pending.iter().collect();
        let stored = store.get_many(&refs).await?;
        let mut puts: Vec<(TenantContext, Option<i64>)> = Vec::new();
        let mut deletes: Vec<(TenantId, i64)> = Vec::new();
        let mut found: BTreeMap<TenantId, Difference> = BTreeMap::new();
        for tenant in &pending {
            let current = stored
                .get(tenant)
                .map(|(context, revision)| (context, *revision));
            let rebuilt = rebuilt.get(tenant);
            let difference = match compare(current, rebuilt, missing) {
                Verdict::Absent => continue,
                Verdict::Same => {
                    outcome.unchanged += 1;
                    continue;
                }
                Verdict::NewerInStore => {
                    outcome.newer_in_store.push(tenant.clone());
                    continue;
                }
                Verdict::Missing { .. } | Verdict::Differs(Difference::Removed { .. })
                    if !stored_before.contains(tenant) =>
                {
                    outcome.newer_in_store.push(tenant.clone());
                    continue;
                }
                Verdict::Missing { revision } => {
                    outcome.missing.push(MissingContext {
                        tenant_id: tenant.clone(),
                        revision,
                    });
                    continue;
                }
                Verdict::Differs(difference) => difference,
            };
            if mode == Mode::DryRun {
                outcome.differences.push(ContextDiff {
                    tenant_id: tenant.clone(),
                    difference,
                });
                continue;
            }
            match (&difference, rebuilt) {
                (Difference::Added { .. }, Some(context)) => puts.push((context.clone(), None)),
                (Difference::Changed { revision, .. }, Some(context)) => {
                    puts.push((context.clone(), Some(*revision)));
                }
                (Difference::Removed { revision, .. }, _) => {
                    deletes.push((tenant.clone(), *revision));
                }
                _ => unreachable!("added and changed tenants are rebuilt"),
            }
            found.insert(tenant.clone(), difference);
        }
        let written = if puts.is_empty() {
            Default::default()
        } else {
            store.put_many_if(&puts).await?
        };
        let deleted = if deletes.is_empty() {
            Default::default()
        } else {
            store.delete_many_if(&deletes).await?
        };
        pending.clear();
        for (context, expected) in puts {
            let tenant = context.tenant_id.clone();
            if !written.contains(&tenant) {
                pending.push(tenant);
                continue;
            }
            outcome
                .published
                .push(Published::Version(Box::new(ContextChange {
                    revision: expected.map_or(1, |revision| revision + 1),
                    context,
                })));
            outcome.differences.push(ContextDiff {
                difference: found.remove(&tenant).expect("a put has its difference"),
                tenant_id: tenant,
            });
        }
        for (tenant, _) in deletes {
            if !deleted.contains(&tenant) {
                pending.push(tenant);
                continue;
            }
            outcome.published.push(Published::Removed(tenant.clone()));
            outcome.differences.push(ContextDiff {
                difference: found.remove(&tenant).expect("a delete has its difference"),
                tenant_id: tenant,
            });
        }
        pending.sort();
    }
    if !pending.is_empty() {
        let names: Vec<&str> = pending.iter().map(TenantId::as_str).collect();
        return Err(ContextsError::Unavailable(
            format!(
                "the contexts of {} kept changing while the replay wrote them ({ROUNDS} rounds); \
                 is another replay running?",
                names.join(", ")
            )
            .into(),
        ));
    }
    outcome
        .differences
        .sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    outcome
        .missing
        .sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    outcome.published.sort_by(|a, b| a.tenant().cmp(b.tenant()));
    Ok(outcome)
}

impl Published {
    fn tenant(&self) -> &TenantId {
        match self {
            Published::Version(change) => &change.context.tenant_id,
            Published::Removed(tenant) => tenant,
        }
    }
}

/// Publishes replayed changes on the changelog topic as the projector
/// does: key the tenant id, value the [`ContextChange`] as JSON; a deleted
/// context as a tombstone (no value), which compaction keeps until
/// `delete.retention.ms` and then drops with the tenant's older versions.
pub(crate) struct Publisher {
    producer: Producer,
    topic: String,
}

impl Publisher {
    /// A producer for `topics.changelog`, which is created (compacted) when
    /// missing.
    pub(crate) async fn new(kafka: &KafkaConfig, topics: &Topics) -> anyhow::Result<Self> {
        let changelog = [(topics.changelog.as_str(), topics.changelog_partitions())];
        tenantry_kafka::ensure_compacted_topics(kafka, &changelog)
            .await
            .with_context(|| format!("changelog topic {} cannot be created", topics.changelog))?;
        Ok(Self {
            producer: Producer::new(kafka)?,
            topic: topics.changelog.clone(),
        })
    }

    /// Sends `published` (queued in order, awaited together).
    ///
    /// Errors: a record was not acknowledged; the error names the tenants
    /// of the batch, whose contexts the store has already.
    pub(crate) async fn publish(&mut self, published: &[Published]) -> anyhow::Result<()> {
        let payloads: Vec<(&str, Option<Vec<u8>>)> = published
            .iter()
            .map(|published| match published {
                Published::Version(change) => (
                    change.context.tenant_id.as_str(),
                    Some(serde_json::to_vec(change).expect("a context encodes as JSON")),
                ),
                Published::Removed(tenant) => (tenant.as_str(), None),
            })
            .collect();
        futures::future::try_join_all(payloads.iter().map(|(tenant, payload)| {
            self.producer.send_raw(
                &self.topic,
                Some(tenant.as_bytes()),
                payload.as_deref(),
                &[],
            )
        }))
        .await
        .with_context(|| {
            let tenants: Vec<&str> = payloads.iter().map(|(tenant, _)| *tenant).collect();
            format!(
                "changelog {}: the store has the replayed contexts of {} but the changelog may \
                 not; caches catch up at the tenant's next version",
                self.topic,
                tenants.join(", ")
            )
        })?;
        Ok(())
    }

    /// Waits until everything sent is delivered.
    pub(crate) async fn flush(self) -> anyhow::Result<()> {
        self.producer.flush(FLUSH_TIMEOUT).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
