//! Admission as the provisioner applies it (case D4 and the
//! commerce-sequence rule), in the caller's [`UnitOfWork`].
//!
//! The pure rules are [`tenantry_sagas::admission`]: release, stale or wait
//! by the tenant's [`tenantry_sagas::Ledger`], and the gap reasons. This
//! module writes what they decide, keeping two records of the same facts in
//! step in one transaction: the tenant's ledger (released cursor, parking,
//! waiting count — what its published state says) and the rows operators
//! and the CLI read (`tenant_cursors`, `parked_tenants`). The store only
//! writes rows.

use tenantry_sagas::admission::{Admission, ParkKind, ParkingChange};
use tenantry_sagas::work::ParkedTenant;
use tenantry_sagas::{ProvisionerStore, Rejection, UnitOfWork};
use tenantry_schemas::{CommerceRecord, Parking, TenantId};

/// Decides what to do with `record` from the tenant's ledger
/// ([`tenantry_sagas::admit`]) and records the parking change it causes: a
/// gap parks the tenant (kind `sequence_gap`, at this event) when it is not
/// parked already; the event that fills a gap un-parks it.
///
/// # Errors
/// The store's.
pub async fn admit<W: UnitOfWork>(
    work: &mut W,
    record: &CommerceRecord,
) -> Result<Admission, W::Error> {
    let env = &record.envelope;
    let ledger = work.tenant(&env.tenant_id).await?.ledger;
    let decision = tenantry_sagas::admit(&ledger, env.sequence);
    match decision.parking {
        ParkingChange::Keep => {}
        ParkingChange::Unpark => unpark(work, &env.tenant_id).await?,
        ParkingChange::ParkAtGap(reason) => {
            let parked = ParkedTenant {
                tenant_id: env.tenant_id.clone(),
                kind: ParkKind::SequenceGap,
                reason,
                saga_id: None,
                event_id: Some(env.event_id),
            };
            park(work, &parked).await?;
        }
    }
    Ok(decision.admission)
}

/// Parks a tenant (a newer reason replaces an older one): its parking row,
/// and its ledger's parking with the events already waiting behind it.
///
/// # Errors
/// The store's.
pub async fn park<W: UnitOfWork>(work: &mut W, parked: &ParkedTenant) -> Result<(), W::Error> {
    let tenant = &parked.tenant_id;
    let waiting = work.waiting(tenant).await?;
    let mut record = work.tenant(tenant).await?;
    record.ledger.parked = Some(Parking {
        kind: parked.kind.as_str().to_owned(),
        reason: parked.reason.clone(),
        waiting: waiting.count,
        last_waiting: waiting.last_sequence,
    });
    work.save_tenant(tenant, record).await?;
    work.park(parked).await
}

/// One more commerce event of a parked tenant waits: `record`, just
/// recorded with state `waiting`.
///
/// # Errors
/// The store's.
pub async fn hold<W: UnitOfWork>(work: &mut W, record: &CommerceRecord) -> Result<(), W::Error> {
    let env = &record.envelope;
    let mut tenant = work.tenant(&env.tenant_id).await?;
    if let Some(parked) = tenant.ledger.parked.as_mut() {
        parked.waiting += 1;
        parked.last_waiting = parked.last_waiting.max(env.sequence);
    }
    work.save_tenant(&env.tenant_id, tenant).await
}

/// Un-parks a tenant: its parking row and its ledger's parking.
///
/// # Errors
/// The store's.
pub async fn unpark<W: UnitOfWork>(work: &mut W, tenant: &TenantId) -> Result<(), W::Error> {
    let mut record = work.tenant(tenant).await?;
    record.ledger.parked = None;
    work.save_tenant(tenant, record).await?;
    work.unpark(tenant).await
}

/// Sets the tenant's last released commerce sequence: its ledger's cursor
/// and the cursor row.
///
/// # Errors
/// The store's.
pub async fn advance<W: UnitOfWork>(
    work: &mut W,
    tenant: &TenantId,
    sequence: i64,
) -> Result<(), W::Error> {
    let mut record = work.tenant(tenant).await?;
    record.ledger.commerce_sequence = sequence;
    work.save_tenant(tenant, record).await?;
    work.set_cursor(tenant, sequence).await
}

/// Releases a commerce event: advances the tenant's cursor and applies the
/// event to its desired state, or records the guard's rejection (in the
/// event stream's rejections and on the tenant's ledger).
///
/// # Errors
/// The store's.
pub async fn release<W: UnitOfWork>(
    work: &mut W,
    commerce: &CommerceRecord,
) -> Result<(), W::Error> {
    let env = &commerce.envelope;
    advance(work, &env.tenant_id, env.sequence).await?;
    let mut record = work.tenant(&env.tenant_id).await?;
    if let Err(rejection) = record.desired.apply(commerce) {
        tracing::warn!(event_id = %env.event_id, reason = %rejection.reason, "Commerce event rejected.");
        work.reject(env.event_id, &env.tenant_id, &rejection.reason)
            .await?;
        record.reject(rejection);
    }
    work.save_tenant(&env.tenant_id, record).await
}

/// Operator skip: un-parks the tenant, in one unit of work, so its waiting
/// events can be released (case D4).
///
/// - Parked on a failed saga: the change that saga was bringing about is
///   given up ([`tenantry_sagas::DesiredState::abandon`]) — else the next
///   released event would plan it again, fail the same way and park the
///   tenant again — and its trigger event is recorded as rejected with what
///   was given up and why the saga failed. Returns that sentence.
/// - Parked on a sequence gap: the missing sequences are given up (the
///   cursor moves to just before the lowest waiting event).
///
/// `Ok(None)` when the tenant is not parked.
///
/// # Errors
/// The store's; nothing is written then.
pub async fn skip<S: ProvisionerStore>(
    store: &S,
    tenant: &TenantId,
) -> Result<Option<String>, S::Error> {
    let mut work = store.begin().await?;
    let Some(parked) = work.parked(tenant).await? else {
        return Ok(None);
    };
    let saga = match (parked.kind, parked.saga_id) {
        (ParkKind::SagaFailed, Some(saga_id)) => work.saga(saga_id).await?,
        _ => None,
    };
    let given_up = if parked.kind == ParkKind::SequenceGap {
        match work.next_waiting(tenant).await? {
            Some(lowest) => {
                let lowest = lowest.envelope.sequence;
                advance(&mut work, tenant, lowest - 1).await?;
                format!("commerce sequences before {lowest} given up")
            }
            None => "nothing waiting behind the gap".to_owned(),
        }
    } else if let Some(saga) = saga {
        let mut record = work.tenant(tenant).await?;
        let given_up = record.desired.abandon(&saga, &record.provisioned);
        let reason = format!(
            "skipped by an operator: {given_up}; the saga failed: {}",
            saga.failure.as_deref().unwrap_or("(no reason recorded)")
        );
        let kind = work
            .recorded(saga.trigger_event_id)
            .await?
            .map_or_else(|| saga.kind.as_str().to_owned(), |event| event.kind);
        record.ledger.failure = None;
        record.reject(Rejection {
            sequence: saga.trigger_sequence,
            kind,
            reason: reason.clone(),
        });
        work.save_tenant(tenant, record).await?;
        // The trigger was accepted, so it has no rejection yet.
        work.reject(saga.trigger_event_id, tenant, &reason).await?;
        reason
    } else {
        "the failed saga is not recorded; nothing given up".to_owned()
    };
    unpark(&mut work, tenant).await?;
    work.commit().await?;
    Ok(Some(given_up))
}
