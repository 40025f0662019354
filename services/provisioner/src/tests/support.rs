//! Fakes and fixtures of the provisioner's unit tests: step effects that
//! fail, hang or fail their compensation when told to, a dead-letter queue
//! that keeps what it is given, shards added to a [`MemoryStore`], and
//! records as the consumer hands them over.

use crate::dead_letter::DeadLetterQueue;
use crate::ingest::Ingest;
use crate::runner::SagaRunner;
use crate::steps::{ShardProvisioner, StepContext};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tenantry_kafka::Record;
use tenantry_keys::LocalKeyService;
use tenantry_sagas::saga::{SagaSpec, TenantSpec};
use tenantry_sagas::work::Shard;
use tenantry_sagas::{
    SagaKind, SagaState, Step, StepEffects, StepError, StepOutput, StepPolicy, TransactionalEffects,
};
use tenantry_schemas::{
    AppKey, Codec, CommerceEvent, CommerceRecord, CountryCode, Edition, Envelope, LicenceUpdated,
    ProductActivated, ProductKey, SiteName, TenantCreated, TenantId,
};
use tenantry_store::memory::MemoryStore;
use tokio::time::Instant;
use uuid::Uuid;

/// Domain of site hosts in these tests.
pub const DOMAIN: &str = "tenantry.test";

/// Commerce topic of the records.
pub const TOPIC: &str = "commerce.lifecycle.v1";

/// What a scripted step (or compensation) does on one call.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Fails with this error.
    Fail(StepError),
    /// Never returns (the runner's timeout ends it).
    Hang,
}

/// A hook run when a step starts, before its behaviour (another runner
/// writing the saga, a shutdown request).
pub type Hook = Arc<dyn Fn(SagaState) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Whether a call executed or compensated its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// [`StepEffects::execute`].
    Execute(Step),
    /// [`StepEffects::compensate`].
    Compensate(Step),
}

#[derive(Default)]
struct Script {
    execute: HashMap<Step, VecDeque<Behaviour>>,
    compensate: HashMap<Step, VecDeque<Behaviour>>,
    hooks: HashMap<Step, Hook>,
    calls: Vec<(Call, Uuid, Instant)>,
}

/// Step effects that succeed with an empty output unless told otherwise:
/// each told behaviour is used by one call, in order. Clones share the script.
#[derive(Clone, Default)]
pub struct FakeEffects {
    script: Arc<Mutex<Script>>,
}

impl FakeEffects {
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap()
    }

    /// The next `times` executions of `step` behave so.
    pub fn execute(&self, step: Step, behaviour: Behaviour, times: usize) -> &Self {
        let mut script = self.script();
        let queue = script.execute.entry(step).or_default();
        queue.extend(std::iter::repeat_n(behaviour, times));
        drop(script);
        self
    }

    /// The next `times` compensations of `step` behave so.
    pub fn compensate(&self, step: Step, behaviour: Behaviour, times: usize) -> &Self {
        let mut script = self.script();
        let queue = script.compensate.entry(step).or_default();
        queue.extend(std::iter::repeat_n(behaviour, times));
        drop(script);
        self
    }

    /// Runs `hook` whenever `step` starts executing.
    pub fn on_execute(&self, step: Step, hook: Hook) -> &Self {
        self.script().hooks.insert(step, hook);
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.script()
            .calls
            .iter()
            .map(|(call, _, _)| *call)
            .collect()
    }

    /// The calls of one saga, with when they started.
    pub fn timed_calls(&self, saga_id: Uuid) -> Vec<(Call, Instant)> {
        self.script()
            .calls
            .iter()
            .filter(|(_, saga, _)| *saga == saga_id)
            .map(|(call, _, at)| (*call, *at))
            .collect()
    }

    async fn run(&self, saga: &SagaState, call: Call) -> Result<(), StepError> {
        let (behaviour, hook) = {
            let mut script = self.script();
            script.calls.push((call, saga.saga_id, Instant::now()));
            match call {
                Call::Execute(step) => (
                    script.execute.get_mut(&step).and_then(VecDeque::pop_front),
                    script.hooks.get(&step).cloned(),
                ),
                Call::Compensate(step) => (
                    script
                        .compensate
                        .get_mut(&step)
                        .and_then(VecDeque::pop_front),
                    None,
                ),
            }
        };
        if let Some(hook) = hook {
            hook(saga.clone()).await;
        }
        match behaviour {
            None => Ok(()),
            Some(Behaviour::Fail(error)) => Err(error),
            Some(Behaviour::Hang) => std::future::pending().await,
        }
    }
}

impl StepEffects for FakeEffects {
    /// Every fake step has the default policy of a step on the store.
    fn policy(&self, _step: Step) -> StepPolicy {
        StepPolicy::default()
    }

    async fn execute(&self, saga: &SagaState, step: Step) -> Result<StepOutput, StepError> {
        self.run(saga, Call::Execute(step)).await?;
        Ok(StepOutput::new())
    }

    async fn compensate(&self, saga: &SagaState, step: Step) -> Result<(), StepError> {
        self.run(saga, Call::Compensate(step)).await
    }
}

/// None of the fake steps runs in the runner's unit of work: every step
/// takes the step-at-a-time path with its policy.
impl<W: Send> TransactionalEffects<W> for FakeEffects {
    fn runs_in_work(&self, _saga: &SagaState, _step: Step) -> bool {
        false
    }

    async fn execute_in(
        &self,
        _work: &mut W,
        _saga: &SagaState,
        step: Step,
    ) -> Result<StepOutput, StepError> {
        Err(StepError::permanent(format!(
            "step {} does not run in a unit of work here",
            step.name()
        )))
    }
}

/// A dead-letter queue that keeps `(offset, reason)` of what it is given.
#[derive(Clone, Default)]
pub struct FakeDeadLetters {
    published: Arc<Mutex<Vec<(i64, String)>>>,
}

impl FakeDeadLetters {
    /// What was dead-lettered, in order.
    pub fn published(&self) -> Vec<(i64, String)> {
        self.published.lock().unwrap().clone()
    }
}

impl DeadLetterQueue for FakeDeadLetters {
    type Error = Infallible;

    async fn publish(&self, record: &Record, reason: &str) -> Result<(), Infallible> {
        let entry = (record.offset, reason.to_owned());
        self.published.lock().unwrap().push(entry);
        Ok(())
    }
}

/// Shards as rows of a [`MemoryStore`].
pub struct MemoryShards {
    store: MemoryStore,
}

impl ShardProvisioner for MemoryShards {
    fn add_shard<'a>(
        &'a self,
        region: &'a str,
        number: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Shard, StepError>> + Send + 'a>> {
        Box::pin(async move { Ok(self.store.add_shard(region, number, 100)) })
    }
}

/// An ingest on a memory store with fake effects (three attempts per step)
/// and dead letters; the batch path's keys live in `keys_dir`.
pub fn ingest(
    store: &MemoryStore,
    effects: &FakeEffects,
    dead_letters: &FakeDeadLetters,
    keys_dir: &tempfile::TempDir,
) -> Ingest<MemoryStore, FakeEffects, FakeDeadLetters> {
    let keys = Arc::new(LocalKeyService::new(keys_dir.path()).unwrap());
    Ingest {
        store: store.clone(),
        codec: Arc::new(Codec::embedded()),
        dead_letters: dead_letters.clone(),
        runner: runner(store, effects),
        steps: StepContext::for_tests(
            DOMAIN,
            keys,
            Arc::new(MemoryShards {
                store: store.clone(),
            }),
        ),
    }
}

/// A runner on `store` with `effects`, three attempts per step at most.
pub fn runner(store: &MemoryStore, effects: &FakeEffects) -> SagaRunner<MemoryStore, FakeEffects> {
    SagaRunner::new(store.clone(), effects.clone(), 3, Arc::default())
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

pub fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

fn commerce(tenant_id: &str, sequence: i64, event: CommerceEvent) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant(tenant_id),
            sequence,
            occurred_at_ms: 1_700_000_000_000,
            source: "provisioner-unit-test".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    }
}

/// `tenant_created` (sequence 1), site named after the tenant.
pub fn created(tenant_id: &str) -> CommerceRecord {
    commerce(
        tenant_id,
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(tenant_id).unwrap(),
            owner_email: format!("owner@{tenant_id}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    )
}

/// `product_activated` of jira (sequence 2) with `apps`.
pub fn activated(tenant_id: &str, apps: &[&str]) -> CommerceRecord {
    commerce(
        tenant_id,
        2,
        CommerceEvent::ProductActivated(ProductActivated {
            product: jira(),
            edition: Edition::Standard,
            seats: 10,
            apps: apps.iter().map(|a| AppKey::parse(a).unwrap()).collect(),
        }),
    )
}

/// `licence_updated` of jira at `sequence`.
pub fn licence_updated(tenant_id: &str, sequence: i64) -> CommerceRecord {
    commerce(
        tenant_id,
        sequence,
        CommerceEvent::LicenceUpdated(LicenceUpdated {
            product: jira(),
            edition: Edition::Premium,
            seats: 20,
        }),
    )
}

/// `commerce` encoded as the consumer hands it over, at `offset`, keyed by
/// its tenant.
pub async fn record(offset: i64, commerce: &CommerceRecord) -> Record {
    let codec = Codec::embedded();
    let payload = codec.encode_commerce(TOPIC, commerce).await.unwrap();
    Record {
        topic: TOPIC.into(),
        partition: 0,
        offset,
        key: Some(commerce.envelope.tenant_id.as_str().as_bytes().to_vec()),
        payload: Some(payload),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

/// A tenant saga of `tenant_id`, as the ingest plans it from its creation.
pub fn tenant_saga(tenant_id: &str) -> SagaState {
    let trigger = created(tenant_id);
    let spec = SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse(tenant_id).unwrap(),
            owner_email: format!("owner@{tenant_id}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        },
        product: None,
        products: vec![],
    };
    SagaState::start(SagaKind::ProvisionTenant, &trigger.envelope, spec)
}
