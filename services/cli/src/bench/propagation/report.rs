//! The figures of `tenantry bench propagation`, and the pure parts that
//! make them: exact percentiles ([`Latencies`]), the changelog versions
//! the bench saw ([`Changelog`]) and the matching of each long-poll's
//! answer to the version that satisfied it ([`Tally::of`]).

use std::collections::HashMap;
use std::fmt;

use serde_json::json;

/// The goal: 99 % of versions served by every instance within this many
/// milliseconds of their changelog record (the brief of this bench, on the
/// local stack's 2-core machine).
pub const GOAL_P99_MS: f64 = 100.0;

/// Latencies in milliseconds, sorted; percentiles by nearest rank, so each
/// figure is one measured value (no interpolation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    sorted: Vec<f64>,
}

impl Latencies {
    /// The latencies `values` (milliseconds, any order).
    pub fn new(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self { sorted: values }
    }

    /// How many.
    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    /// The nearest-rank `q` quantile (0 < q ≤ 1): the smallest value with at
    /// least `q` of all values at or below it; `None` without values.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let rank = (q * n as f64).ceil() as usize;
        Some(self.sorted[rank.clamp(1, n) - 1])
    }

    /// The largest value.
    pub fn max(&self) -> Option<f64> {
        self.sorted.last().copied()
    }

    /// `{count, p50, p90, p99, max}` in milliseconds (null without values).
    pub fn json(&self) -> serde_json::Value {
        json!({
            "count": self.count(),
            "p50": self.quantile(0.50),
            "p90": self.quantile(0.90),
            "p99": self.quantile(0.99),
            "max": self.max(),
        })
    }
}

impl fmt::Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"));
        write!(
            f,
            "p50={} p90={} p99={} max={} ms",
            ms(self.quantile(0.50)),
            ms(self.quantile(0.90)),
            ms(self.quantile(0.99)),
            ms(self.max())
        )
    }
}

/// One context version as the bench's own changelog reader saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Version {
    /// `context.state.commerce_sequence` of the version.
    pub commerce_sequence: i64,
    /// The record's timestamp (ms since the Unix epoch): set by the
    /// projector's producer when it enqueued the record, right after its
    /// store write; whole milliseconds.
    pub written_ms: i64,
    /// When the bench's reader received it (ms since the Unix epoch).
    pub delivered_ms: f64,
}

/// The context versions read from the changelog, by tenant.
#[derive(Debug, Clone, Default)]
pub struct Changelog {
    by_tenant: HashMap<String, Vec<Version>>,
    records: u64,
}

impl Changelog {
    /// Notes a version of `tenant`.
    pub fn record(&mut self, tenant: &str, version: Version) {
        self.records += 1;
        self.by_tenant
            .entry(tenant.to_owned())
            .or_default()
            .push(version);
    }

    /// Changelog records noted.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The version that first made `tenant`'s context reflect commerce
    /// sequence `sequence`: of those with `commerce_sequence ≥ sequence`,
    /// the one written first. The projector folds the records of a tenant
    /// that arrive in one batch into one version, so a sequence may have no
    /// version of its own; and a version published twice (after a failed
    /// transaction) counts from its first record.
    pub fn first_at_least(&self, tenant: &str, sequence: i64) -> Option<Version> {
        self.by_tenant
            .get(tenant)?
            .iter()
            .filter(|v| v.commerce_sequence >= sequence)
            .min_by(|a, b| {
                a.written_ms
                    .cmp(&b.written_ms)
                    .then(a.delivered_ms.total_cmp(&b.delivered_ms))
            })
            .copied()
    }
}

/// One record the bench published.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Its tenant (the record key).
    pub tenant: String,
    /// Its commerce sequence (`TenantState::commerce_sequence`, 1, 2, … per tenant).
    pub sequence: i64,
    /// When the bench handed it to its producer (ms since the Unix epoch).
    pub at_ms: f64,
}

/// How one long-poll (`min_sequence` = the record's sequence) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// `200` with `tenantry-commerce-sequence` ≥ the sequence, at `at_ms`
    /// (ms since the Unix epoch, when the response head arrived).
    Served {
        /// Arrival of the answer.
        at_ms: f64,
    },
    /// The wait ran out: `200` with an older sequence, or `404` (the tenant
    /// never arrived).
    TimedOut {
        /// The status.
        status: u16,
        /// The sequence the instance had, when it answered one.
        had: Option<i64>,
    },
    /// Any other answer, or no answer.
    Failed(String),
}

/// The run's latencies, from what was published, served and read.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Per version: the latest instance's answer − its changelog record's
    /// timestamp. The goal's figure.
    pub changelog_to_served: Latencies,
    /// Per instance: its answer − the changelog record's timestamp.
    pub per_instance: Vec<Latencies>,
    /// Per version: the changelog record's timestamp − publish (the
    /// projector's consume, fold and store write).
    pub publish_to_changelog: Latencies,
    /// Per version: delivery to the bench's own changelog reader − the
    /// record's timestamp (Kafka alone: transaction commit, last stable
    /// offset, fetch), beside the instances' figure.
    pub changelog_to_follower: Latencies,
    /// Per version: the latest instance's answer − publish (end to end).
    pub publish_to_served: Latencies,
    /// Long-polls opened (versions × instances).
    pub polls: usize,
    /// Long-polls whose wait ran out.
    pub timed_out: usize,
    /// Long-polls with another answer or none.
    pub failed: usize,
    /// The first failure's reason.
    pub first_failure: Option<String>,
    /// Versions served everywhere whose sequence the bench's changelog
    /// reader never saw (nor a later one).
    pub unmatched: usize,
    /// Versions the projector folded into a later one of the same batch.
    pub folded: usize,
}

impl Tally {
    /// Matches each published record's answers (`polls[i]`: one per
    /// instance, in instance order) to the changelog version that first
    /// reflected its sequence. A record counts in the latencies only when
    /// every instance served it and its version was read.
    pub fn of(published: &[Published], polls: &[Vec<Poll>], changelog: &Changelog) -> Self {
        let instances = polls.first().map_or(0, Vec::len);
        let mut tally = Self::default();
        let mut per_instance = vec![Vec::with_capacity(published.len()); instances];
        let (mut to_served, mut to_changelog, mut to_follower, mut end_to_end) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (record, answers) in published.iter().zip(polls) {
            tally.polls += answers.len();
            let mut served = Vec::with_capacity(answers.len());
            for answer in answers {
                match answer {
                    Poll::Served { at_ms } => served.push(*at_ms),
                    Poll::TimedOut { .. } => tally.timed_out += 1,
                    Poll::Failed(reason) => {
                        tally.failed += 1;
                        tally.first_failure.get_or_insert_with(|| reason.clone());
                    }
                }
            }
            if served.len() < answers.len() {
                continue;
            }
            let Some(version) = changelog.first_at_least(&record.tenant, record.sequence) else {
                tally.unmatched += 1;
                continue;
            };
            if version.commerce_sequence != record.sequence {
                tally.folded += 1;
            }
            let written = version.written_ms as f64;
            for (instance, at_ms) in served.iter().enumerate() {
                per_instance[instance].push(at_ms - written);
            }
            let last = served.iter().copied().fold(f64::MIN, f64::max);
            to_served.push(last - written);
            end_to_end.push(last - record.at_ms);
            to_changelog.push(written - record.at_ms);
            to_follower.push(version.delivered_ms - written);
        }
        tally.changelog_to_served = Latencies::new(to_served);
        tally.per_instance = per_instance.into_iter().map(Latencies::new).collect();
        tally.publish_to_changelog = Latencies::new(to_changelog);
        tally.changelog_to_follower = Latencies::new(to_follower);
        tally.publish_to_served = Latencies::new(end_to_end);
        tally
    }

    /// Every long-poll was served and matched to a changelog version.
    pub fn complete(&self) -> bool {
        self.timed_out == 0 && self.failed == 0 && self.unmatched == 0
    }

    /// The run is complete and its p99 is within [`GOAL_P99_MS`].
    pub fn goal_met(&self) -> bool {
        self.complete()
            && self
                .changelog_to_served
                .quantile(0.99)
                .is_some_and(|p99| p99 <= GOAL_P99_MS)
    }
}

/// One CSV line per published record, after a header: its tenant and
/// sequence, when it was published, the matched changelog version's
/// sequence, timestamp and arrival at the bench's reader, and each
/// instance's answer (ms since the Unix epoch; empty when absent, with the
/// outcome in place of a time when not served) — the raw data behind the
/// percentiles, for `--samples`.
pub fn samples_csv(published: &[Published], polls: &[Vec<Poll>], changelog: &Changelog) -> String {
    let instances = polls.first().map_or(0, Vec::len);
    let mut csv = String::from("tenant,sequence,published_ms,version,written_ms,delivered_ms");
    for i in 1..=instances {
        csv.push_str(&format!(",served_ms_{i}"));
    }
    csv.push('\n');
    for (record, answers) in published.iter().zip(polls) {
        let version = changelog.first_at_least(&record.tenant, record.sequence);
        csv.push_str(&format!(
            "{},{},{:.3},{},{},{}",
            record.tenant,
            record.sequence,
            record.at_ms,
            version
                .map(|v| v.commerce_sequence.to_string())
                .unwrap_or_default(),
            version
                .map(|v| v.written_ms.to_string())
                .unwrap_or_default(),
            version
                .map(|v| format!("{:.3}", v.delivered_ms))
                .unwrap_or_default(),
        ));
        for answer in answers {
            csv.push(',');
            csv.push_str(&match answer {
                Poll::Served { at_ms } => format!("{at_ms:.3}"),
                Poll::TimedOut { status, .. } => format!("timed out ({status})"),
                Poll::Failed(_) => "failed".to_owned(),
            });
        }
        csv.push('\n');
    }
    csv
}

/// The figures of one `tenantry bench propagation` run.
#[derive(Debug, Clone)]
pub struct PropagationReport {
    /// API instances (`tenantry context-sidecar`) followed.
    pub instances: usize,
    /// Tenants the versions went round.
    pub tenants: u32,
    /// Records published (each a new version of its tenant).
    pub versions: usize,
    /// Offered rate, records/s.
    pub rate: f64,
    /// Rate achieved from the first publish to the last.
    pub achieved_rate: f64,
    /// The projector's context store (`sqlite`, `postgres`).
    pub store: String,
    /// The latencies.
    pub tally: Tally,
    /// Changelog records read by the bench (the warm-up tenant's included).
    pub changelog_records: u64,
    /// WARN/ERROR lines of the projector's log: `(count, first)`.
    pub projector_warnings: Option<(usize, String)>,
}

impl PropagationReport {
    /// The figures as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let t = &self.tally;
        json!({
            "instances": self.instances,
            "tenants": self.tenants,
            "versions": self.versions,
            "rate_per_s": self.rate,
            "achieved_rate_per_s": self.achieved_rate,
            "store": self.store,
            "changelog_to_served_ms": t.changelog_to_served.json(),
            "per_instance_changelog_to_served_ms": t.per_instance.iter().map(Latencies::json).collect::<Vec<_>>(),
            "publish_to_changelog_ms": t.publish_to_changelog.json(),
            "changelog_to_follower_ms": t.changelog_to_follower.json(),
            "publish_to_served_ms": t.publish_to_served.json(),
            "long_polls": t.polls,
            "timed_out": t.timed_out,
            "failed": t.failed,
            "first_failure": t.first_failure,
            "unmatched": t.unmatched,
            "folded": t.folded,
            "changelog_records": self.changelog_records,
            "projector_warnings": self.projector_warnings.as_ref().map(|(count, _)| count),
            "goal_p99_ms": GOAL_P99_MS,
            "goal_met": t.goal_met(),
        })
    }
}

impl fmt::Display for PropagationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        let command: Vec<String> = std::env::args().collect();
        writeln!(f, "command: {}", command.join(" "))?;
        writeln!(
            f,
            "propagation: {} versions of {} tenants at {:.0}/s (achieved {:.1}/s); projector on \
             {}; {} context-sidecar instance(s)",
            self.versions, self.tenants, self.rate, self.achieved_rate, self.store, self.instances,
        )?;
        writeln!(
            f,
            "  changelog record → served by every instance ({} versions): {} — goal p99 ≤ {:.0} \
             ms {}",
            t.changelog_to_served.count(),
            t.changelog_to_served,
            GOAL_P99_MS,
            if t.goal_met() { "met" } else { "MISSED" },
        )?;
        for (i, latencies) in t.per_instance.iter().enumerate() {
            writeln!(f, "    instance {}: {latencies}", i + 1)?;
        }
        writeln!(
            f,
            "  changelog record → the bench's own changelog reader: {}",
            t.changelog_to_follower
        )?;
        writeln!(
            f,
            "  publish → changelog record (projector): {}",
            t.publish_to_changelog
        )?;
        writeln!(
            f,
            "  publish → served by every instance (end to end): {}",
            t.publish_to_served
        )?;
        write!(
            f,
            "  long-polls: {} opened, {} timed out, {} failed{}; {} versions with no changelog \
             record read; {} folded by the projector into a later version; {} changelog records",
            t.polls,
            t.timed_out,
            t.failed,
            t.first_failure
                .as_ref()
                .map(|r| format!(" (first: {r})"))
                .unwrap_or_default(),
            t.unmatched,
            t.folded,
            self.changelog_records,
        )?;
        if let Some((count, first)) = &self.projector_warnings {
            write!(
                f,
                "\n  projector logged {count} WARN/ERROR line(s); first: {first}"
            )?;
        }
        Ok(())
    }
}
