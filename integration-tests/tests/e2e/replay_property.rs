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

/// Longest wait for the provisioner to settle a case, or to take an
/// operator request.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the settled observation must stay the same: a guard for a
/// moment between two of the provisioner's transactions that the
/// conditions of [`settle`] do not see.
const STABLE_FOR: Duration = Duration::from_millis(300);

/// Interval between two observations.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
enum Product {
    Jira,
    Confluence,
}

impl Product {
    fn key(self) -> ProductKey {
        ProductKey::parse(match self {
            Product::Jira => "jira",
            Product::Confluence => "confluence",
        })
        .expect("product key")
    }
}

/// Apps of an activation: none, a registered one, or one that is not
/// registered (step 7 fails for good, the product saga is compensated and
/// the tenant parked).
#[derive(Debug, Clone, Copy)]
enum Apps {
    None,
    Registered,
    Unregistered,
}

impl Apps {
    fn keys(self) -> Vec<AppKey> {
        let keys: &[&str] = match self {
            Apps::None => &[],
            Apps::Registered => &["jira-slack"],
            Apps::Unregistered => &["unregistered-app"],
        };
        keys.iter()
            .map(|k| AppKey::parse(k).expect("app key"))
            .collect()
    }
}

/// What commerce holds of a product, as far as the history has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Active,
    Suspended,
    Deactivated,
}

/// A commerce event after the tenant's `tenant_created`.
#[derive(Debug, Clone)]
enum Op {
    /// What commerce would plausibly send next for `product` given what it
    /// holds: an activation when it holds none (or a deactivated one), else
    /// one of the moves the product's state allows, picked by `choice`.
    Next {
        product: Product,
        choice: u8,
        seats: i32,
        apps: Apps,
    },
    /// The events below are sent whatever commerce holds, so some are
    /// refused by the guards.
    Activate {
        product: Product,
        seats: i32,
        apps: Apps,
    },
    Licence {
        product: Product,
        seats: i32,
    },
    Suspend(Product),
    Unsuspend(Product),
    Deactivate(Product),
    Pin(Region),
    Destroy,
    /// Another `tenant_created` (refused unless an operator skipped the
    /// failed creation), for the shared site name or one of the tenant's own.
    Recreate {
        shared_site: bool,
    },
}

impl Op {
    /// The event to send, given (and updating) what commerce holds.
    fn event(&self, held: &mut BTreeMap<ProductKey, Held>) -> CommerceEvent {
        let op = match *self {
            Op::Next {
                product,
                choice,
                seats,
                apps,
            } => {
                let moves: &[fn(Product, i32) -> Op] = match held.get(&product.key()) {
                    None | Some(Held::Deactivated) => &[|product, seats| Op::Activate {
                        product,
                        seats,
                        apps: Apps::None,
                    }],
                    Some(Held::Active) => &[
                        |p, _| Op::Suspend(p),
                        |product, seats| Op::Licence { product, seats },
                        |p, _| Op::Deactivate(p),
                    ],
                    Some(Held::Suspended) => &[
                        |p, _| Op::Unsuspend(p),
                        |product, seats| Op::Licence { product, seats },
                        |p, _| Op::Deactivate(p),
                    ],
                };
                match moves[usize::from(choice) % moves.len()](product, seats) {
                    Op::Activate { product, seats, .. } => Op::Activate {
                        product,
                        seats,
                        apps,
                    },
                    other => other,
                }
            }
            ref other => other.clone(),
        };
        let now = |held: &BTreeMap<ProductKey, Held>, p: Product| held.get(&p.key()).copied();
        match op {
            Op::Activate {
                product,
                seats,
                apps,
            } => {
                if !matches!(now(held, product), Some(Held::Active | Held::Suspended)) {
                    held.insert(product.key(), Held::Active);
                }
                CommerceEvent::ProductActivated(ProductActivated {
                    product: product.key(),
                    edition: Edition::Standard,
                    seats,
                    apps: apps.keys(),
                })
            }
            Op::Licence { product, seats } => CommerceEvent::LicenceUpdated(LicenceUpdated {
                product: product.key(),
                edition: Edition::Premium,
                seats,
            }),
            Op::Suspend(p) => {
                if now(held, p) == Some(Held::Active) {
                    held.insert(p.key(), Held::Suspended);
                }
                CommerceEvent::ProductSuspended(ProductSuspended {
                    product: p.key(),
                    reason: Some("billing".into()),
                })
            }
            Op::Unsuspend(p) => {
                if now(held, p) == Some(Held::Suspended) {
                    held.insert(p.key(), Held::Active);
                }
                CommerceEvent::ProductUnsuspended(ProductUnsuspended { product: p.key() })
            }
            Op::Deactivate(p) => {
                if now(held, p).is_some() {
                    held.insert(p.key(), Held::Deactivated);
                }
                CommerceEvent::ProductDeactivated(ProductDeactivated { product: p.key() })
            }
            Op::Pin(region) => CommerceEvent::ResidencyPinned(ResidencyPinned {
                residency_pin: region,
                reason: None,
            }),
            Op::Destroy => CommerceEvent::TenantDestroyed(TenantDestroyed { reason: None }),
            Op::Next { .. } | Op::Recreate { .. } => unreachable!("resolved before"),
        }
    }
}

/// What happens to a tenant's records between commerce and the topic.
#[derive(Debug, Clone, Copy)]
enum Perturbation {
    /// The record is sent again, same event id, after the others.
    Duplicate(u8),
    /// The record is sent again with a new event id (same sequence), after
    /// the others: stale once its sequence is released.
    Resend(u8),
    /// Two adjacent records change places.
    Swap(u8),
    /// The record is never sent: a sequence gap.
    Drop(u8),
}

/// One tenant's history as generated.
#[derive(Debug, Clone)]
struct TenantPlan {
    /// Its `tenant_created` asks for the site name every such tenant of the
    /// case asks for: all but one fail at step 2.
    shared_site: bool,
    /// Residency pin of its `tenant_created`.
    pin: Option<Region>,
    /// Events after `tenant_created` (sequences 2…).
    ops: Vec<Op>,
    perturbations: Vec<Perturbation>,
    /// Which batch each sent record goes in.
    batching: Batching,
    /// Operator requests, one each time the tenant is found parked after a
    /// batch, each from the batch it names (modulo [`BATCHES`]) on.
    actions: Vec<(OperatorAction, u8)>,
}

/// How a tenant's sent records are cut into the [`BATCHES`] batches.
#[derive(Debug, Clone, Copy)]
enum Batching {
    /// At two points of the sent order.
    Cut([u8; 2]),
    /// A site contest's holder: everything in the first batch but its
    /// `tenant_destroyed`, which goes in the last (after the challenger
    /// failed).
    Holder,
    /// A site contest's challenger: everything in the second batch.
    Challenger,
}

/// Batches a history is sent in; after each, the provisioner settles and
/// parked tenants get their operator requests.
const BATCHES: usize = 3;

#[derive(Debug, Clone)]
struct History {
    tenants: Vec<TenantPlan>,
    /// Which tenant's next record is sent next.
    interleave: Vec<u8>,
    /// `Some(holder_leaves)`: tenants 0 and 1 contest one site name.
    /// Tenant 0 takes it in the first batch, tenant 1's creation fails in
    /// the second, tenant 0 is destroyed in the third when `holder_leaves`,
    /// then an operator retries tenant 1's creation: it completes only if
    /// the holder left.
    contest: Option<bool>,
}

fn product() -> impl Strategy<Value = Product> {
    prop_oneof![Just(Product::Jira), Just(Product::Confluence)]
}

fn region() -> impl Strategy<Value = Region> {
    prop_oneof![Just(Region::Eu), Just(Region::Us), Just(Region::Jp)]
}

fn op() -> impl Strategy<Value = Op> {
    let apps = prop_oneof![
        6 => Just(Apps::None),
        1 => Just(Apps::Registered),
        1 => Just(Apps::Unregistered),
    ];
    prop_oneof![
        10 => (product(), any::<u8>(), 1..=50i32, apps.clone()).prop_map(
            |(product, choice, seats, apps)| Op::Next { product, choice, seats, apps }
        ),
        1 => (product(), 1..=50i32, apps)
            .prop_map(|(product, seats, apps)| Op::Activate { product, seats, apps }),
        1 => (product(), 1..=50i32).prop_map(|(product, seats)| Op::Licence { product, seats }),
        1 => product().prop_map(Op::Suspend),
        1 => product().prop_map(Op::Unsuspend),
        1 => product().prop_map(Op::Deactivate),
        1 => region().prop_map(Op::Pin),
        1 => Just(Op::Destroy),
        1 => any::<bool>().prop_map(|shared_site| Op::Recreate { shared_site }),
    ]
}

fn perturbation() -> impl Strategy<Value = Perturbation> {
    prop_oneof![
        any::<u8>().prop_map(Perturbation::Duplicate),
        any::<u8>().prop_map(Perturbation::Resend),
        any::<u8>().prop_map(Perturbation::Swap),
        any::<u8>().prop_map(Perturbation::Drop),
    ]
}

fn tenant_plan() -> impl Strategy<Value = TenantPlan> {
    let action = prop_oneof![2 => Just(OperatorAction::Skip), 1 => Just(OperatorAction::Retry)];
    (
        prop::bool::weighted(0.4),
        prop::option::weighted(0.3, region()),
        prop::collection::vec(op(), 3..=7),
        prop::collection::vec(perturbation(), 0..=3),
        any::<[u8; 2]>(),
        prop::collection::vec((action, any::<u8>()), 0..=2),
    )
        .prop_map(
            |(shared_site, pin, ops, perturbations, cuts, actions)| TenantPlan {
                shared_site,
                pin,
                ops,
                perturbations,
                batching: Batching::Cut(cuts),
                actions,
            },
        )
}

fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(tenant_plan(), 2..=3),
        prop::collection::vec(any::<u8>(), 12),
        prop::option::weighted(0.3, any::<bool>()),
    )
        .prop_map(|(mut tenants, interleave, contest)| {
            if let Some(holder_leaves) = contest {
                let holder = &mut tenants[0];
                holder.shared_site = true;
                holder.batching = Batching::Holder;
                if holder_leaves {
                    holder.ops.push(Op::Destroy);
                }
                let challenger = &mut tenants[1];
                challenger.shared_site = true;
                challenger.batching = Batching::Challenger;
                challenger.actions.insert(0, (OperatorAction::Retry, 2));
            }
            History {
                tenants,
                interleave,
                contest,
            }
        })
}

/// The members in which the JSON of `a` and `b` (named) differ, one per
/// line.
fn differing((a_name, a): (&str, Value), (b_name, b): (&str, Value)) -> String {
    let (Some(a_members), Some(b_members)) = (a.as_object(), b.as_object()) else {
        return format!("\n  {a_name}: {a}\n  {b_name}: {b}");
    };
    let keys: BTreeSet<&String> = a_members.keys().chain(b_members.keys()).collect();
    let shown = |v: Option<&Value>| v.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    let mut out = String::new();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if x != y {
            let _ = write!(
                out,
                "\n  {key}:\n    {a_name}: {}\n    {b_name}: {}",
                shown(x),
                shown(y)
            );
        }
    }
    out
}

/// `x` as an index below `n`.
fn pick(x: u8, n: usize) -> usize {
    usize::from(x) % n
}

fn tenant_id(run: usize, i: usize) -> TenantId {
    TenantId::parse(&format!("r{run}-t{i}")).expect("tenant id")
}

fn commerce(tenant: &TenantId, sequence: i64, event: CommerceEvent) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant.clone(),
            sequence,
            occurred_at_ms: tenantry_store::now_ms(),
            source: "replay-property".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    }
}

/// The records of tenant `i` in the order they are sent, each with what
/// happened to it, cut into the [`BATCHES`] batches.
fn sent_records(
    run: usize,
    i: usize,
    plan: &TenantPlan,
) -> Vec<Vec<(CommerceRecord, &'static str)>> {
    let tenant = tenant_id(run, i);
    let created = |shared_site: bool, own: &str| {
        let site = if shared_site {
            format!("r{run}-shared")
        } else {
            format!("r{run}-s{i}{own}")
        };
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(&site).expect("site"),
            owner_email: format!("owner@{tenant}.test"),
            country: CountryCode::parse("DE").expect("country"),
            residency_pin: plan.pin,
        })
    };
    let mut held = BTreeMap::new();
    let mut sent: Vec<(CommerceRecord, &'static str)> =
        std::iter::once(created(plan.shared_site, ""))
            .chain(plan.ops.iter().map(|op| match *op {
                Op::Recreate { shared_site } => created(shared_site, "-again"),
                ref op => op.event(&mut held),
            }))
            .zip(1..)
            .map(|(event, sequence)| (commerce(&tenant, sequence, event), ""))
            .collect();
    for perturbation in &plan.perturbations {
        match *perturbation {
            Perturbation::Duplicate(at) => {
                let copy = sent[pick(at, sent.len())].0.clone();
                sent.push((copy, "duplicate"));
            }
            Perturbation::Resend(at) => {
                let mut copy = sent[pick(at, sent.len())].0.clone();
                copy.envelope.event_id = Uuid::new_v4();
                sent.push((copy, "resent, new event id"));
            }
            Perturbation::Swap(at) if sent.len() >= 2 => {
                let at = pick(at, sent.len() - 1);
                sent.swap(at, at + 1);
            }
            Perturbation::Drop(at) if sent.len() >= 2 => {
                sent.remove(pick(at, sent.len()));
            }
            Perturbation::Swap(_) | Perturbation::Drop(_) => {}
        }
    }
    let mut batches = vec![Vec::new(); BATCHES];
    let mut cuts = match plan.batching {
        Batching::Cut(cuts) => cuts.map(|cut| pick(cut, sent.len() + 1)),
        Batching::Holder | Batching::Challenger => [0; 2],
    };
    cuts.sort_unstable();
    for (at, sent) in sent.into_iter().enumerate() {
        let batch = match plan.batching {
            Batching::Cut(_) => cuts.iter().filter(|&&cut| cut <= at).count(),
            Batching::Holder if matches!(sent.0.event, CommerceEvent::TenantDestroyed(_)) => 2,
            Batching::Holder => 0,
            Batching::Challenger => 1,
        };
        batches[batch].push(sent);
    }
    batches
}

/// What [`settle`] looks at, for the tenants of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observation {
    /// Distinct commerce events recorded.
    recorded: i64,
    waiting: i64,
    /// Waiting events of tenants that are not parked: to be released.
    waiting_unparked: i64,
    sagas: i64,
    sagas_under_way: i64,
    outbox: i64,
    /// Operator requests not taken yet.
    requests: i64,
    /// Sums that change with every new tenant state and every parking.
    provisioning_seqs: i64,
    parked_at: i64,
    /// Per tenant: (provisioning sequence of the stored context, of the
    /// provisioner's last tenant state).
    versions: Vec<(i64, i64)>,
    /// Per tenant: the saga its stored state says is under way or about to
    /// start (`pending_saga`; `None` while parked).
    pending: Vec<Option<String>>,
}

impl Observation {
    async fn take(stack: &Stack, run: usize, tenants: &[TenantId]) -> Self {
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
    fn settled(&self, sent: usize) -> bool {
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
async fn settle(stack: &Stack, run: usize, tenants: &[TenantId], sent: usize, what: &str) {
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
async fn carried_out(
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
            Duration::from_secs(60),
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
            assert!(
                parking::request(pool, &tenant, action)
                    .await
                    .expect("operator request"),
                "{tenant} is parked"
            );
            let what = format!("{} {tenant} parked on {kind}", action.as_str());
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
