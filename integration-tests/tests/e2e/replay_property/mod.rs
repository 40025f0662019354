//! The tenant context is what the provisioner decided, whatever commerce
//! sends: a property test (`proptest`) over random commerce histories of two
//! or three tenants — duplicates, reorderings, gaps, resent events, failing
//! steps (two tenants asking for one site name, an app that is not
//! registered), events the guards reject, residency pins, destroys, and
//! operator skips and retries of the parked tenants — run through the
//! provisioner and projector of one [`Stack`].
//!
//! Each history is sent in three batches; a third of them stage a contest
//! for one site name (the holder takes it, the challenger's creation fails,
//! the holder may be destroyed, then the challenger is retried). Whenever
//! the provisioner has settled (after each batch, and after each operator
//! action), three views of every tenant must agree: the live context
//! (`context.state`), the state of the provisioner's stored record
//! (`tenant_states::load(…).state()`), and the state of that record with its
//! ledger rebuilt from the admission tables and the saga store
//! (`tenant_states::rebuild`), whose ledger must equal the stored one. The
//! live context must also say what the admission tables say (released
//! sequence, parking and events waiting, refused sequences), read without
//! `TenantRecord::state`, which the three views share. At the end of each
//! history, `tenantry replay` into an empty context store must give every
//! tenant's live context, version included.
//!
//! One stack serves every case; each run of a case (shrinking runs included)
//! has tenant ids of its own (`r<run>-t<i>`). `PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED` override the number of cases and the seed; the seed is
//! printed, so the same histories can be generated again (event ids and the
//! interleaving of tenants on the provisioner's workers are not).

use crate::support::{Stack, bootstrap, fresh_database};
use proptest::prelude::*;
use proptest::test_runner::{
    Config, RngSeed, TestCaseError, TestError, TestRunner, contextualize_config,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tenantry_kafka::{KafkaConfig, Producer};
use tenantry_sagas::TenantContext;
use tenantry_schemas::{
    AppKey, Codec, CommerceEvent, CommerceRecord, CountryCode, Edition, Envelope, LicenceUpdated,
    ProductActivated, ProductDeactivated, ProductKey, ProductSuspended, ProductUnsuspended,
    RecordHeaders, Region, ResidencyPinned, SiteName, TenantCreated, TenantDestroyed, TenantId,
};
use tenantry_store::parking::{self, OperatorAction};
use tenantry_store::{ContextStore, Store, tenant_states};
use uuid::Uuid;

mod history;
mod settle;

use history::*;
use settle::*;

/// What a tenant context says of admission: the released commerce
/// sequence, parking (kind, events waiting) and the refused sequences.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    commerce_sequence: i64,
    parked: Option<(String, i64)>,
    rejected: BTreeSet<i64>,
}

/// What every run shares: one stack, a producer, and the store replays go to.
struct Harness<'a> {
    stack: &'a Stack,
    producer: Producer,
    codec: Codec,
    /// Where every run replays the provisioning topic to (replay clears it first).
    replayed: ContextStore,
    runs: AtomicUsize,
    /// What the runs went through, printed at the end: the generator's
    /// coverage.
    seen: Mutex<BTreeMap<String, usize>>,
}

/// One run of a generated history.
struct Run<'h, 'a> {
    harness: &'h Harness<'a>,
    run: usize,
    tenants: Vec<TenantId>,
    /// Distinct event ids sent so far.
    sent: BTreeSet<Uuid>,
    /// Operator requests left, per tenant.
    actions: BTreeMap<TenantId, VecDeque<(OperatorAction, u8)>>,
    /// The history and everything done with it, for the failure message.
    log: String,
    disagreements: Vec<String>,
}

impl Harness<'_> {
    /// Runs one generated history; `Err` names every disagreement seen.
    async fn case(&self, history: &History) -> Result<(), TestCaseError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let tenants: Vec<TenantId> = (0..history.tenants.len())
            .map(|i| tenant_id(run, i))
            .collect();
        let batches: Vec<Vec<Vec<(CommerceRecord, &'static str)>>> = history
            .tenants
            .iter()
            .enumerate()
            .map(|(i, plan)| sent_records(run, i, plan))
            .collect();
        let mut log = format!("run {run}:\n");
        for (tenant, plan) in tenants.iter().zip(&history.tenants) {
            let _ = writeln!(log, "{tenant}: {plan:?}");
        }
        let _ = writeln!(
            log,
            "interleave: {:?}, contest: {:?}",
            history.interleave, history.contest
        );
        let mut this = Run {
            harness: self,
            run,
            actions: tenants
                .iter()
                .zip(&history.tenants)
                .map(|(t, plan)| (t.clone(), plan.actions.iter().copied().collect()))
                .collect(),
            tenants,
            sent: BTreeSet::new(),
            log,
            disagreements: Vec::new(),
        };
        let mut picks = history.interleave.iter().cycle();
        for batch in 0..BATCHES {
            // Each tenant's records in their order; tenants interleaved.
            let mut queues: Vec<VecDeque<&(CommerceRecord, &str)>> =
                batches.iter().map(|b| b[batch].iter().collect()).collect();
            loop {
                let open: Vec<usize> = (0..queues.len())
                    .filter(|&i| !queues[i].is_empty())
                    .collect();
                if open.is_empty() {
                    break;
                }
                let next = pick(*picks.next().expect("cycled"), open.len());
                let (record, note) = queues[open[next]].pop_front().expect("not empty");
                this.send(batch, record, note).await;
            }
            this.settle_and_compare(&format!("batch {batch} sent"))
                .await;
            this.operator_actions(batch).await;
        }
        this.replay().await;
        this.tally().await;
        let Run {
            log, disagreements, ..
        } = this;
        eprintln!("{log}run {run} took {:?}", started.elapsed());
        if disagreements.is_empty() {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "{}\n\n{log}",
                disagreements.join("\n")
            )))
        }
    }

    fn saw(&self, what: String, n: usize) {
        *self.seen.lock().expect("tallies").entry(what).or_default() += n;
    }

    /// Live context, stored record and rebuilt record of `tenant`: what
    /// disagrees.
    async fn compare(&self, tenant: &TenantId) -> Vec<String> {
        let mut tx = self.stack.store.pool().begin().await.expect("begin");
        let stored = tenant_states::load(&mut tx, tenant)
            .await
            .expect("load record");
        let rebuilt = tenant_states::rebuild(&mut tx, tenant)
            .await
            .expect("rebuild record");
        // `rebuild` holds the row lock; give it back, writing nothing.
        tx.rollback().await.expect("rollback");
        // A tenant none of whose events was sent yet has no context: the
        // empty one, as its record is the default one.
        let live = self
            .stack
            .contexts
            .get(tenant)
            .await
            .expect("live context")
            .unwrap_or_else(|| TenantContext::empty(tenant.clone()));
        let model = stored.state();
        let mut found = Vec::new();
        if live.state != model {
            found.push(format!(
                "{tenant}: live context differs from the stored record's state: {}",
                differing(("live", json!(live.state)), ("model", json!(model)))
            ));
        }
        let from_tables = rebuilt.state();
        if from_tables != model {
            found.push(format!(
                "{tenant}: state of the record rebuilt from the tables differs: {}",
                differing(("rebuilt", json!(from_tables)), ("stored", json!(model)))
            ));
        }
        if rebuilt.ledger != stored.ledger {
            found.push(format!(
                "{tenant}: ledger rebuilt from the tables differs from the stored one: {}",
                differing(
                    ("rebuilt", json!(rebuilt.ledger)),
                    ("stored", json!(stored.ledger))
                )
            ));
        }
        let facts = self.admission_facts(tenant).await;
        let shown = Facts {
            commerce_sequence: live.state.commerce_sequence,
            parked: live
                .state
                .parked
                .as_ref()
                .map(|p| (p.kind.clone(), p.waiting)),
            rejected: live.state.rejections.iter().map(|r| r.sequence).collect(),
        };
        if shown != facts {
            found.push(format!(
                "{tenant}: live context disagrees with the admission tables\n  \
                 context: {shown:?}\n  tables:  {facts:?}"
            ));
        }
        found
    }

    /// What the admission tables say of `tenant`, read directly (not
    /// through a [`tenantry_sagas::TenantRecord`]), so that a fault in the
    /// function every other view is computed with shows too.
    async fn admission_facts(&self, tenant: &TenantId) -> Facts {
        let pool = self.stack.store.pool();
        let (cursor, parked, waiting): (Option<i64>, Option<String>, i64) = sqlx::query_as(
            "SELECT (SELECT last_sequence FROM tenant_cursors WHERE tenant_id = $1), \
             (SELECT kind FROM parked_tenants WHERE tenant_id = $1), \
             (SELECT COUNT(*) FROM tenant_events WHERE tenant_id = $1 AND state = 'waiting')",
        )
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await
        .expect("admission tables");
        let rejected: Vec<(i64,)> = sqlx::query_as(
            "SELECT e.sequence FROM rejections r JOIN tenant_events e ON e.event_id = r.event_id \
             WHERE r.tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .expect("rejections");
        Facts {
            commerce_sequence: cursor.unwrap_or(0),
            parked: parked.map(|kind| (kind, waiting)),
            rejected: rejected.into_iter().map(|(s,)| s).collect(),
        }
    }

    /// Replays the provisioning topic into [`Harness::replayed`].
    async fn replay(&self) {
        tenantry_projector::replay(
            &KafkaConfig::new(bootstrap(), "it-replay-property"),
            &self.stack.topics,
            &self.codec,
            &self.replayed,
            &tenantry_projector::ReplayOptions {
                scope: tenantry_projector::Scope::All,
                mode: tenantry_projector::Mode::Write,
                missing: tenantry_projector::Missing::Delete,
                timeout: Duration::from_secs(60),
                changelog: tenantry_projector::Changelog::Off,
                progress: None,
            },
        )
        .await
        .expect("replay");
    }
}

impl Run<'_, '_> {
    async fn send(&mut self, batch: usize, record: &CommerceRecord, note: &str) {
        let harness = self.harness;
        let topic = &harness.stack.topics.commerce;
        let payload = harness
            .codec
            .encode_commerce(topic, record)
            .await
            .expect("encode");
        let headers = RecordHeaders::commerce(record);
        let env = &record.envelope;
        harness
            .producer
            .send(topic, env.tenant_id.as_str(), &payload, &headers.pairs())
            .await
            .expect("send commerce record");
        self.sent.insert(env.event_id);
        let _ = writeln!(
            self.log,
            "batch {batch}: sent {} sequence {} {} (event {}) {note}",
            env.tenant_id,
            env.sequence,
            record.event.kind(),
            &env.event_id.to_string()[..8],
        );
    }

    /// Waits until the provisioner has settled, then compares the three
    /// views of every tenant.
    async fn settle_and_compare(&mut self, when: &str) {
        let harness = self.harness;
        settle(
            harness.stack,
            self.run,
            &self.tenants,
            self.sent.len(),
            when,
        )
        .await;
        for tenant in &self.tenants {
            for found in harness.compare(tenant).await {
                self.disagreements.push(format!("{when}: {found}"));
            }
        }
    }

    /// Asks for the next generated operator action of each parked tenant
    /// that has one left, one at a time, each carried out and settled
    /// before the next, until no parked tenant has one.
    async fn operator_actions(&mut self, batch: usize) {
        let pool = self.harness.stack.store.pool();
        loop {
            let parked: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT tenant_id, kind, parked_at FROM parked_tenants WHERE tenant_id LIKE $1 \
                 ORDER BY tenant_id",
            )
            .bind(format!("r{}-%", self.run))
            .fetch_all(pool)
            .await
            .expect("parked tenants");
            let next = parked.into_iter().find_map(|(tenant, kind, parked_at)| {
                let tenant = TenantId::parse(&tenant).expect("tenant id");
                let actions = self.actions.get_mut(&tenant)?;
                let &(action, from) = actions.front()?;
                if usize::from(from) % BATCHES > batch {
                    return None;
                }
                actions.pop_front();
                Some((tenant, kind, parked_at, action))
            });
            let Some((tenant, kind, parked_at, action)) = next else {
                return;
            };
            let requested = parking::request(pool, &tenant, action)
                .await
                .expect("operator request");
            let what = format!("{} {tenant} parked on {kind}", action.as_str());
            if requested.nothing_to_retry(&tenant).is_some() {
                // Refused up front, nothing recorded: the tenant stays
                // parked as it was, with nothing for the provisioner to do.
                assert_eq!(kind, "sequence_gap", "{what}: {requested:?}");
                let _ = writeln!(self.log, "batch {batch}: operator: {what}: refused");
                self.harness.saw(
                    format!("operator {} on {kind}: refused", action.as_str()),
                    1,
                );
                continue;
            }
            assert!(requested.is_recorded(), "{what}: {requested:?}");
            carried_out(self.harness.stack, &tenant, action, &kind, parked_at).await;
            self.settle_and_compare(&format!("batch {batch}, {what}"))
                .await;
            let still: Option<(String,)> =
                sqlx::query_as("SELECT kind FROM parked_tenants WHERE tenant_id = $1")
                    .bind(tenant.as_str())
                    .fetch_optional(pool)
                    .await
                    .expect("parking row");
            let outcome = match still {
                Some((now,)) => format!("parked again on {now}"),
                None => "released".to_owned(),
            };
            let _ = writeln!(self.log, "batch {batch}: operator: {what}: {outcome}");
            self.harness.saw(
                format!("operator {} on {kind}: {outcome}", action.as_str()),
                1,
            );
        }
    }

    /// Replays the provisioning topic into an empty store: every tenant's
    /// context must be the live one, version included.
    async fn replay(&mut self) {
        let harness = self.harness;
        harness.replay().await;
        for tenant in &self.tenants {
            let replayed = harness
                .replayed
                .get(tenant)
                .await
                .expect("replayed context");
            let live = harness
                .stack
                .contexts
                .get(tenant)
                .await
                .expect("live context");
            if replayed != live {
                self.disagreements.push(format!(
                    "{tenant}: replayed context differs from the live one: {}",
                    differing(("replayed", json!(replayed)), ("live", json!(live)))
                ));
            }
        }
    }

    /// Counts what the run went through into [`Harness::seen`].
    async fn tally(&self) {
        let harness = self.harness;
        for tenant in &self.tenants {
            let Some(context) = harness.stack.contexts.get(tenant).await.expect("context") else {
                continue;
            };
            let state = &context.state;
            harness.saw(format!("tenants ending {}", state.status.as_str()), 1);
            if let Some(parked) = &state.parked {
                harness.saw(format!("tenants ending parked on {}", parked.kind), 1);
            }
            harness.saw("rejections".into(), state.rejections.len());
        }
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT 'events ' || state, COUNT(*) FROM tenant_events WHERE tenant_id LIKE $1 \
             GROUP BY state UNION ALL \
             SELECT 'sagas ' || kind || ' ' || status, COUNT(*) FROM sagas \
             WHERE tenant_id LIKE $1 GROUP BY kind, status",
        )
        .bind(format!("r{}-%", self.run))
        .fetch_all(harness.stack.store.pool())
        .await
        .expect("tallies");
        for (what, n) in counts {
            harness.saw(what, usize::try_from(n).unwrap_or(0));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_replayed_and_provisioner_model_agree_on_random_commerce_histories() {
    let stack = Stack::start().await;
    let replayed = ContextStore::new(
        Store::connect(&fresh_database().await, 4)
            .await
            .expect("replay store"),
    );
    let harness = Harness {
        stack: &stack,
        producer: Producer::new(&KafkaConfig::new(bootstrap(), "it-replay-property"))
            .expect("producer"),
        codec: Codec::embedded(),
        replayed,
        runs: AtomicUsize::new(0),
        seen: Mutex::default(),
    };
    // Each case runs on the live stack (2-4 s), so few cases and little
    // shrinking; the environment can ask for more (PROPTEST_CASES).
    let mut config = contextualize_config(Config {
        cases: 12,
        max_shrink_iters: 16,
        max_shrink_time: 180_000,
        failure_persistence: None,
        ..Config::default()
    });
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => rand::random(),
    };
    config.rng_seed = RngSeed::Fixed(seed);
    eprintln!(
        "replay_property: {} cases, PROPTEST_RNG_SEED={seed}",
        config.cases
    );
    let mut runner = TestRunner::new(config);
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&history(), |history| {
            handle.block_on(harness.case(&history))
        })
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, history)) => {
            panic!("PROPTEST_RNG_SEED={seed}: {reason}\nminimal failing history: {history:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("PROPTEST_RNG_SEED={seed}: aborted: {reason}"),
    }

    // Every context of every run, once more after the last run.
    harness.replay().await;
    assert_eq!(
        harness.replayed.all().await.expect("replayed contexts"),
        stack.contexts.all().await.expect("live contexts"),
        "replay of the whole provisioning topic equals the live store"
    );
    let seen = harness.seen.lock().expect("tallies").clone();
    eprintln!("replay_property: over all runs: {seen:#?}");
    drop(harness);
    stack.stop().await;
}
