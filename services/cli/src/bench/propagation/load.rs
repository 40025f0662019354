//! The load of `tenantry bench propagation`: the records it publishes, the
//! long-polls it opens on every API instance, and its own reader of the
//! changelog.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tenantry_kafka::{KafkaConfig, Producer, Tail, TailEvent};
use tenantry_sagas::ContextChange;
use tenantry_schemas::{Codec, Envelope, ProvisioningEvent, ProvisioningRecord, TenantId};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::super::contexts::fixture;
use super::super::processes::{self, Service};
use super::report::{Changelog, Poll, Published, Version};

/// `wait_ms` of every long-poll: the API's longest.
pub(super) const WAIT_MS: u64 = 10_000;

/// A long-poll's HTTP deadline: the wait plus room for a slow answer.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(WAIT_MS + 5_000);

/// Records published between two checks that the services still run.
const CHECK_EVERY: usize = 50;

/// The time now, in milliseconds since the Unix epoch (sub-millisecond
/// precision: an `f64` holds today's epoch milliseconds to about 0.25 µs).
pub(super) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// One record to publish: a new version of its tenant.
pub(super) struct Planned {
    pub(super) tenant: TenantId,
    pub(super) sequence: i64,
    pub(super) payload: Vec<u8>,
}

/// A tenant-state record of tenant `i` of the run at `sequence`, encoded for
/// `topic`: a provisioned tenant's context (the `bench contexts` fixture,
/// about 1 KiB of JSON) whose commerce and provisioning sequences are both
/// `sequence`, so each record is a new version the projector applies.
pub(super) async fn planned(
    codec: &Codec,
    topic: &str,
    run_id: &str,
    i: u32,
    sequence: i64,
) -> anyhow::Result<Planned> {
    let context = fixture(run_id, i)?;
    let mut state = context.state;
    state.commerce_sequence = sequence;
    let record = ProvisioningRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: context.tenant_id.clone(),
            sequence,
            occurred_at_ms: now_ms() as i64,
            source: "tenantry-bench".to_owned(),
            correlation_id: None,
            causation_id: None,
        },
        event: ProvisioningEvent::TenantState(Box::new(state)),
    };
    let payload = codec
        .encode_provisioning(topic, &record)
        .await
        .context("encode a tenant-state record")?;
    Ok(Planned {
        tenant: context.tenant_id,
        sequence,
        payload,
    })
}

/// The API instances under test, over one HTTP client.
pub(super) struct Instances {
    client: reqwest::Client,
    /// `http://127.0.0.1:<port>`, one per instance.
    bases: Vec<String>,
}

impl Instances {
    /// A client for the instances listening on `ports`.
    pub(super) fn new(ports: &[u16]) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // An HTTP(S)_PROXY of the environment must not carry loopback calls.
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .context("HTTP client")?;
        Ok(Self {
            client,
            bases: ports
                .iter()
                .map(|port| format!("http://127.0.0.1:{port}"))
                .collect(),
        })
    }

    /// How many instances.
    pub(super) fn len(&self) -> usize {
        self.bases.len()
    }

    /// Waits until every instance's `/readyz` answers `200` (the sidecar
    /// has read the changelog to its end; the topic exists once the
    /// projector has started).
    pub(super) async fn wait_ready(
        &self,
        timeout: Duration,
        services: &mut [Service],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for base in &self.bases {
            loop {
                processes::check(services, shutdown)?;
                let answer = self.client.get(format!("{base}/readyz")).send().await;
                match answer {
                    Ok(response) if response.status().is_success() => break,
                    Ok(_) | Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok(response) => bail!(
                        "{base} not ready after {timeout:?}: {} {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    ),
                    Err(error) => bail!("{base} not ready after {timeout:?}: {error}"),
                }
            }
        }
        Ok(())
    }

    /// Opens about `per_instance` connections to each instance (that many
    /// `/healthz` calls at once), so the measured long-polls do not pay
    /// for connecting.
    pub(super) async fn warm_connections(&self, per_instance: usize) -> anyhow::Result<()> {
        let calls = self.bases.iter().flat_map(|base| {
            (0..per_instance).map(move |_| async move {
                self.client
                    .get(format!("{base}/healthz"))
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await
            })
        });
        futures::future::try_join_all(calls)
            .await
            .context("warm the HTTP connections")?;
        Ok(())
    }

    /// One long-poll of instance `instance` for `tenant` at `sequence`.
    pub(super) fn poll(
        &self,
        instance: usize,
        tenant: &TenantId,
        sequence: i64,
    ) -> impl Future<Output = Poll> + Send + 'static {
        let request = self.client.get(format!(
            "{}/v1/tenants/{tenant}/context?min_sequence={sequence}&wait_ms={WAIT_MS}",
            self.bases[instance]
        ));
        async move {
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => return Poll::Failed(format!("no answer: {error}")),
            };
            let at_ms = now_ms();
            let status = response.status().as_u16();
            let had = response
                .headers()
                .get("tenantry-commerce-sequence")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok());
            // Read to the end, so the connection goes back to the pool.
            let body = response.bytes().await;
            match (status, had) {
                (200, Some(had)) if had >= sequence => Poll::Served { at_ms },
                (200 | 404, had) => Poll::TimedOut { status, had },
                (status, _) => Poll::Failed(format!(
                    "status {status}: {}",
                    body.map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                )),
            }
        }
    }

    /// Long-polls every instance for `tenant` at `sequence` until each has
    /// served it or `timeout` has passed (the warm-up: it waits for the
    /// projector to join its group too).
    pub(super) async fn wait_served(
        &self,
        tenant: &TenantId,
        sequence: i64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for instance in 0..self.len() {
            loop {
                match self.poll(instance, tenant, sequence).await {
                    Poll::Served { .. } => break,
                    other if Instant::now() >= deadline => bail!(
                        "{} did not serve {tenant} at sequence {sequence} within {timeout:?}: \
                         {other:?}",
                        self.bases[instance]
                    ),
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(())
    }
}

/// The bench's own reader of the changelog (a [`Tail`], as the sidecars
/// read it: `read_committed`, the same librdkafka settings), noting every
/// version with its timestamp and arrival.
pub(super) struct Follower {
    pub(super) changelog: Arc<Mutex<Changelog>>,
    task: JoinHandle<()>,
}

impl Follower {
    /// Starts reading `topic` from its beginning.
    ///
    /// Errors: the topic does not exist, or the broker does not answer.
    pub(super) async fn start(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<Self> {
        let mut tail = Tail::start(kafka, topic, Duration::from_secs(10))
            .await
            .with_context(|| format!("read the changelog {topic}"))?;
        let changelog = Arc::new(Mutex::new(Changelog::default()));
        let noted = changelog.clone();
        let task = tokio::spawn(async move {
            loop {
                match tail.next().await {
                    Ok(TailEvent::Record(record)) => {
                        let delivered_ms = now_ms();
                        let change = record
                            .payload
                            .as_deref()
                            .and_then(|p| serde_json::from_slice::<ContextChange>(p).ok());
                        if let (Some(change), Some(written_ms)) = (change, record.timestamp_ms) {
                            let version = Version {
                                commerce_sequence: change.context.state.commerce_sequence,
                                written_ms,
                                delivered_ms,
                            };
                            noted
                                .lock()
                                .expect("changelog lock")
                                .record(change.context.tenant_id.as_str(), version);
                        }
                    }
                    Ok(TailEvent::CaughtUp) => {}
                    Err(error) => {
                        tracing::warn!(%error, "Reading the changelog failed; the client retries.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Self { changelog, task })
    }

    /// Waits up to `timeout` until a version reflecting each of `wanted`
    /// has been read; returns what was read either way.
    pub(super) async fn settle(self, wanted: &[Published], timeout: Duration) -> Changelog {
        let deadline = Instant::now() + timeout;
        loop {
            let all = {
                let changelog = self.changelog.lock().expect("changelog lock");
                wanted
                    .iter()
                    .all(|p| changelog.first_at_least(&p.tenant, p.sequence).is_some())
            };
            if all || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.task.abort();
        self.changelog.lock().expect("changelog lock").clone()
    }
}

/// What [`drive`] measured.
pub(super) struct Driven {
    pub(super) published: Vec<Published>,
    /// `polls[i][k]`: how the long-poll of record `i` on instance `k` ended.
    pub(super) polls: Vec<Vec<Poll>>,
    /// First publish → last publish.
    pub(super) publishing: Duration,
}

/// Publishes `planned` open loop at `rate` records/s on `topic`; right
/// before each record, opens one long-poll per instance for its sequence.
/// Returns once every long-poll has ended.
///
/// Errors: a publish fails, a service exits, Ctrl-C.
pub(super) async fn drive(
    producer: &Producer,
    topic: &str,
    planned: &[Planned],
    rate: f64,
    instances: &Instances,
    services: &mut [Service],
    shutdown: &CancellationToken,
) -> anyhow::Result<Driven> {
    let mut published = Vec::with_capacity(planned.len());
    let mut polls: JoinSet<(usize, usize, Poll)> = JoinSet::new();
    // Sends are awaited here, not spawned: each is enqueued in librdkafka
    // when first polled, so records keep the order they were planned in.
    let mut sends = FuturesUnordered::new();
    let start = Instant::now();
    let mut first_last = (None, None);
    let mut next = 0;
    while next < planned.len() || !sends.is_empty() {
        let due = start + Duration::from_secs_f64(next as f64 / rate);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => bail!("interrupted"),
            Some((i, sent)) = sends.next(), if !sends.is_empty() => {
                let sent: Result<(i32, i64), tenantry_kafka::KafkaError> = sent;
                sent.with_context(|| format!("publish record {i} on {topic}"))?;
            }
            () = tokio::time::sleep_until(due), if next < planned.len() => {
                if next % CHECK_EVERY == 0 {
                    processes::check(services, shutdown)?;
                }
                let record = &planned[next];
                for instance in 0..instances.len() {
                    let poll = instances.poll(instance, &record.tenant, record.sequence);
                    let i = next;
                    polls.spawn(async move { (i, instance, poll.await) });
                }
                let now = Instant::now();
                first_last = (first_last.0.or(Some(now)), Some(now));
                published.push(Published {
                    tenant: record.tenant.to_string(),
                    sequence: record.sequence,
                    at_ms: now_ms(),
                });
                let i = next;
                sends.push(async move {
                    (i, producer.send(topic, record.tenant.as_str(), &record.payload, &[]).await)
                });
                next += 1;
            }
        }
    }
    let mut answers: Vec<Vec<Option<Poll>>> = vec![vec![None; instances.len()]; planned.len()];
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => bail!("interrupted"),
            _ = check.tick() => processes::check(services, shutdown)?,
            joined = polls.join_next() => match joined {
                Some(joined) => {
                    let (i, instance, poll) = joined.context("a long-poll task")?;
                    answers[i][instance] = Some(poll);
                }
                None => break,
            },
        }
    }
    let polls = answers
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|poll| poll.unwrap_or_else(|| Poll::Failed("not run".to_owned())))
                .collect()
        })
        .collect();
    let publishing = match first_last {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    };
    Ok(Driven {
        published,
        polls,
        publishing,
    })
}
