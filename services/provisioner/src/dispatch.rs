//! Parallel consumption with per-tenant order and in-order offsets.
//!
//! Records are routed to a fixed pool of workers by a hash of the tenant id
//! (the record key), so one tenant's records — and operator actions on it —
//! are handled by one worker, in order, while other tenants proceed in
//! parallel. Offsets are stored per partition only up to the first record
//! not yet finished ([`OffsetTracker`]), so a crash redelivers every
//! unfinished record (case D1) and nothing finished is redelivered after a
//! clean rebalance (case D2; dedup by event id covers the rest).

use crate::dead_letter::DeadLetterQueue;
use crate::ingest::Ingest;
use crate::operator;
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use tenantry_kafka::Record;
use tenantry_sagas::admission::OperatorAction;
use tenantry_sagas::{ProvisionerStore, TransactionalEffects};
use tenantry_schemas::TenantId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Work for one worker.
#[derive(Debug)]
pub enum Job {
    /// A commerce record.
    Record(Record),
    /// An operator's retry or skip of a parked tenant.
    Operator(TenantId, OperatorAction),
    /// Compensate again a saga left in `compensation_failed`.
    RetryCompensation(Uuid),
}

/// Position of a record: what is needed to store its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl Position {
    /// The position of `record`.
    pub fn of(record: &Record) -> Self {
        Self {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        }
    }
}

/// Tracks in-flight offsets per partition and yields the offset that may be
/// stored: the last of the finished prefix.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<(String, i32), BTreeMap<i64, bool>>,
}

impl OffsetTracker {
    /// A record was handed to a worker.
    pub fn begin(&mut self, position: &Position) {
        self.partitions
            .entry((position.topic.clone(), position.partition))
            .or_default()
            .insert(position.offset, false);
    }

    /// A record finished; returns the position to store, if the finished
    /// prefix of its partition grew.
    pub fn finish(&mut self, position: &Position) -> Option<Position> {
        let key = (position.topic.clone(), position.partition);
        let offsets = self.partitions.get_mut(&key)?;
        if let Some(done) = offsets.get_mut(&position.offset) {
            *done = true;
        }
        let mut last = None;
        while let Some(entry) = offsets.first_entry() {
            if !*entry.get() {
                break;
            }
            last = Some(*entry.key());
            entry.remove();
        }
        last.map(|offset| Position {
            topic: key.0,
            partition: key.1,
            offset,
        })
    }

    /// Number of records handed out and not finished.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }
}

/// Worker index for a routing key.
pub fn worker_for(key: &str, workers: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % workers as u64) as usize
}

/// Records a worker takes from its queue at once and hands to
/// [`Ingest::handle_batch`] (one transaction for all of them when they can
/// finish in one): whatever queued up while the previous batch ran, so a
/// lightly loaded worker handles each record as it comes and a loaded one
/// amortises its commits over up to this many.
pub const BATCH_MAX: usize = 64;

/// Runs one worker until its queue closes or shutdown is requested.
/// Finished records are reported on `done`.
pub async fn worker<S, E, D>(
    ingest: Arc<Ingest<S, E, D>>,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::UnboundedSender<Position>,
    shutdown: CancellationToken,
) where
    S: ProvisionerStore,
    E: TransactionalEffects<S::Work> + 'static,
    D: DeadLetterQueue,
{
    let mut held = None;
    loop {
        let job = match held.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let result = match job {
            Job::Record(record) => {
                let mut records = vec![record];
                while records.len() < BATCH_MAX {
                    match jobs.try_recv() {
                        Ok(Job::Record(record)) => records.push(record),
                        // Operator work waits for the records before it.
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                ingest
                    .handle_batch(&records, &shutdown, |record| {
                        let _ = done.send(Position::of(record));
                    })
                    .await
            }
            Job::Operator(tenant, action) => {
                operator::carry_out_one(&ingest, &tenant, action, &shutdown).await
            }
            Job::RetryCompensation(saga_id) => {
                operator::retry_compensation(&ingest, saga_id, &shutdown).await
            }
        };
        // Shutting down mid-job: unfinished offsets stay unstored.
        if result.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> Position {
        Position {
            topic: "t".into(),
            partition: 0,
            offset,
        }
    }

    #[test]
    fn only_the_finished_prefix_is_stored() {
        let mut tracker = OffsetTracker::default();
        for offset in 10..14 {
            tracker.begin(&at(offset));
        }
        // (finished, expected position to store)
        let cases = [(12, None), (10, Some(10)), (13, None), (11, Some(13))];
        for (finished, expected) in cases {
            assert_eq!(
                tracker.finish(&at(finished)),
                expected.map(at),
                "finish {finished}"
            );
        }
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn a_tenant_always_maps_to_the_same_worker() {
        for tenant in ["t1", "t2", "acme-corp"] {
            assert_eq!(worker_for(tenant, 16), worker_for(tenant, 16));
            assert!(worker_for(tenant, 16) < 16);
        }
    }
}
