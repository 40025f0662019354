//! The workload: encodes and publishes the tenants, and tracks when each
//! one's context becomes readable.

use super::processes::{STACK_PROCESSES, Service, ServiceFigures, StackCpu, check, os};
use super::report::Report;
use super::statements::{StatementCount, StatementWindow};
use super::{BenchArgs, COUNTRIES, POLL_EVERY, POLL_OVERLAP_MS, PRODUCTS, WARM_UP_TIMEOUT};
use crate::settings::Settings;
use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tenantry_kafka::Producer;
use tenantry_sagas::{ProductState, TenantContext, TenantStatus};
use tenantry_schemas::{
    AppKey, Codec, CommerceEvent, CommerceRecord, CountryCode, Edition, Envelope, ProductActivated,
    ProductKey, RecordHeaders, SiteName, TenantCreated, TenantId, Topics,
};
use tenantry_store::{ContextStore, Store};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Warm-up, publish, poll; returns the figures.
pub(super) async fn drive(
    settings: &Settings,
    topics: &Topics,
    args: &BenchArgs,
    run_id: &str,
    store: &Store,
    services: &mut [Service; 2],
    shutdown: &CancellationToken,
) -> anyhow::Result<Report> {
    let codec = settings.codec()?;
    let products = usize::from(args.products);
    let warm_up = encode_tenant(&codec, topics, &format!("w{run_id}"), 0, products).await?;
    let mut tenants = Vec::with_capacity(args.tenants as usize);
    for index in 0..args.tenants as usize {
        tenants.push(
            encode_tenant(
                &codec,
                topics,
                &format!("b{run_id}-{index}"),
                index,
                products,
            )
            .await?,
        );
    }
    let producer = Producer::new(&settings.kafka("bench"))?;

    tracing::info!(tenant_id = %warm_up.id, "Waiting for the warm-up tenant (group joins).");
    let warm_up_started = Instant::now();
    send_in_order(&producer, &topics.commerce, &warm_up).await?;
    let contexts = ContextStore::new(store.clone());
    loop {
        if let Some(context) = contexts.get(&warm_up.id).await? {
            match settled(&context, products) {
                Some(Ok(())) => break,
                Some(Err(reason)) => bail!("warm-up tenant {} failed: {reason}", warm_up.id),
                None => {}
            }
        }
        check(services, shutdown)?;
        if warm_up_started.elapsed() > WARM_UP_TIMEOUT {
            bail!(
                "warm-up tenant {} not readable within {WARM_UP_TIMEOUT:?}",
                warm_up.id
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(elapsed = ?warm_up_started.elapsed(), tenants = args.tenants, rate = ?args.rate, "Warm-up done; publishing.");

    let mut tracker = Tracker::new(&tenants, products);
    let statements = StatementWindow::open(&settings.store.database_url, store).await;
    let before = [
        services[0].stats()?,
        services[1].stats()?,
        os::stats(std::process::id())?,
    ];
    let stack_before = os::named_cpu(STACK_PROCESSES);
    let started = Instant::now();
    let started_ms = tenantry_store::now_ms();
    let schedule = args.rate.map_or(Duration::ZERO, |rate| {
        Duration::from_secs_f64(f64::from(args.tenants) / rate)
    });
    let deadline = started + schedule + Duration::from_secs(args.timeout);
    let mut publisher = tokio::spawn(publish(
        producer,
        topics.commerce.clone(),
        tenants,
        args.rate,
    ));
    let mut published = None;
    let bar = crate::progress::bar(u64::from(args.tenants), "readable");
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while tracker.remaining > 0 {
        tokio::select! {
            // A failed publish ends the run at once instead of at the deadline.
            result = &mut publisher, if published.is_none() => {
                published = Some(result.context("publisher task")??);
            }
            _ = ticker.tick() => {
                tracker.poll(store).await?;
                bar.set_position(u64::from(args.tenants) - tracker.remaining as u64);
                check(services, shutdown)?;
                if Instant::now() > deadline {
                    bail!(
                        "{} of {} tenants not readable within {} s after the last publish \
                         (rerun with --keep-database and see `tenantry sagas show <tenant>`)",
                        tracker.remaining,
                        args.tenants,
                        args.timeout
                    );
                }
            }
        }
    }
    let finished = Instant::now();
    bar.finish_and_clear();
    // Where the time went: when the provisioner finished its last saga
    // (saga store) against when the projector made the last context readable.
    let (sagas, last_saga_ms): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MAX(updated_at) FROM sagas WHERE status NOT IN ('running', 'compensating') AND created_at >= $1",
    )
    .bind(started_ms)
    .fetch_one(store.pool())
    .await
    .context("read the saga store")?;
    // Every record of the run's topics (this run's tenants and the warm-up
    // tenant only: the topics are the run's own).
    let mut event_records = [0u64; 2];
    for (count, topic) in event_records
        .iter_mut()
        .zip([&topics.commerce, &topics.provisioning])
    {
        *count =
            tenantry_kafka::read_to_end(&settings.kafka("bench"), topic, Duration::from_secs(60))
                .await
                .with_context(|| format!("count the records of {topic}"))?
                .len() as u64;
    }
    let after = [
        services[0].stats()?,
        services[1].stats()?,
        os::stats(std::process::id())?,
    ];
    let stack = StackCpu::between(
        &stack_before,
        &os::named_cpu(STACK_PROCESSES),
        os::ticks_per_second(),
    );
    let statements = match statements {
        Ok(window) => window.close().await,
        Err(reason) => StatementCount::Unavailable(reason),
    };
    let published = match published {
        Some(published) => published,
        None => publisher.await.context("publisher task")??,
    };
    Ok(Report {
        tenants: args.tenants,
        products: args.products,
        rate: args.rate,
        latencies: tracker.latencies(&published)?,
        failed: tracker.failed,
        publish_span: published.last().map_or(Duration::ZERO, |t| *t - started),
        span: tracker.last_readable.unwrap_or(finished) - started,
        provisioner: ServiceFigures::between(&before[0], &after[0]),
        projector: ServiceFigures::between(&before[1], &after[1]),
        bench: ServiceFigures::between(&before[2], &after[2]),
        stack,
        statements,
        warnings: Vec::new(),
        sagas: u64::try_from(sagas).unwrap_or(0),
        event_records,
        sagas_span: last_saga_ms
            .map(|ms| Duration::from_millis(u64::try_from(ms - started_ms).unwrap_or(0))),
    })
}

/// One tenant's commerce records, encoded before the clock starts.
struct EncodedTenant {
    id: TenantId,
    /// `tenant_created` (sequence 1), then one `product_activated` per product
    /// (2, 3): each value with its record headers.
    payloads: Vec<(Vec<u8>, RecordHeaders)>,
}

async fn encode_tenant(
    codec: &Codec,
    topics: &Topics,
    id: &str,
    index: usize,
    products: usize,
) -> anyhow::Result<EncodedTenant> {
    let tenant_id = TenantId::parse(id)?;
    let record = |sequence: i64, event: CommerceEvent| CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant_id.clone(),
            sequence,
            occurred_at_ms: tenantry_store::now_ms(),
            source: "tenantry-bench".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    };
    let mut records = vec![record(
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(&format!("s{id}"))?,
            owner_email: format!("owner@{id}.test"),
            country: CountryCode::parse(COUNTRIES[index % COUNTRIES.len()])?,
            residency_pin: None,
            kms_key: None,
        }),
    )];
    for (sequence, (product, edition, seats, apps)) in (2..).zip(&PRODUCTS[..products]) {
        records.push(record(
            sequence,
            CommerceEvent::ProductActivated(ProductActivated {
                product: ProductKey::parse(product)?,
                edition: Edition::parse(edition)?,
                seats: *seats,
                apps: apps
                    .iter()
                    .map(|a| AppKey::parse(a))
                    .collect::<Result<_, _>>()?,
            }),
        ));
    }
    let mut payloads = Vec::with_capacity(records.len());
    for record in &records {
        record.validate()?;
        payloads.push((
            codec.encode_commerce(&topics.commerce, record).await?,
            RecordHeaders::commerce(record),
        ));
    }
    Ok(EncodedTenant {
        id: tenant_id,
        payloads,
    })
}

/// Sends a tenant's records; all are enqueued before the first
/// acknowledgement is awaited (`join_all` polls in order), and the idempotent
/// producer keeps that order within the tenant's partition.
async fn send_in_order(
    producer: &Producer,
    topic: &str,
    tenant: &EncodedTenant,
) -> anyhow::Result<()> {
    let sends = tenant.payloads.iter().map(|(payload, headers)| async move {
        producer
            .send(topic, tenant.id.as_str(), payload, &headers.pairs())
            .await
    });
    for result in futures::future::join_all(sends).await {
        result.with_context(|| format!("publish tenant {}", tenant.id))?;
    }
    Ok(())
}

/// Publishes every tenant, the i-th at `i / rate` seconds (open loop: a slow
/// provisioner does not slow the offered load), or all at once without a
/// rate. Returns each tenant's publish instant (before its first record is
/// enqueued), once every record is acknowledged.
async fn publish(
    producer: Producer,
    topic: String,
    tenants: Vec<EncodedTenant>,
    rate: Option<f64>,
) -> anyhow::Result<Vec<Instant>> {
    let start = tokio::time::Instant::now();
    let mut published = Vec::with_capacity(tenants.len());
    let mut sends = Vec::with_capacity(tenants.len());
    for (index, tenant) in tenants.into_iter().enumerate() {
        if let Some(rate) = rate {
            tokio::time::sleep_until(start + Duration::from_secs_f64(index as f64 / rate)).await;
        }
        published.push(Instant::now());
        let (producer, topic) = (producer.clone(), topic.clone());
        sends.push(tokio::spawn(async move {
            send_in_order(&producer, &topic, &tenant).await
        }));
    }
    for send in sends {
        send.await.context("publish task")??;
    }
    Ok(published)
}

/// `Some(Ok)` when the tenant saga and `products` product sagas completed,
/// `Some(Err(reason))` when one of them failed, `None` while in progress.
pub(super) fn settled(context: &TenantContext, products: usize) -> Option<Result<(), String>> {
    let context = &context.state;
    let failure = || {
        context
            .last_failure
            .clone()
            .unwrap_or_else(|| "saga failed".into())
    };
    if context.status == TenantStatus::Failed
        || context
            .products
            .values()
            .any(|p| p.state == ProductState::Failed)
    {
        return Some(Err(failure()));
    }
    let active = context
        .products
        .values()
        .filter(|p| p.state == ProductState::Active)
        .count();
    (context.status == TenantStatus::Active && active >= products).then_some(Ok(()))
}

/// Which tenants are readable, found by incremental polls of `tenant_contexts`.
struct Tracker {
    products: usize,
    index: HashMap<String, usize>,
    /// Revision last parsed per tenant: a row is parsed only when it changed.
    revisions: Vec<i64>,
    readable: Vec<Option<Instant>>,
    done: Vec<bool>,
    remaining: usize,
    failed: Vec<(String, String)>,
    last_readable: Option<Instant>,
    /// Newest `updated_at` seen (Unix ms).
    newest_ms: i64,
}

impl Tracker {
    fn new(tenants: &[EncodedTenant], products: usize) -> Self {
        Self {
            products,
            index: tenants
                .iter()
                .enumerate()
                .map(|(i, t)| (t.id.as_str().to_owned(), i))
                .collect(),
            revisions: vec![0; tenants.len()],
            readable: vec![None; tenants.len()],
            done: vec![false; tenants.len()],
            remaining: tenants.len(),
            failed: Vec::new(),
            last_readable: None,
            newest_ms: 0,
        }
    }

    /// One query for every context updated since the last poll (minus
    /// [`POLL_OVERLAP_MS`]); parses only rows whose revision changed.
    async fn poll(&mut self, store: &Store) -> anyhow::Result<()> {
        let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT tenant_id, revision, updated_at, context FROM tenant_contexts \
             WHERE updated_at >= $1",
        )
        .bind(self.newest_ms - POLL_OVERLAP_MS)
        .fetch_all(store.pool())
        .await
        .context("poll tenant_contexts")?;
        let now = Instant::now();
        for (tenant, revision, updated_at, context) in rows {
            self.newest_ms = self.newest_ms.max(updated_at);
            let Some(&i) = self.index.get(&tenant) else {
                continue; // the warm-up tenant
            };
            if self.done[i] || revision <= self.revisions[i] {
                continue;
            }
            self.revisions[i] = revision;
            let context: TenantContext = serde_json::from_str(&context)
                .with_context(|| format!("context of tenant {tenant} does not parse"))?;
            match settled(&context, self.products) {
                None => continue,
                Some(Ok(())) => {
                    self.readable[i] = Some(now);
                    self.last_readable = Some(now);
                }
                Some(Err(reason)) => self.failed.push((tenant, reason)),
            }
            self.done[i] = true;
            self.remaining -= 1;
        }
        Ok(())
    }

    /// Publish → readable latencies of the readable tenants, in microseconds.
    fn latencies(&self, published: &[Instant]) -> anyhow::Result<Histogram<u64>> {
        // 1 µs to 1 h at 3 significant digits.
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
        for (readable, published) in self.readable.iter().zip(published) {
            if let Some(readable) = readable {
                let micros = readable.saturating_duration_since(*published).as_micros();
                histogram.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            }
        }
        Ok(histogram)
    }
}
