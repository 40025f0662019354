//! When the provisioner has settled a run: what is observed of its tenants
//! and how long it must stay the same.

use super::*;

/// Longest wait for the provisioner to settle a case, or to take an
/// operator request.
pub(super) const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the settled observation must stay the same: a guard for a
/// moment between two of the provisioner's transactions that the
/// conditions of [`settle`] do not see.
pub(super) const STABLE_FOR: Duration = Duration::from_millis(300);

/// Interval between two observations.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// What [`settle`] looks at, for the tenants of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Observation {
    /// Distinct commerce events recorded.
    pub(super) recorded: i64,
    pub(super) waiting: i64,
    /// Waiting events of tenants that are not parked: to be released.
    pub(super) waiting_unparked: i64,
    pub(super) sagas: i64,
    pub(super) sagas_under_way: i64,
    pub(super) outbox: i64,
    /// Operator requests not taken yet.
    pub(super) requests: i64,
    /// Sums that change with every new tenant state and every parking.
    pub(super) provisioning_seqs: i64,
    pub(super) parked_at: i64,
    /// Per tenant: (provisioning sequence of the stored context, of the
    /// provisioner's last tenant state).
    pub(super) versions: Vec<(i64, i64)>,
    /// Per tenant: the saga its stored state says is under way or about to
    /// start (`pending_saga`; `None` while parked).
    pub(super) pending: Vec<Option<String>>,
}

impl Observation {
    pub(super) async fn take(stack: &Stack, run: usize, tenants: &[TenantId]) -> Self {
        let like = format!("r{run}-%");
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT \
             (SELECT COUNT(*) FROM tenant_events WHERE tenant_id LIKE $1), \
             (SELECT COUNT(*) FROM tenant_events WHERE tenant_id LIKE $1 AND state = 'waiting'), \
             (SELECT COUNT(*) FROM tenant_events e WHERE e.tenant_id LIKE $1 AND e.state = 'waiting' \
               AND NOT EXISTS (SELECT 1 FROM parked_tenants p WHERE p.tenant_id = e.tenant_id)), \
             (SELECT COUNT(*) FROM sagas WHERE tenant_id LIKE $1), \
             (SELECT COUNT(*) FROM sagas WHERE tenant_id LIKE $1 \
               AND status IN ('running', 'compensating')), \
             (SELECT COUNT(*) FROM outbox WHERE tenant_id LIKE $1), \
             (SELECT COUNT(*) FROM parked_tenants WHERE tenant_id LIKE $1 AND action IS NOT NULL), \
             (SELECT CAST(COALESCE(SUM(provisioning_seq), 0) AS BIGINT) FROM tenant_sequences \
               WHERE tenant_id LIKE $1), \
             (SELECT CAST(COALESCE(SUM(parked_at), 0) AS BIGINT) FROM parked_tenants \
               WHERE tenant_id LIKE $1)",
        )
        .bind(&like)
        .fetch_one(stack.store.pool())
        .await
        .expect("observe the store");
        let mut versions = Vec::with_capacity(tenants.len());
        let mut pending = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let published: Option<(i64,)> = sqlx::query_as(
                "SELECT provisioning_seq FROM tenant_sequences WHERE tenant_id = $1",
            )
            .bind(tenant.as_str())
            .fetch_optional(stack.store.pool())
            .await
            .expect("tenant sequence");
            let live = stack
                .contexts
                .get(tenant)
                .await
                .expect("live context")
                .map_or(0, |c| c.version.provisioning_sequence);
            versions.push((live, published.map_or(0, |(s,)| s)));
            let mut tx = stack.store.pool().begin().await.expect("begin");
            let record = tenant_states::load(&mut tx, tenant)
                .await
                .expect("load record");
            tx.rollback().await.expect("rollback");
            pending.push(record.state().pending_saga);
        }
        let (recorded, waiting, waiting_unparked, sagas, sagas_under_way, outbox, requests) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
        Self {
            recorded,
            waiting,
            waiting_unparked,
            sagas,
            sagas_under_way,
            outbox,
            requests,
            provisioning_seqs: row.7,
            parked_at: row.8,
            versions,
            pending,
        }
    }

    /// Nothing left for the provisioner, relay or projector to do.
    pub(super) fn settled(&self, sent: usize) -> bool {
        self.recorded == sent as i64
            && self.waiting_unparked == 0
            && self.sagas_under_way == 0
            && self.outbox == 0
            && self.requests == 0
            && self
                .versions
                .iter()
                .all(|(live, published)| live == published)
            && self.pending.iter().all(Option::is_none)
    }
}

/// Waits until every one of the `sent` distinct events of the run is
/// recorded, no saga of its tenants is under way or still to be planned (a
/// tenant's desired and provisioned state agree unless it is parked), no
/// event of a tenant that is not parked waits, no operator request is
/// pending, the outbox holds nothing of theirs and each tenant's context is
/// the last state the provisioner published — and all that has stayed the
/// same for [`STABLE_FOR`]. A tenant whose state keeps naming a pending saga
/// that never runs shows here as a timeout.
pub(super) async fn settle(
    stack: &Stack,
    run: usize,
    tenants: &[TenantId],
    sent: usize,
    what: &str,
) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut quiet_since: Option<(Observation, Instant)> = None;
    loop {
        let seen = Observation::take(stack, run, tenants).await;
        if !seen.settled(sent) {
            quiet_since = None;
        } else if let Some((before, since)) = &quiet_since
            && *before == seen
        {
            if since.elapsed() >= STABLE_FOR {
                return;
            }
        } else {
            quiet_since = Some((seen.clone(), Instant::now()));
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {SETTLE_TIMEOUT:?} waiting for run {run} to settle ({what}, \
             {sent} events sent); last seen: {seen:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the provisioner has taken and carried out `action` on
/// `tenant`, parked (on `kind`) at `parked_at`: a retry of a sequence gap
/// only clears the request; anything else un-parks the tenant, which may
/// park again (with a new `parked_at`).
pub(super) async fn carried_out(
    stack: &Stack,
    tenant: &TenantId,
    action: OperatorAction,
    kind: &str,
    parked_at: i64,
) {
    let noop = action == OperatorAction::Retry && kind == "sequence_gap";
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let row: Option<(Option<String>, i64)> =
            sqlx::query_as("SELECT action, parked_at FROM parked_tenants WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_optional(stack.store.pool())
                .await
                .expect("parking row");
        match row {
            None => return,
            Some((None, at)) if noop || at != parked_at => return,
            Some(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {SETTLE_TIMEOUT:?} waiting for the provisioner to {} {tenant}",
            action.as_str()
        );
        tokio::time::sleep(POLL).await;
    }
}
