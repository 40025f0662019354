//! The generated histories: what commerce sends per tenant (plausible
//! steps, events the guards reject, perturbations, batches) and the records
//! a history becomes.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) enum Product {
    Jira,
    Confluence,
}

impl Product {
    pub(super) fn key(self) -> ProductKey {
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
pub(super) enum Apps {
    None,
    Registered,
    Unregistered,
}

impl Apps {
    pub(super) fn keys(self) -> Vec<AppKey> {
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
pub(super) enum Held {
    Active,
    Suspended,
    Deactivated,
}

/// A commerce event after the tenant's `tenant_created`.
#[derive(Debug, Clone)]
pub(super) enum Op {
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
    pub(super) fn event(&self, held: &mut BTreeMap<ProductKey, Held>) -> CommerceEvent {
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
pub(super) enum Perturbation {
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
pub(super) struct TenantPlan {
    /// Its `tenant_created` asks for the site name every such tenant of the
    /// case asks for: all but one fail at step 2.
    pub(super) shared_site: bool,
    /// Residency pin of its `tenant_created`.
    pub(super) pin: Option<Region>,
    /// Events after `tenant_created` (sequences 2…).
    pub(super) ops: Vec<Op>,
    pub(super) perturbations: Vec<Perturbation>,
    /// Which batch each sent record goes in.
    pub(super) batching: Batching,
    /// Operator requests, one each time the tenant is found parked after a
    /// batch, each from the batch it names (modulo [`BATCHES`]) on.
    pub(super) actions: Vec<(OperatorAction, u8)>,
}

/// How a tenant's sent records are cut into the [`BATCHES`] batches.
#[derive(Debug, Clone, Copy)]
pub(super) enum Batching {
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
pub(super) const BATCHES: usize = 3;

#[derive(Debug, Clone)]
pub(super) struct History {
    pub(super) tenants: Vec<TenantPlan>,
    /// Which tenant's next record is sent next.
    pub(super) interleave: Vec<u8>,
    /// `Some(holder_leaves)`: tenants 0 and 1 contest one site name.
    /// Tenant 0 takes it in the first batch, tenant 1's creation fails in
    /// the second, tenant 0 is destroyed in the third when `holder_leaves`,
    /// then an operator retries tenant 1's creation: it completes only if
    /// the holder left.
    pub(super) contest: Option<bool>,
}

pub(super) fn product() -> impl Strategy<Value = Product> {
    prop_oneof![Just(Product::Jira), Just(Product::Confluence)]
}

pub(super) fn region() -> impl Strategy<Value = Region> {
    prop_oneof![Just(Region::Eu), Just(Region::Us), Just(Region::Jp)]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
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

pub(super) fn perturbation() -> impl Strategy<Value = Perturbation> {
    prop_oneof![
        any::<u8>().prop_map(Perturbation::Duplicate),
        any::<u8>().prop_map(Perturbation::Resend),
        any::<u8>().prop_map(Perturbation::Swap),
        any::<u8>().prop_map(Perturbation::Drop),
    ]
}

pub(super) fn tenant_plan() -> impl Strategy<Value = TenantPlan> {
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

pub(super) fn history() -> impl Strategy<Value = History> {
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
pub(super) fn differing((a_name, a): (&str, Value), (b_name, b): (&str, Value)) -> String {
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
pub(super) fn pick(x: u8, n: usize) -> usize {
    usize::from(x) % n
}

pub(super) fn tenant_id(run: usize, i: usize) -> TenantId {
    TenantId::parse(&format!("r{run}-t{i}")).expect("tenant id")
}

pub(super) fn commerce(tenant: &TenantId, sequence: i64, event: CommerceEvent) -> CommerceRecord {
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
pub(super) fn sent_records(
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
            kms_key: None,
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
