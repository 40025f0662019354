//! The figures of `tenantry bench kms` and the goal they are held to.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;
use tenantry_keys::CacheLimits;

use super::KmsArgs;
use super::calls::Calls;

/// The KMS calls one phase made, how long it took and, for seals and
/// opens, each operation's latency (µs).
#[derive(Debug, Default)]
pub struct Phase {
    /// Calls by operation.
    pub calls: Calls,
    /// First call started → last one answered.
    pub elapsed: Duration,
    /// Latency of each seal or open, in microseconds.
    pub latencies: Option<Histogram<u64>>,
}

impl Phase {
    /// A phase's figures.
    pub fn new(calls: Calls, elapsed: Duration, latencies: Option<Histogram<u64>>) -> Self {
        Self {
            calls,
            elapsed,
            latencies,
        }
    }

    /// Operations (seals, opens) per second over the phase.
    fn per_second(&self) -> f64 {
        let count = self.latencies.as_ref().map_or(0, Histogram::len);
        count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` in milliseconds (0 without latencies).
    fn ms(&self, q: f64) -> f64 {
        self.latencies
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "calls": self.calls.json(),
            "calls_total": self.calls.total(),
            "attempts_total": self.calls.attempts(),
            "seconds": self.elapsed.as_secs_f64(),
            "per_s": self.latencies.as_ref().map(|_| self.per_second()),
            "latency_ms": self.latencies.as_ref().map(|_| json!({
                "p50": self.ms(0.50), "p99": self.ms(0.99), "max": self.ms(1.0),
            })),
        })
    }
}

/// The figures of one `tenantry bench kms` run.
#[derive(Debug)]
pub struct KmsReport {
    /// Tenants, one KMS key each.
    pub tenants: u32,
    /// Values sealed.
    pub seals: u32,
    /// Seals and opens in flight at once.
    pub concurrency: u32,
    /// Bytes of each sealed value.
    pub value_bytes: u32,
    /// The data-key cache's limits in this run.
    pub limits: CacheLimits,
    /// Creating the tenant keys.
    pub create: Phase,
    /// Sealing.
    pub seal: Phase,
    /// Opening (none with `--opens 0`).
    pub open: Option<Phase>,
    /// Destroying the run's tenant keys afterwards.
    pub cleanup: Calls,
    /// `GenerateDataKey` calls the service counted itself over the seal
    /// phase (`KmsKeyService::generate_data_key_calls`), beside the
    /// interceptor's count of the same.
    pub service_generate_data_key_calls: u64,
    /// Bytes of one sealed value (header, wrapped data key, nonce, body, tag).
    pub sealed_bytes: Option<usize>,
}

impl KmsReport {
    /// An empty report of a run with `args` and `limits`.
    pub fn new(args: &KmsArgs, limits: CacheLimits) -> Self {
        Self {
            tenants: args.tenants,
            seals: args.seals,
            concurrency: args.concurrency,
            value_bytes: args.value_bytes,
            limits,
            create: Phase::default(),
            seal: Phase::default(),
            open: None,
            cleanup: Calls::default(),
            service_generate_data_key_calls: 0,
            sealed_bytes: None,
        }
    }

    /// Seals of each tenant: round robin, so the first `seals % tenants`
    /// tenants have one more.
    fn seals_per_tenant(&self) -> impl Iterator<Item = u64> + '_ {
        let (tenants, seals) = (u64::from(self.tenants), u64::from(self.seals));
        (0..tenants).map(move |t| seals / tenants + u64::from(t < seals % tenants))
    }

    /// Usage windows of all tenants over the seal phase: the most
    /// `GenerateDataKey` calls the goal allows.
    pub fn windows(&self) -> u64 {
        self.seals_per_tenant()
            .map(|seals| usage_windows(seals, &self.limits, self.seal.elapsed))
            .sum()
    }

    /// `GenerateDataKey` calls of the seal phase, as the interceptor counted them.
    pub fn generate_data_key_calls(&self) -> u64 {
        self.seal.calls.calls("GenerateDataKey")
    }

    /// Whether the seal phase met the goal: one `GenerateDataKey` per tenant
    /// per usage window at most, and no call failed.
    pub fn goal_met(&self) -> bool {
        self.generate_data_key_calls() <= self.windows() && self.seal.calls.errors() == 0
    }

    /// KMS calls of the seal phase for every 10,000 seals.
    pub fn calls_per_10k_seals(&self) -> f64 {
        self.seal.calls.total() as f64 * 10_000.0 / f64::from(self.seals.max(1))
    }

    /// The figures as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "tenants": self.tenants,
            "seals": self.seals,
            "concurrency": self.concurrency,
            "value_bytes": self.value_bytes,
            "sealed_bytes": self.sealed_bytes,
            "limits": {
                "max_seals": self.limits.max_seals,
                "ttl_ms": u64::try_from(self.limits.ttl.as_millis()).unwrap_or(u64::MAX),
            },
            "create": self.create.json(),
            "seal": self.seal.json(),
            "open": self.open.as_ref().map(Phase::json),
            "cleanup": self.cleanup.json(),
            "kms_calls_per_10k_seals": self.calls_per_10k_seals(),
            "generate_data_key_calls": self.generate_data_key_calls(),
            "generate_data_key_calls_by_service": self.service_generate_data_key_calls,
            "usage_windows": self.windows(),
            "goal_met": self.goal_met(),
        })
    }
}

/// How many data keys the cache may generate for a tenant that seals
/// `seals` values over `elapsed`: each key but the last was retired either
/// after `max_seals` seals or once `ttl` old, and keys retired by age lived
/// one after another, so at most `elapsed / ttl` of them; each key seals at
/// least once. 0 for a tenant that sealed nothing.
pub fn usage_windows(seals: u64, limits: &CacheLimits, elapsed: Duration) -> u64 {
    if seals == 0 {
        return 0;
    }
    let by_seals = (seals - 1) / limits.max_seals.max(1);
    let by_age = elapsed.as_nanos() / limits.ttl.as_nanos().max(1);
    let by_age = u64::try_from(by_age).unwrap_or(u64::MAX);
    seals.min(1 + by_seals.saturating_add(by_age))
}

impl fmt::Display for KmsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command: Vec<String> = std::env::args().collect();
        writeln!(f, "command: {}", command.join(" "))?;
        writeln!(
            f,
            "kms: {} tenants, {} seals of {}-byte values (round robin, {} in flight); data key \
             retired after {} seals or {:.3} s",
            self.tenants,
            self.seals,
            self.value_bytes,
            self.concurrency,
            self.limits.max_seals,
            self.limits.ttl.as_secs_f64(),
        )?;
        writeln!(
            f,
            "  key creation: {} calls in {:.2} s ({})",
            self.create.calls.total(),
            self.create.elapsed.as_secs_f64(),
            self.create.calls,
        )?;
        writeln!(
            f,
            "  seals: {:.0} seals/s over {:.3} s; latency p50={:.3} p99={:.3} max={:.1} ms; \
             sealed value {} bytes",
            self.seal.per_second(),
            self.seal.elapsed.as_secs_f64(),
            self.seal.ms(0.50),
            self.seal.ms(0.99),
            self.seal.ms(1.0),
            self.sealed_bytes
                .map_or_else(|| "n/a".to_owned(), |b| b.to_string()),
        )?;
        writeln!(
            f,
            "  seal-phase KMS calls: {} ({}) = {:.1} per 10,000 seals, {:.2} per tenant",
            self.seal.calls.total(),
            self.seal.calls,
            self.calls_per_10k_seals(),
            self.seal.calls.total() as f64 / f64::from(self.tenants),
        )?;
        let windows = self.windows();
        writeln!(
            f,
            "  goal, one GenerateDataKey per tenant per usage window: {} — {} calls for {} tenant \
             windows ({:.2} per window; the service counted {})",
            if self.goal_met() { "met" } else { "MISSED" },
            self.generate_data_key_calls(),
            windows,
            self.generate_data_key_calls() as f64 / windows.max(1) as f64,
            self.service_generate_data_key_calls,
        )?;
        if let Some(open) = &self.open {
            let opens = open.latencies.as_ref().map_or(0, Histogram::len);
            writeln!(
                f,
                "  opens: {opens} at {:.0} opens/s; latency p50={:.2} p99={:.2} max={:.1} ms; \
                 {} calls ({}) = {:.2} per open",
                open.per_second(),
                open.ms(0.50),
                open.ms(0.99),
                open.ms(1.0),
                open.calls.total(),
                open.calls,
                open.calls.total() as f64 / opens.max(1) as f64,
            )?;
        }
        write!(f, "  clean-up (keys destroyed): {}", self.cleanup)
    }
}
