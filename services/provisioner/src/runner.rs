//! Drives a saga to a terminal state.
//!
//! Each step is executed through [`tenantry_sagas::StepEffects`]
//! (idempotent), bounded by its [`StepPolicy`] timeout, then the transition
//! is persisted with compare-and-set on the saga version, in one unit of
//! work ([`tenantry_sagas::UnitOfWork`]), before the next step starts; a
//! transition that changes the tenant's state (the saga's end, a move's
//! switch) updates its record in the same unit of work, and so its
//! tenant-state record in the outbox. A retryable step error (a timeout
//! included) is retried with exponential backoff and jitter up to the
//! policy's attempts; then it counts as permanent and compensation runs in
//! reverse order. A saga that ends failed parks its tenant in the same unit
//! of work. A lost compare-and-set means another runner owns the saga: this
//! one stops (case S1). Consecutive steps that run in a unit of work
//! ([`TransactionalEffects`]) commit together with the saga's new state.

use crate::admission;
use crate::backoff;
use crate::events::{
    CompensationFinished, CompensationOutcome, SagaFinished, SagaPath, StepFinished, StepOutcome,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_sagas::admission::ParkKind;
use tenantry_sagas::work::ParkedTenant;
use tenantry_sagas::{
    ProvisionerStore, SagaAction, SagaState, SagaStatus, Step, StepError, StepPolicy, StoreFailure,
    TransactionalEffects, UnitOfWork,
};
use tenantry_telemetry::metrics::Event;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// Runs sagas with the step effects `E` on the store `S`.
#[derive(Clone)]
pub struct SagaRunner<S, E> {
    store: S,
    effects: E,
    step_attempts: usize,
    relay_wakeup: Arc<Notify>,
}

/// Why driving stopped before a terminal state.
#[derive(Debug)]
pub enum Interrupted {
    /// Shutdown was requested; the saga resumes at the next start.
    Shutdown,
    /// Another runner changed the saga first (compare-and-set lost).
    Stale,
}

impl<S, E> SagaRunner<S, E>
where
    S: ProvisionerStore,
    E: TransactionalEffects<S::Work>,
{
    /// A runner that wakes the relay after each persisted transition.
    /// `step_attempts` caps every step's policy (at least 1).
    pub fn new(store: S, effects: E, step_attempts: usize, relay_wakeup: Arc<Notify>) -> Self {
        Self {
            store,
            effects,
            step_attempts: step_attempts.max(1),
            relay_wakeup,
        }
    }

    /// Resumes every saga left running or compensating by a previous process.
    ///
    /// # Errors
    /// The store's, reading the unfinished sagas.
    pub async fn resume_unfinished(&self, shutdown: &CancellationToken) -> Result<(), S::Error> {
        let unfinished = self.store.unfinished_sagas().await?;
        if !unfinished.is_empty() {
            tracing::info!(count = unfinished.len(), "Resuming unfinished sagas.");
        }
        for saga in unfinished {
            if let Err(Interrupted::Shutdown) = self.drive(saga, shutdown).await {
                break;
            }
        }
        Ok(())
    }

    /// Drives `saga` until it is completed, failed or compensation-failed.
    pub async fn drive(
        &self,
        mut saga: SagaState,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let started = Instant::now();
        let mut batch = true;
        loop {
            // Consecutive store-only steps commit at once; after a failed
            // batch the rest of this saga runs a step at a time, with each
            // step's retry policy.
            if batch
                && let SagaAction::Run(step) = saga.next_action()
                && self.effects.runs_in_work(&saga, step)
            {
                batch = self.run_in_one_transaction(&mut saga, shutdown).await?;
                if batch {
                    continue;
                }
            }
            match saga.next_action() {
                SagaAction::Done => {
                    SagaFinished {
                        saga: &saga,
                        duration: started.elapsed(),
                        path: SagaPath::Alone,
                    }
                    .emit();
                    return Ok(());
                }
                SagaAction::Run(step) => {
                    let policy = self.effects.policy(step);
                    let attempts = policy.max_attempts.min(self.step_attempts).max(1);
                    let mut delays = step_backoff(&policy).take(attempts - 1);
                    let mut attempt = 1;
                    loop {
                        let attempt_started = Instant::now();
                        let result = tokio::time::timeout(
                            policy.timeout,
                            self.effects
                                .execute(&saga, step)
                                .instrument(crate::spans::step(&saga, step.name(), false)),
                        )
                        .await
                        .unwrap_or_else(|_| {
                            Err(StepError::retryable(format!(
                                "timed out after {:?}",
                                policy.timeout
                            )))
                        });
                        let expected = saga.version;
                        let transition = match result {
                            Ok(output) => {
                                StepFinished {
                                    saga: &saga,
                                    step,
                                    outcome: StepOutcome::Succeeded,
                                    duration: Some(attempt_started.elapsed()),
                                    attempt,
                                    reason: None,
                                }
                                .emit();
                                saga.step_succeeded(step, output)
                            }
                            Err(error) => {
                                let delay = if error.unavailable {
                                    // An outage uses up no attempt.
                                    Some(outage_backoff(attempt))
                                } else if error.retryable {
                                    delays.next()
                                } else {
                                    None
                                };
                                let error = match (error.retryable, delay) {
                                    (true, None) => StepError::permanent(format!(
                                        "{} (gave up after {attempt} attempts)",
                                        error.reason
                                    )),
                                    _ => error,
                                };
                                StepFinished {
                                    saga: &saga,
                                    step,
                                    outcome: if error.retryable {
                                        StepOutcome::Retrying
                                    } else {
                                        StepOutcome::Failed
                                    },
                                    duration: Some(attempt_started.elapsed()),
                                    attempt,
                                    reason: Some(&error.reason),
                                }
                                .emit();
                                let transition = saga.step_failed(step, &error);
                                self.persist(&saga, expected, transition, shutdown).await?;
                                if let Some(delay) = delay.filter(|_| error.retryable) {
                                    sleep(delay, shutdown).await?;
                                    attempt += 1;
                                    continue;
                                }
                                break;
                            }
                        };
                        self.persist(&saga, expected, transition, shutdown).await?;
                        break;
                    }
                }
                SagaAction::Compensate(step) => {
                    let policy = self.effects.policy(step);
                    let attempts = policy.max_attempts.min(self.step_attempts).max(1);
                    let mut delays = step_backoff(&policy).take(attempts - 1);
                    let mut outages = 0;
                    loop {
                        let expected = saga.version;
                        let result = tokio::time::timeout(
                            policy.timeout,
                            self.effects
                                .compensate(&saga, step)
                                .instrument(crate::spans::step(&saga, step.name(), true)),
                        )
                        .await
                        .unwrap_or_else(|_| {
                            Err(StepError::retryable(format!(
                                "timed out after {:?}",
                                policy.timeout
                            )))
                        });
                        match result {
                            Ok(()) => {
                                CompensationFinished {
                                    saga: &saga,
                                    step,
                                    outcome: CompensationOutcome::Compensated,
                                    reason: None,
                                }
                                .emit();
                                let transition = saga.compensated(step);
                                self.persist(&saga, expected, transition, shutdown).await?;
                                break;
                            }
                            Err(error) => {
                                let delay = if error.unavailable {
                                    outages += 1;
                                    Some(outage_backoff(outages))
                                } else {
                                    delays.next().filter(|_| error.retryable)
                                };
                                let outcome = if delay.is_some() {
                                    CompensationOutcome::Retrying
                                } else {
                                    CompensationOutcome::Failed
                                };
                                CompensationFinished {
                                    saga: &saga,
                                    step,
                                    outcome,
                                    reason: Some(&error.reason),
                                }
                                .emit();
                                if let Some(delay) = delay {
                                    sleep(delay, shutdown).await?;
                                    continue;
                                }
                                let transition = saga.compensation_failed(step, &error);
                                self.persist(&saga, expected, transition, shutdown).await?;
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs the saga's next steps that are only SQL on the store in one
    /// transaction with the saga's new state and (when the saga completes)
    /// the tenant's record: one commit instead of one per step, and the
    /// effects and their record can never diverge.
    ///
    /// Returns `Ok(false)`, with `saga` unchanged and nothing committed, when
    /// any of those steps fails or the transaction does not commit: the caller
    /// then runs the first step on its own, with its retry policy, failure
    /// events and compensation — the same outcome as if this path did not
    /// exist. `Err` only for a lost compare-and-set (another runner owns the
    /// saga, case S1) or shutdown.
    async fn run_in_one_transaction(
        &self,
        saga: &mut SagaState,
        shutdown: &CancellationToken,
    ) -> Result<bool, Interrupted> {
        let before = saga.clone();
        let saga_id = saga.saga_id;
        let mut timings = Vec::new();
        let work = async {
            let mut work = match self.store.begin().await {
                Ok(work) => work,
                Err(error) => {
                    tracing::debug!(%saga_id, %error, "No transaction for a batch of steps.");
                    return None;
                }
            };
            self.run_store_steps(&mut work, saga, &mut timings).await?;
            Some(work)
        };
        // The longest timeout of a store-only step (`StepPolicy`: step 6, 60 s).
        let deadline = Duration::from_secs(60);
        let staged = tokio::select! {
            () = shutdown.cancelled() => {
                *saga = before;
                return Err(Interrupted::Shutdown);
            }
            staged = tokio::time::timeout(deadline, work) => staged.ok().flatten(),
        };
        let Some(mut work) = staged else {
            *saga = before;
            return Ok(false);
        };
        match stage_transition(&mut work, saga, before.version).await {
            Ok(()) => {}
            Err(error) if error.is_stale() => {
                tracing::warn!(saga_id = %saga.saga_id, reason = %error, "Saga changed by another runner; stopping.");
                return Err(Interrupted::Stale);
            }
            Err(_) => {
                *saga = before;
                return Ok(false);
            }
        }
        if work.commit().await.is_err() {
            *saga = before;
            return Ok(false);
        }
        self.relay_wakeup.notify_one();
        for (step, duration) in timings {
            StepFinished {
                saga,
                step,
                outcome: StepOutcome::Succeeded,
                duration: Some(duration),
                attempt: 1,
                reason: None,
            }
            .emit();
        }
        Ok(true)
    }

    /// Runs the saga's next steps that are only SQL on the store in `work`,
    /// advancing `saga`. `None` when a step failed (the caller drops `work`,
    /// rolling it back, and restores `saga`: the step runs again on its own,
    /// where its failure is retried and compensated). Each step's duration
    /// goes to `timings`, reported once the transaction commits.
    async fn run_store_steps(
        &self,
        work: &mut S::Work,
        saga: &mut SagaState,
        timings: &mut Vec<(Step, Duration)>,
    ) -> Option<()> {
        while let SagaAction::Run(step) = saga.next_action() {
            if !self.effects.runs_in_work(saga, step) {
                break;
            }
            let started = Instant::now();
            let span = crate::spans::step(saga, step.name(), false);
            match self
                .effects
                .execute_in(work, saga, step)
                .instrument(span)
                .await
            {
                Ok(output) => {
                    timings.push((step, started.elapsed()));
                    saga.step_succeeded(step, output).ok()?;
                }
                Err(error) => {
                    tracing::debug!(saga_id = %saga.saga_id, step = step.name(), reason = %error.reason,
                        "Step failed in a transaction of several; running the saga a step at a time.");
                    return None;
                }
            }
        }
        Some(())
    }

    /// Wakes the relay: outbox rows were committed by the caller.
    pub fn wake_relay(&self) {
        self.relay_wakeup.notify_one();
    }

    /// Persists a transition (compare-and-set, and the tenant's record when
    /// the transition changes it) in one transaction, retrying while the
    /// database is unreachable.
    async fn persist(
        &self,
        saga: &SagaState,
        expected_version: i64,
        transition: Result<(), tenantry_sagas::saga::SagaError>,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        if let Err(error) = transition {
            tracing::warn!(saga_id = %saga.saga_id, %error, "Stale saga transition rejected.");
            return Err(Interrupted::Stale);
        }
        let mut delays = backoff().chain(std::iter::repeat(Duration::from_secs(5)));
        loop {
            match self.try_persist(saga, expected_version).await {
                Ok(()) => {
                    self.relay_wakeup.notify_one();
                    return Ok(());
                }
                Err(error) if error.is_stale() => {
                    tracing::warn!(saga_id = %saga.saga_id, reason = %error, "Saga changed by another runner; stopping.");
                    return Err(Interrupted::Stale);
                }
                Err(error) => {
                    tracing::warn!(saga_id = %saga.saga_id, %error, "Persisting saga failed; retrying.");
                    sleep(delays.next().unwrap_or(Duration::from_secs(5)), shutdown).await?;
                }
            }
        }
    }

    async fn try_persist(&self, saga: &SagaState, expected_version: i64) -> Result<(), S::Error> {
        let mut work = self.store.begin().await?;
        stage_transition(&mut work, saga, expected_version).await?;
        work.commit().await
    }

    /// Operator retry (or the compensation retry schedule): moves a failed
    /// saga back to running (or a compensation-failed one back to
    /// compensating) with compare-and-set, and drives it.
    /// `unpark`: an operator retry releases the tenant; the compensation
    /// schedule leaves it parked (a new failure updates the reason).
    pub async fn retry(
        &self,
        saga_id: uuid::Uuid,
        unpark: bool,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let Ok(Some(mut saga)) = self.store.saga(saga_id).await else {
            tracing::warn!(%saga_id, "Retry requested for an unknown saga.");
            return Ok(());
        };
        let expected = saga.version;
        if let Err(error) = saga.retry() {
            tracing::warn!(%saga_id, %error, "Saga cannot be retried.");
            return Ok(());
        }
        let result: Result<(), S::Error> = async {
            let mut work = self.store.begin().await?;
            work.compare_and_set(&saga, expected).await?;
            if unpark {
                admission::unpark(&mut work, &saga.tenant_id).await?;
            }
            work.commit().await
        }
        .await;
        self.relay_wakeup.notify_one();
        match result {
            Ok(()) => self.drive(saga, shutdown).await,
            Err(error) if error.is_stale() => Err(Interrupted::Stale),
            Err(error) => {
                tracing::warn!(%saga_id, %error, "Saga retry not persisted; the operator can ask again.");
                Ok(())
            }
        }
    }
}

/// Writes a transition into `work`: compare-and-set of the saga, and what
/// else it changes ([`stage_effects`]).
async fn stage_transition<W: UnitOfWork>(
    work: &mut W,
    saga: &SagaState,
    expected_version: i64,
) -> Result<(), W::Error> {
    work.compare_and_set(saga, expected_version).await?;
    stage_effects(work, saga).await
}

/// What a transition writes besides the saga row: the tenant's record
/// when the saga ended (what it provisioned, or its failure) or a move
/// switched; parking when it failed.
async fn stage_effects<W: UnitOfWork>(work: &mut W, saga: &SagaState) -> Result<(), W::Error> {
    if saga.status.is_terminal() || saga.kind == tenantry_sagas::SagaKind::MoveTenant {
        let mut record = work.tenant(&saga.tenant_id).await?;
        record.saga_transition(saga);
        work.save_tenant(&saga.tenant_id, record).await?;
    }
    if matches!(
        saga.status,
        SagaStatus::Failed | SagaStatus::CompensationFailed
    ) {
        // Case D4: the tenant's later events wait until an operator acts.
        let reason = format!(
            "{} saga {} {}: {}",
            saga.kind.as_str(),
            saga.saga_id,
            saga.status.as_str(),
            saga.failure.as_deref().unwrap_or("failed")
        );
        let parked = ParkedTenant {
            tenant_id: saga.tenant_id.clone(),
            kind: ParkKind::SagaFailed,
            reason,
            saga_id: Some(saga.saga_id),
            event_id: Some(saga.trigger_event_id),
        };
        admission::park(work, &parked).await?;
    }
    Ok(())
}

/// Longest pause between two attempts of a step whose dependency is down.
const OUTAGE_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Pause before attempt `attempt + 1` of a step whose dependency is down:
/// 1 s, doubling to [`OUTAGE_MAX_BACKOFF`].
fn outage_backoff(attempt: usize) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(5);
    Duration::from_secs(1u64 << doublings).min(OUTAGE_MAX_BACKOFF)
}

/// Exponential backoff with jitter from a step's policy.
fn step_backoff(policy: &StepPolicy) -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(policy.initial_backoff)
        .with_max_delay(policy.max_backoff)
        .with_max_times(policy.max_attempts)
        .with_jitter()
        .build()
}

async fn sleep(delay: Duration, shutdown: &CancellationToken) -> Result<(), Interrupted> {
    tokio::select! {
        () = shutdown.cancelled() => Err(Interrupted::Shutdown),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}
