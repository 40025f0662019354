//! The JSON of `GET /admin/v1/tenants/{tenant_id}/timeline`: what the page
//! draws, built by [`build`] from the store's rows ([`tenantry_store::timeline`],
//! parking) and the tenant's context. Pure: no IO, no clock.
//!
//! Every time is Unix epoch **milliseconds** (UTC), in fields ending `_ms`,
//! as the store records them. Field names are snake_case and stable; an
//! absent value is `null`.

use serde::Serialize;
use tenantry_context_api::ContextView;
use tenantry_sagas::SagaStatus;
use tenantry_store::parking::Parked;
use tenantry_store::timeline::{EventRow, SagaRow, TransitionRow};

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The tenant.
    pub tenant_id: String,
    /// Commerce events by sequence.
    pub events: Vec<EventView>,
    /// Sagas, oldest first.
    pub sagas: Vec<SagaView>,
    /// Why the tenant is parked and since when; `null` when it is not.
    pub parking: Option<ParkingView>,
    /// The tenant context edges read now (the context API's shape); `null`
    /// when the projector has written none yet.
    pub context: Option<ContextView>,
}

/// What became of a commerce event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Released in sequence order and planned.
    Processed,
    /// Its sequence was not newer than the last released: no effect.
    Stale,
    /// Held behind a parked tenant or a sequence gap.
    Waiting,
    /// Released past by an operator's skip without a rejection reason.
    Skipped,
    /// Refused by a guard, or given up by an operator's skip (see `rejection`).
    Rejected,
}

/// One commerce event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventView {
    /// The envelope's event id.
    pub event_id: String,
    /// Commerce sequence.
    pub sequence: i64,
    /// `tenant_created`, `product_activated`, …
    pub kind: String,
    /// What became of it.
    pub status: EventStatus,
    /// When the provisioner recorded it.
    pub recorded_at_ms: i64,
    /// The rejection reason, for `rejected`.
    pub reason: Option<String>,
    /// When it was rejected, for `rejected`.
    pub rejected_at_ms: Option<i64>,
}

/// A saga step's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Its effect is done and stands.
    Done,
    /// Done, then undone by its compensation.
    Compensated,
    /// Where a failed saga stopped: the first step without a result of a
    /// saga that is failed, compensating or whose compensation failed
    /// (steps run in order, so that is the one that failed).
    Failed,
    /// Not run (yet).
    NotRun,
}

/// One step of a saga's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepView {
    /// Step name (`licence`, `site`, …).
    pub step: String,
    /// 1-based position in the saga (the seed's numbering).
    pub number: i32,
    /// State now.
    pub state: StepState,
}

/// What happened to a saga at one of its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaEventKind {
    /// The saga was planned.
    Started,
    /// A step's effect was recorded done.
    StepDone,
    /// A step's compensation was recorded done.
    StepCompensated,
    /// A step failed permanently; compensations began (`detail`: the failure).
    Compensating,
    /// The saga failed (`detail`: the failure).
    Failed,
    /// A compensation failed (`detail`: the failure).
    CompensationFailed,
    /// An operator's retry ran it again.
    Retried,
    /// Every step done.
    Completed,
}

/// One point on a saga's time axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SagaEvent {
    /// When the saga version that shows it was written.
    pub at_ms: i64,
    /// That saga version.
    pub version: i64,
    /// What happened.
    pub kind: SagaEventKind,
    /// The step, for `step_done` and `step_compensated`.
    pub step: Option<String>,
    /// The failure, for `compensating`, `failed` and `compensation_failed`.
    pub detail: Option<String>,
}

/// One saga.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SagaView {
    /// Saga id.
    pub saga_id: String,
    /// `provision_tenant`, `activate_product`, …
    pub kind: String,
    /// `running`, `compensating`, `completed`, `failed`, `compensation_failed`.
    pub status: String,
    /// The product it is about, if any.
    pub product: Option<String>,
    /// Commerce sequence of the event that started it.
    pub trigger_sequence: i64,
    /// Compare-and-set version now.
    pub version: i64,
    /// When it was planned.
    pub started_at_ms: i64,
    /// When it was last written.
    pub updated_at_ms: i64,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// Its definition's steps in order, with their state now.
    pub steps: Vec<StepView>,
    /// Its history, oldest first: from every recorded version, or (a saga
    /// written before versions were recorded) its start and last write.
    pub history: Vec<SagaEvent>,
}

/// Why a tenant is parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParkingView {
    /// `saga_failed` or `sequence_gap`.
    pub kind: String,
    /// The operator-facing reason.
    pub reason: String,
    /// The failed saga, for `saga_failed`.
    pub saga_id: Option<String>,
    /// The event it is parked at.
    pub event_id: Option<String>,
    /// An operator's pending `retry` or `skip`, not yet carried out.
    pub pending_action: Option<String>,
    /// Since when.
    pub since_ms: i64,
    /// Commerce events waiting behind it.
    pub waiting: i64,
}

impl From<&Parked> for ParkingView {
    fn from(p: &Parked) -> Self {
        Self {
            kind: p.kind.clone(),
            reason: p.reason.clone(),
            saga_id: p.saga_id.clone(),
            event_id: p.event_id.clone(),
            pending_action: p.action.clone(),
            since_ms: p.parked_at,
            waiting: p.waiting,
        }
    }
}

/// An event's status from its stored state and rejection.
///
/// # Errors
/// The stored state when it is none of `processed`, `stale`, `waiting`,
/// `skipped` (written by a newer version).
pub fn event_status(state: &str, rejected: bool) -> Result<EventStatus, String> {
    if rejected {
        return Ok(EventStatus::Rejected);
    }
    match state {
        "processed" => Ok(EventStatus::Processed),
        "stale" => Ok(EventStatus::Stale),
        "waiting" => Ok(EventStatus::Waiting),
        "skipped" => Ok(EventStatus::Skipped),
        other => Err(format!("tenant_events.state: unknown state {other:?}")),
    }
}

/// The document from the store's rows.
///
/// # Errors
/// An event state this version does not know ([`event_status`]).
pub fn build(
    tenant_id: &str,
    events: &[EventRow],
    sagas: &[SagaRow],
    transitions: &[TransitionRow],
    parked: Option<&Parked>,
    context: Option<ContextView>,
) -> Result<Timeline, String> {
    let events = events
        .iter()
        .map(|e| {
            Ok(EventView {
                event_id: e.event_id.clone(),
                sequence: e.sequence,
                kind: e.kind.clone(),
                status: event_status(&e.state, e.rejection.is_some())?,
                recorded_at_ms: e.recorded_at,
                reason: e.rejection.clone(),
                rejected_at_ms: e.rejected_at,
            })
        })
        .collect::<Result<_, String>>()?;
    let sagas = sagas
        .iter()
        .map(|row| {
            let id = row.saga.saga_id.to_string();
            let versions: Vec<&TransitionRow> =
                transitions.iter().filter(|t| t.saga_id == id).collect();
            saga_view(row, &versions)
        })
        .collect();
    Ok(Timeline {
        tenant_id: tenant_id.to_owned(),
        events,
        sagas,
        parking: parked.map(ParkingView::from),
        context,
    })
}

fn saga_view(row: &SagaRow, versions: &[&TransitionRow]) -> SagaView {
    let saga = &row.saga;
    let failed_at = matches!(
        saga.status,
        SagaStatus::Failed | SagaStatus::Compensating | SagaStatus::CompensationFailed
    )
    .then(|| {
        saga.kind
            .steps()
            .iter()
            .find(|s| !saga.results.contains_key(s))
    })
    .flatten();
    let steps = saga
        .kind
        .steps()
        .iter()
        .map(|step| StepView {
            step: step.name().to_owned(),
            number: saga.kind.step_number(*step),
            state: if saga.compensated.contains(step) {
                StepState::Compensated
            } else if saga.results.contains_key(step) {
                StepState::Done
            } else if failed_at == Some(step) {
                StepState::Failed
            } else {
                StepState::NotRun
            },
        })
        .collect();
    let history = if versions.is_empty() {
        fallback_history(row)
    } else {
        history(versions)
    };
    SagaView {
        saga_id: saga.saga_id.to_string(),
        kind: saga.kind.as_str().to_owned(),
        status: saga.status.as_str().to_owned(),
        product: saga.product().map(ToString::to_string),
        trigger_sequence: saga.trigger_sequence,
        version: saga.version,
        started_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
        failure: saga.failure.clone(),
        steps,
        history,
    }
}

/// A saga written before `saga_transitions` existed: its start, and its
/// status at its last write.
fn fallback_history(row: &SagaRow) -> Vec<SagaEvent> {
    let saga = &row.saga;
    let mut out = vec![SagaEvent {
        at_ms: row.created_at,
        version: 1,
        kind: SagaEventKind::Started,
        step: None,
        detail: None,
    }];
    if let Some(kind) = status_event(saga.status) {
        out.push(SagaEvent {
            at_ms: row.updated_at,
            version: saga.version,
            kind,
            step: None,
            detail: saga.failure.clone(),
        });
    }
    out
}

/// The event a saga's arrival at `status` is, if any (`running` is not one).
fn status_event(status: SagaStatus) -> Option<SagaEventKind> {
    match status {
        SagaStatus::Running => None,
        SagaStatus::Compensating => Some(SagaEventKind::Compensating),
        SagaStatus::Completed => Some(SagaEventKind::Completed),
        SagaStatus::Failed => Some(SagaEventKind::Failed),
        SagaStatus::CompensationFailed => Some(SagaEventKind::CompensationFailed),
    }
}

fn split(steps: &str) -> Vec<&str> {
    steps.split(',').filter(|s| !s.is_empty()).collect()
}

/// A saga's history from its recorded versions (ascending): what each
/// version added to the one before it. A version with fewer steps done
/// than the one before, or running again after a failure, is a retry.
pub fn history(versions: &[&TransitionRow]) -> Vec<SagaEvent> {
    let mut out = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    let mut compensated: Vec<&str> = Vec::new();
    let mut status: Option<&str> = None;
    for v in versions {
        let event = |kind, step: Option<&str>, detail: Option<String>| SagaEvent {
            at_ms: v.written_at,
            version: v.version,
            kind,
            step: step.map(str::to_owned),
            detail,
        };
        let now_done = split(&v.done);
        let now_compensated = split(&v.compensated);
        match status {
            None => out.push(event(SagaEventKind::Started, None, None)),
            Some(before) => {
                let cleared = now_done.len() < done.len();
                let rerun = v.status == "running" && before != "running";
                if cleared || rerun {
                    out.push(event(SagaEventKind::Retried, None, None));
                    done.clear();
                    compensated.clear();
                }
            }
        }
        for step in now_done.iter().filter(|s| !done.contains(s)) {
            out.push(event(SagaEventKind::StepDone, Some(step), None));
        }
        for step in now_compensated.iter().filter(|s| !compensated.contains(s)) {
            out.push(event(SagaEventKind::StepCompensated, Some(step), None));
        }
        if status != Some(v.status.as_str()) {
            let kind = match v.status.as_str() {
                "compensating" => Some(SagaEventKind::Compensating),
                "completed" => Some(SagaEventKind::Completed),
                "failed" => Some(SagaEventKind::Failed),
                "compensation_failed" => Some(SagaEventKind::CompensationFailed),
                _ => None,
            };
            if let Some(kind) = kind {
                let detail = (kind != SagaEventKind::Completed)
                    .then(|| v.failure.clone())
                    .flatten();
                out.push(event(kind, None, detail));
            }
        }
        done = now_done;
        compensated = now_compensated;
        status = Some(v.status.as_str());
    }
    out
}

#[cfg(test)]
mod tests;
