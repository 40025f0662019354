//! The records a worker holds, decided in memory as one unit of work.
//!
//! [`keys`] names what the records need read; the store loads it in one
//! read per table ([`tenantry_sagas::BatchStore::load`]); [`plan`] then runs,
//! with no store access but a region's next shard and the calls of the
//! steps outside the store (a tenant's data key),
//! record by record in arrival order, what the per-record path runs in
//! separate transactions — dedup, admission ([`tenantry_sagas::admit`]), the
//! desired state and its guards, the sagas the reconciler plans and their
//! steps ([`crate::steps`]) — against that view, and returns every write as
//! [`Changes`], which the store commits per table in one statement.
//!
//! A record whose handling needs anything the batch does not model — a
//! waiting or parked tenant, a sequence gap, a saga with a step outside the
//! store, a step that fails, an event id reused for another event — stops
//! the plan before it: the records before it are committed together, it
//! takes the per-record path ([`crate::ingest`]), and the records after it
//! start the next batch. So the outcome is the one record-by-record
//! handling reaches.

use crate::steps::{self, StepContext, Work};
use std::collections::BTreeMap;
use tenantry_kafka::Record;
use tenantry_sagas::admission::{Admission, ParkingChange};
use tenantry_sagas::work::{Changes, EventSource, EventState, Keys, Loaded, NewEvent};
use tenantry_sagas::{SagaAction, SagaState, SagaStatus, TenantRecord, admit, reconcile};
use tenantry_schemas::{CommerceEvent, CommerceRecord, TenantId};
use tracing::Instrument as _;

/// Rounds of settling one tenant before the batch gives up on it (a bug
/// guard, as on the per-record path).
const MAX_SETTLE_ROUNDS: usize = 64;

/// What a plan decided.
#[derive(Debug)]
pub struct Plan {
    /// The writes of the records before `stop_at` (all records when `None`);
    /// a tenant's record and state are written once, as the batch leaves
    /// them, so a tenant created and activated in one batch publishes one
    /// state.
    pub changes: Changes,
    /// The first record the batch cannot handle, by index, and why.
    pub stop_at: Option<(usize, String)>,
}

/// What `records` need read: their tenants, event ids and the site hosts
/// their `tenant_created` events ask for (`<site>.<site_domain>`).
pub fn keys(records: &[(&Record, CommerceRecord)], site_domain: &str) -> Keys {
    let mut keys = Keys::default();
    for (_, commerce) in records {
        let env = &commerce.envelope;
        keys.tenants.insert(env.tenant_id.clone());
        keys.event_ids.insert(env.event_id);
        if let CommerceEvent::TenantCreated(created) = &commerce.event {
            keys.hosts.insert(format!("{}.{site_domain}", created.site));
        }
    }
    keys
}

/// Decides `records` against `loaded` (see the module docs). When a record
/// stops the plan, the records before it are decided again from `loaded`
/// without it, so [`Plan::changes`] holds exactly their writes. The steps'
/// calls outside the store (a tenant's data key, a region's next shard)
/// are idempotent, so deciding twice is harmless; an empty shard added for
/// the stopped record may stay behind, to be used by later tenants.
pub async fn plan(
    ctx: &StepContext,
    loaded: Loaded,
    records: &[(&Record, CommerceRecord)],
) -> Plan {
    plan_traced(ctx, loaded, records, &[]).await
}

/// [`plan`] with each record's trace span (`spans[i]` is `records[i]`'s,
/// [`tenantry_kafka::Record::process_span`]; missing ones are none): a record's saga steps
/// are spans of its trace, and each tenant's outbox row keeps the
/// `traceparent` of its last record ([`Changes::traceparents`]).
pub async fn plan_traced(
    ctx: &StepContext,
    loaded: Loaded,
    records: &[(&Record, CommerceRecord)],
    spans: &[tracing::Span],
) -> Plan {
    let first = decide(ctx, loaded.clone(), records, spans).await;
    match first.stop_at {
        None => first,
        Some((0, reason)) => Plan {
            changes: Changes::default(),
            stop_at: Some((0, reason)),
        },
        Some((k, reason)) => {
            let again = decide(ctx, loaded, &records[..k], spans).await;
            match again.stop_at {
                None => Plan {
                    changes: again.changes,
                    stop_at: Some((k, reason)),
                },
                // Not expected: the same records decided the same way the
                // first time. Nothing is committed together then.
                Some((_, reason)) => Plan {
                    changes: Changes::default(),
                    stop_at: Some((0, reason)),
                },
            }
        }
    }
}

/// One pass of [`plan`]: stops at the first record the batch cannot
/// handle, with the writes decided so far (the stopped record's partly).
async fn decide(
    ctx: &StepContext,
    mut loaded: Loaded,
    records: &[(&Record, CommerceRecord)],
    spans: &[tracing::Span],
) -> Plan {
    let mut changes = Changes::default();
    let mut working: BTreeMap<TenantId, TenantRecord> = BTreeMap::new();
    let mut traceparents: BTreeMap<TenantId, String> = BTreeMap::new();
    for (i, (record, commerce)) in records.iter().enumerate() {
        let span = spans.get(i).cloned().unwrap_or_else(tracing::Span::none);
        let tenant = &commerce.envelope.tenant_id;
        let mut current = working
            .get(tenant)
            .or_else(|| loaded.records.get(tenant))
            .cloned()
            .unwrap_or_default();
        if let Err(reason) = handle(
            ctx,
            &mut loaded,
            &mut changes,
            &mut current,
            record,
            commerce,
        )
        .instrument(span.clone())
        .await
        {
            return Plan {
                changes,
                stop_at: Some((i, reason)),
            };
        }
        if let Some(traceparent) = tenantry_telemetry::trace::traceparent_of(&span) {
            traceparents.insert(tenant.clone(), traceparent);
        }
        working.insert(tenant.clone(), current);
    }
    for (tenant, record) in working {
        let before = loaded.records.get(&tenant).cloned().unwrap_or_default();
        if record == before {
            continue;
        }
        let state = record.state();
        if state != before.state() {
            let last = loaded.provisioning_sequences.get(&tenant).copied();
            changes
                .provisioning_sequences
                .insert(tenant.clone(), last.unwrap_or(0));
            if let Some(traceparent) = traceparents.remove(&tenant) {
                changes.traceparents.insert(tenant.clone(), traceparent);
            }
            changes.states.insert(tenant.clone(), state);
        }
        changes.records.insert(tenant, record);
    }
    Plan {
        changes,
        stop_at: None,
    }
}

/// One record: dedup, admission, release, settle. `Err` names why the
/// batch stops before it; what this call wrote is then discarded by
/// [`plan`].
async fn handle(
    ctx: &StepContext,
    loaded: &mut Loaded,
    changes: &mut Changes,
    current: &mut TenantRecord,
    record: &Record,
    commerce: &CommerceRecord,
) -> Result<(), String> {
    let env = &commerce.envelope;
    let tenant = &env.tenant_id;
    if loaded.waiting.contains(tenant) {
        return Err("the tenant has events waiting".into());
    }
    if let Some(seen) = loaded.recorded.get(&env.event_id) {
        if (&seen.tenant_id, seen.sequence, seen.kind.as_str())
            != (tenant, env.sequence, commerce.event.kind())
        {
            return Err("the event id identifies another event".into());
        }
        // A redelivery: nothing recorded again; the tenant is settled below
        // as the per-record path does.
    } else {
        let decision = admit(&current.ledger, env.sequence);
        if decision.parking != ParkingChange::Keep {
            return Err("the event changes the tenant's parking".into());
        }
        let state = match decision.admission {
            Admission::Wait => return Err("the event waits".into()),
            Admission::Stale => EventState::Stale,
            Admission::Release => EventState::Processed,
        };
        loaded.recorded.insert(
            env.event_id,
            tenantry_sagas::work::RecordedEvent {
                tenant_id: tenant.clone(),
                sequence: env.sequence,
                kind: commerce.event.kind().to_owned(),
            },
        );
        changes.events.push(NewEvent {
            record: commerce.clone(),
            source: EventSource {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
            },
            state,
        });
        if state == EventState::Processed {
            current.ledger.commerce_sequence = env.sequence;
            if let Err(rejection) = current.desired.apply(commerce) {
                tracing::warn!(event_id = %env.event_id, reason = %rejection.reason, "Commerce event rejected.");
                changes
                    .rejections
                    .push((env.event_id, tenant.clone(), rejection.reason.clone()));
                current.reject(rejection);
            }
        }
    }
    if current.ledger.parked.is_some() {
        return Err("the tenant is parked".into());
    }
    for _ in 0..MAX_SETTLE_ROUNDS {
        let (Some(plan), Some(trigger)) = (
            reconcile(&current.desired, &current.provisioned),
            current.desired.last_accepted.as_ref(),
        ) else {
            return Ok(());
        };
        let mut saga = SagaState::start(plan.kind, trigger, plan.spec);
        run_saga(ctx, loaded, changes, &mut saga).await?;
        current.saga_transition(&saga);
        changes.sagas.push(saga);
    }
    Err("the tenant did not settle".into())
}

/// Runs every step of `saga` in the batch; `Err` when one cannot run here
/// or fails.
async fn run_saga(
    ctx: &StepContext,
    loaded: &mut Loaded,
    changes: &mut Changes,
    saga: &mut SagaState,
) -> Result<(), String> {
    if let Some(step) = saga
        .kind
        .steps()
        .iter()
        .find(|step| !steps::handler(**step).runs_in_batch(ctx, saga))
    {
        return Err(format!(
            "step {} of a {} saga does not run in a batch",
            step.name(),
            saga.kind.as_str()
        ));
    }
    while let SagaAction::Run(step) = saga.next_action() {
        let mut work = Work {
            loaded,
            effects: &mut changes.effects,
        };
        let span = crate::spans::step(saga, step.name(), false);
        let output = steps::handler(step)
            .run_in_batch(ctx, &mut work, saga)
            .instrument(span)
            .await
            .map_err(|error| format!("step {} failed: {}", step.name(), error.reason))?;
        saga.step_succeeded(step, output)
            .map_err(|error| error.to_string())?;
    }
    if saga.status == SagaStatus::Completed {
        Ok(())
    } else {
        Err(format!("saga ended {}", saga.status.as_str()))
    }
}

#[cfg(test)]
mod tests;
