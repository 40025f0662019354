//! `tenantry publish --wait`: what became of each tenant's last published
//! event — first from the provisioner's event stream (recorded? released,
//! stale, waiting? an event id that names another event was dead-lettered),
//! then, for a released event, from the tenant's context (it reflects the
//! sequence and no saga is pending).

use crate::settings::Settings;
use anyhow::Context;
use std::time::Duration;
use tenantry_schemas::{CommerceRecord, TenantId};
use tokio_util::sync::CancellationToken;

/// What became of a published commerce event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Released and applied; nothing left to run for it.
    Applied,
    /// Released and refused by a guard (or given up by an operator).
    Rejected(String),
    /// Released; the saga it needed failed and the tenant is parked on it.
    Failed(String),
    /// Recorded, not released: the tenant is parked and its events wait.
    Waiting(String),
    /// Recorded with no effect: its sequence is not newer than the last
    /// released one (or the same event was recorded before as stale).
    Stale,
    /// Not recorded: its event id already identifies another event, so the
    /// provisioner dead-lettered it.
    DeadLettered(String),
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Rejected(_) => "rejected",
            Outcome::Failed(_) => "failed",
            Outcome::Waiting(_) => "waiting",
            Outcome::Stale => "stale",
            Outcome::DeadLettered(_) => "dead-lettered",
        }
    }
}

/// The outcome of a *released* commerce event at `sequence` as `context`
/// shows it, or `None` while the context does not reflect it yet (the
/// projector has not applied the record, or its saga still runs).
pub fn released_outcome(context: &tenantry_sagas::TenantContext, sequence: i64) -> Option<Outcome> {
    let state = &context.state;
    if state.commerce_sequence < sequence {
        return None;
    }
    if let Some(rejection) = state.rejections.iter().find(|r| r.sequence == sequence) {
        return Some(Outcome::Rejected(rejection.reason.clone()));
    }
    match &state.parked {
        Some(parked) if parked.kind == "saga_failed" => Some(Outcome::Failed(
            state
                .last_failure
                .clone()
                .unwrap_or_else(|| parked.reason.clone()),
        )),
        _ if state.pending_saga.is_none() => Some(Outcome::Applied),
        _ => None,
    }
}

/// Where `--wait` reads: the provisioner's event stream (what it did with
/// the event) and the context store (what edges see).
struct Watch {
    provisioner: tenantry_store::Store,
    contexts: std::sync::Arc<dyn tenantry_sagas::TenantContexts>,
}

impl Watch {
    /// The outcome of `record`, or `None` while it is not known yet.
    async fn outcome(&self, record: &CommerceRecord) -> anyhow::Result<Option<Outcome>> {
        let env = &record.envelope;
        let recorded =
            tenantry_store::inbox::recorded(self.provisioner.pool(), &env.event_id).await?;
        let Some((tenant, sequence, kind, state)) = recorded else {
            return Ok(None);
        };
        if (tenant.as_str(), sequence, kind.as_str())
            != (env.tenant_id.as_str(), env.sequence, record.event.kind())
        {
            return Ok(Some(Outcome::DeadLettered(format!(
                "event_id {} already identifies {kind} sequence {sequence} of tenant {tenant} \
                 (`tenantry dlq list` shows the record)",
                env.event_id
            ))));
        }
        match state.as_str() {
            "stale" => Ok(Some(Outcome::Stale)),
            "waiting" => {
                let parked =
                    tenantry_store::parking::get(self.provisioner.pool(), &env.tenant_id).await?;
                Ok(Some(Outcome::Waiting(parked.map_or_else(
                    || "the tenant's earlier events are not all released".to_owned(),
                    |p| format!("{}; {} event(s) wait", p.reason, p.waiting),
                ))))
            }
            _ => Ok(self
                .contexts
                .get(&env.tenant_id)
                .await?
                .and_then(|context| released_outcome(&context, env.sequence))),
        }
    }
}

/// One tenant's outcome under `--wait`, as printed (text) or in `--json`'s
/// `outcomes`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WaitLine {
    /// Tenant id.
    pub tenant_id: String,
    /// Commerce sequence of the tenant's last published event.
    pub sequence: i64,
    /// `applied`, `rejected`, `failed`, `waiting`, `stale` or `dead-lettered`.
    pub outcome: &'static str,
    /// What the context or the store says about it.
    pub detail: String,
}

/// `--wait`: polls until the last published event of every tenant has an
/// [`Outcome`], adding one [`WaitLine`] per tenant to `lines` as it is known
/// (and printing it, with `print`).
///
/// Errors: a store is unreachable; the timeout passed (naming the tenants
/// still pending and what is known of their event); an event was not
/// applied.
pub(super) async fn wait(
    settings: &Settings,
    records: &[CommerceRecord],
    timeout: Duration,
    lines: &mut Vec<WaitLine>,
    print: bool,
) -> anyhow::Result<()> {
    let connect = |url: String| async move {
        tenantry_store::Store::connect(&url, 2)
            .await
            .with_context(|| format!("--wait: database {}", tenantry_store::masked(&url)))
    };
    let watch = Watch {
        provisioner: connect(settings.store.database_url.clone()).await?,
        // The store `--context-store` names, as the projector writes it;
        // a SQL store that does not answer is waited for until the timeout.
        contexts: {
            let give_up = CancellationToken::new();
            let _timer = tokio::spawn({
                let give_up = give_up.clone();
                async move {
                    tokio::time::sleep(timeout).await;
                    give_up.cancel();
                }
            });
            crate::services::contexts(settings, &give_up)
                .await
                .context("--wait")?
        },
    };
    // The last published event of each tenant.
    let mut pending: std::collections::BTreeMap<TenantId, &CommerceRecord> = Default::default();
    for record in records {
        let last = pending
            .entry(record.envelope.tenant_id.clone())
            .or_insert(record);
        if record.envelope.sequence >= last.envelope.sequence {
            *last = record;
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut not_applied = 0;
    loop {
        let mut known = Vec::new();
        for (tenant, record) in &pending {
            let Some(outcome) = watch.outcome(record).await? else {
                continue;
            };
            let sequence = record.envelope.sequence;
            let detail = match &outcome {
                Outcome::Applied => match watch.contexts.get(tenant).await? {
                    Some(c) => format!(
                        "status {}, context at commerce sequence {}",
                        c.state.status.as_str(),
                        c.state.commerce_sequence
                    ),
                    None => "applied".to_owned(),
                },
                Outcome::Rejected(reason) | Outcome::DeadLettered(reason) => reason.clone(),
                Outcome::Failed(reason) => {
                    format!("{reason}; the tenant is parked (tenantry sagas retry|skip {tenant})")
                }
                Outcome::Waiting(reason) => format!("the tenant is parked ({reason})"),
                Outcome::Stale => {
                    "not newer than the tenant's last released sequence; nothing changed".to_owned()
                }
            };
            if print {
                println!(
                    "{} tenant={tenant} sequence={sequence}: {detail}",
                    outcome.word()
                );
            }
            lines.push(WaitLine {
                tenant_id: tenant.to_string(),
                sequence,
                outcome: outcome.word(),
                detail,
            });
            if outcome != Outcome::Applied {
                not_applied += 1;
            }
            known.push(tenant.clone());
        }
        for tenant in known {
            pending.remove(&tenant);
        }
        if pending.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut still = Vec::new();
            for (tenant, record) in pending.iter().take(5) {
                let recorded = tenantry_store::inbox::recorded(
                    watch.provisioner.pool(),
                    &record.envelope.event_id,
                )
                .await?
                .is_some();
                let at = watch.contexts.get(tenant).await?.map_or_else(
                    || "no context yet".to_owned(),
                    |c| format!("context at commerce sequence {}", c.state.commerce_sequence),
                );
                let seen = if recorded {
                    "recorded by the provisioner"
                } else {
                    "not recorded by the provisioner"
                };
                still.push(format!(
                    "{tenant} sequence {} ({seen}, {at})",
                    record.envelope.sequence
                ));
            }
            anyhow::bail!(
                "--wait: {} event(s) without an outcome after {}s: {}; an event not recorded is \
                 not consumed yet (is `tenantry provisioner` running on this --database-url?) or \
                 was dead-lettered (`tenantry dlq list`); one recorded waits for its saga or for \
                 the projector (`tenantry sagas show <tenant>`)",
                pending.len(),
                timeout.as_secs(),
                still.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if not_applied > 0 {
        anyhow::bail!("{not_applied} published event(s) not applied (see above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_event_s_outcome_follows_the_context() {
        use tenantry_sagas::TenantContext;
        use tenantry_schemas::{Parking, Rejection};
        let mut context = TenantContext::empty(TenantId::parse("t1").unwrap());
        let parked = |kind: &str| Parking {
            kind: kind.into(),
            reason: "r".into(),
            waiting: 1,
            last_waiting: 3,
        };
        context.state.commerce_sequence = 2;
        context.state.pending_saga = Some("provision_product".into());
        assert_eq!(released_outcome(&context, 2), None, "its saga still runs");
        assert_eq!(
            released_outcome(&context, 3),
            None,
            "not applied by the projector yet"
        );
        context.state.pending_saga = None;
        assert_eq!(released_outcome(&context, 2), Some(Outcome::Applied));
        context.state.rejections.push(Rejection {
            sequence: 2,
            kind: "licence_updated".into(),
            reason: "not active".into(),
        });
        assert_eq!(
            released_outcome(&context, 2),
            Some(Outcome::Rejected("not active".into()))
        );
        context.state.rejections.clear();
        context.state.parked = Some(parked("saga_failed"));
        context.state.last_failure = Some("step 2 create_site: taken".into());
        assert_eq!(
            released_outcome(&context, 2),
            Some(Outcome::Failed("step 2 create_site: taken".into()))
        );
        context.state.parked = Some(parked("sequence_gap"));
        assert_eq!(released_outcome(&context, 2), Some(Outcome::Applied));
    }
}
