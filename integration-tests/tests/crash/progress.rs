//! How far a run is, read from the engine's store, and waiting (with a
//! deadline) until every tenant is fully provisioned.

use crate::provisioner::Provisioner;
use crate::workload::Workload;
use sqlx::PgPool;
use std::fmt;
use std::time::{Duration, Instant};

/// Counters of a run, read in one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Commerce events recorded (dedup table `processed_events`).
    pub processed: i64,
    /// Sagas inserted.
    pub sagas: i64,
    /// Sagas `completed`.
    pub completed: i64,
    /// Outbox rows not yet published.
    pub outbox_pending: i64,
    /// Outbox rows published.
    pub published: i64,
}

impl Progress {
    /// Reads the counters; fails while the engine has not migrated the
    /// database yet or the database is down.
    pub async fn read(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let (processed, sagas, completed, outbox_pending, published): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM processed_events), (SELECT COUNT(*) FROM sagas), \
                 (SELECT COUNT(*) FROM sagas WHERE status = 'completed'), \
                 (SELECT COUNT(*) FROM outbox), \
                 (SELECT (COALESCE(SUM(provisioning_seq), 0) - (SELECT COUNT(*) FROM outbox))::BIGINT \
                  FROM tenant_sequences)",
            )
            .fetch_one(pool)
            .await?;
        Ok(Self {
            processed,
            sagas,
            completed,
            outbox_pending,
            published,
        })
    }

    /// Whether work moved since `earlier` (`None`: nothing yet): an event
    /// recorded, a saga completed or an outbox row published.
    pub fn moved_since(&self, earlier: Option<&Progress>) -> bool {
        let Some(earlier) = earlier else {
            return self.processed + self.completed + self.published > 0;
        };
        self.processed > earlier.processed
            || self.completed > earlier.completed
            || self.published > earlier.published
    }

    /// Every event recorded, every saga completed, the outbox drained.
    pub fn finished(&self, workload: &Workload) -> bool {
        let events = workload.sagas() as i64; // one saga per commerce event
        self.processed == events
            && self.sagas == events
            && self.completed == events
            && self.outbox_pending == 0
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events recorded {}, sagas {} ({} completed), outbox rows published {} unpublished {}",
            self.processed, self.sagas, self.completed, self.published, self.outbox_pending
        )
    }
}

/// Polls until [`Progress::finished`], checking that every provisioner stays
/// alive; returns how long it took. On timeout, panics with the counters,
/// the sagas not completed, parked tenants and each provisioner's log tail.
pub async fn wait_until_provisioned(
    pool: &PgPool,
    workload: &Workload,
    provisioners: &mut [Provisioner],
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    let mut last = String::from("nothing read yet");
    while started.elapsed() < timeout {
        for provisioner in provisioners.iter_mut() {
            provisioner.assert_alive();
        }
        match Progress::read(pool).await {
            Ok(progress) if progress.finished(workload) => return started.elapsed(),
            Ok(progress) => last = progress.to_string(),
            Err(error) => last = format!("store not readable: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs: Vec<String> = provisioners.iter().map(|p| p.log_tail(25)).collect();
    panic!(
        "not every tenant provisioned within {timeout:?} (expected {} events and sagas); \
         last seen: {last}\n{}\nprovisioner logs:\n{}",
        workload.sagas(),
        stuck(pool).await,
        logs.join("\n")
    );
}

/// Sagas not completed and parked tenants, for a timeout message.
async fn stuck(pool: &PgPool) -> String {
    let sagas: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT saga_id, tenant_id, kind, status FROM sagas WHERE status <> 'completed' \
         ORDER BY created_at LIMIT 20",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let parked: Vec<(String, String, String)> =
        sqlx::query_as("SELECT tenant_id, kind, reason FROM parked_tenants LIMIT 20")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    format!("sagas not completed (first 20): {sagas:?}\nparked tenants (first 20): {parked:?}")
}
