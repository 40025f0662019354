//! The figures of `tenantry bench contexts`, per operation and store, and
//! the ratio of the two stores.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;
use tenantry_sagas::TenantContext;

use super::ContextsArgs;

/// What a phase does to every context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Batches of `get_many` + `put_many_if` on an empty store.
    Insert,
    /// The same batches over the stored contexts (revision 1 → 2).
    Update,
    /// One `get` per tenant.
    GetByTenant,
    /// One `get_by_host` per tenant's host.
    GetByHost,
}

impl Op {
    /// Every phase, in the order they run.
    pub const ALL: [Op; 4] = [Op::Insert, Op::Update, Op::GetByTenant, Op::GetByHost];

    /// Name in the report and the JSON object.
    pub fn name(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::GetByTenant => "get",
            Op::GetByHost => "get_by_host",
        }
    }
}

/// One phase on one store.
#[derive(Debug)]
pub struct OpFigures {
    /// Contexts written or read.
    pub contexts: usize,
    /// Writes only: contexts `put_many_if` did not write at the revision
    /// just read, so read and written again (as the projector does).
    pub rewritten: usize,
    /// First operation started → last one answered.
    pub elapsed: Duration,
    /// Latency of each operation (a write batch, a read), in microseconds.
    pub latencies: Histogram<u64>,
}

impl OpFigures {
    /// Contexts written or read per second.
    pub fn contexts_per_second(&self) -> f64 {
        self.contexts as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latencies.value_at_quantile(q) as f64 / 1000.0
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "contexts": self.contexts,
            "rewritten": self.rewritten,
            "operations": self.latencies.len(),
            "seconds": self.elapsed.as_secs_f64(),
            "contexts_per_s": self.contexts_per_second(),
            "latency_ms": {"p50": self.ms(0.50), "p99": self.ms(0.99), "max": self.ms(1.0)},
        })
    }
}

/// One store's figures over another's: throughput, p50 and p99 latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// Contexts per second.
    pub throughput: f64,
    /// Median latency.
    pub p50: f64,
    /// 99th percentile latency.
    pub p99: f64,
}

impl Ratio {
    /// `of` over `to`.
    pub fn of(of: &OpFigures, to: &OpFigures) -> Self {
        let over = |a: f64, b: f64| a / b.max(1e-9);
        Self {
            throughput: over(of.contexts_per_second(), to.contexts_per_second()),
            p50: over(of.ms(0.50), to.ms(0.50)),
            p99: over(of.ms(0.99), to.ms(0.99)),
        }
    }
}

/// The figures of one `tenantry bench contexts` run.
#[derive(Debug)]
pub struct ContextsReport {
    /// Contexts, one per tenant.
    pub contexts: u32,
    /// Tenants per write batch.
    pub batch: u32,
    /// Write batches in flight.
    pub write_concurrency: u32,
    /// Reads in flight.
    pub concurrency: u32,
    /// Bytes of JSON of the first context (all are within a few bytes).
    pub context_bytes: usize,
    /// The run's PostgreSQL database, dropped at the end.
    pub database: String,
    /// The run's DynamoDB table, deleted at the end.
    pub table: String,
    /// Each phase on each store, in the order they ran.
    pub figures: Vec<(Op, &'static str, OpFigures)>,
}

impl ContextsReport {
    /// An empty report of a run with `args` over `contexts`, in `database`
    /// and `table`.
    pub fn new(
        args: &ContextsArgs,
        contexts: &[TenantContext],
        database: &str,
        table: &str,
    ) -> Self {
        let context_bytes = contexts
            .first()
            .and_then(|c| serde_json::to_string(c).ok())
            .map_or(0, |json| json.len());
        Self {
            contexts: args.contexts,
            batch: args.batch,
            write_concurrency: args.write_concurrency,
            concurrency: args.concurrency,
            context_bytes,
            database: database.to_owned(),
            table: table.to_owned(),
            figures: Vec::new(),
        }
    }

    /// Adds the figures of `op` on `store`.
    pub fn push(&mut self, op: Op, store: &'static str, figures: OpFigures) {
        self.figures.push((op, store, figures));
    }

    /// The figures of `op` on `store`, if measured.
    pub fn get(&self, op: Op, store: &str) -> Option<&OpFigures> {
        self.figures
            .iter()
            .find(|(o, s, _)| *o == op && *s == store)
            .map(|(_, _, figures)| figures)
    }

    /// DynamoDB's figures of `op` over PostgreSQL's.
    pub fn ratio(&self, op: Op) -> Option<Ratio> {
        Some(Ratio::of(
            self.get(op, "DynamoDB")?,
            self.get(op, "PostgreSQL")?,
        ))
    }

    /// The figures as one JSON object: `{"insert": {"PostgreSQL": {…},
    /// "DynamoDB": {…}, "dynamodb_over_postgresql": {…}}, …}`.
    pub fn json(&self) -> serde_json::Value {
        let mut ops = serde_json::Map::new();
        for op in Op::ALL {
            let mut stores = serde_json::Map::new();
            for (_, store, figures) in self.figures.iter().filter(|(o, _, _)| *o == op) {
                stores.insert((*store).to_owned(), figures.json());
            }
            if let Some(ratio) = self.ratio(op) {
                stores.insert(
                    "dynamodb_over_postgresql".to_owned(),
                    json!({"contexts_per_s": ratio.throughput, "p50": ratio.p50, "p99": ratio.p99}),
                );
            }
            ops.insert(op.name().to_owned(), stores.into());
        }
        json!({
            "contexts": self.contexts,
            "batch": self.batch,
            "write_concurrency": self.write_concurrency,
            "read_concurrency": self.concurrency,
            "context_json_bytes": self.context_bytes,
            "postgresql_database": self.database,
            "dynamodb_table": self.table,
            "ops": ops,
        })
    }
}

impl fmt::Display for ContextsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command: Vec<String> = std::env::args().collect();
        writeln!(f, "command: {}", command.join(" "))?;
        writeln!(
            f,
            "contexts: {} contexts of {} bytes of JSON; writes in batches of {} tenants \
             (get_many + put_many_if, as the projector), {} batch(es) in flight; reads {} in flight",
            self.contexts, self.context_bytes, self.batch, self.write_concurrency, self.concurrency,
        )?;
        writeln!(
            f,
            "  stores: PostgreSQL database {}, DynamoDB table {} (both removed after the run)",
            self.database, self.table,
        )?;
        writeln!(
            f,
            "  {:<12} {:<11} {:>11} {:>9} {:>9} {:>9}   (latency: of a batch for writes, of a read for reads)",
            "op", "store", "contexts/s", "p50 ms", "p99 ms", "max ms",
        )?;
        for op in Op::ALL {
            for (_, store, figures) in self.figures.iter().filter(|(o, _, _)| *o == op) {
                writeln!(
                    f,
                    "  {:<12} {:<11} {:>11.0} {:>9.2} {:>9.2} {:>9.1}",
                    op.name(),
                    store,
                    figures.contexts_per_second(),
                    figures.ms(0.50),
                    figures.ms(0.99),
                    figures.ms(1.0),
                )?;
                if figures.rewritten > 0 {
                    writeln!(
                        f,
                        "  {:<12} {store}: {} contexts not written at the revision just read, \
                         read and written again",
                        "", figures.rewritten,
                    )?;
                }
            }
            if let Some(ratio) = self.ratio(op) {
                writeln!(
                    f,
                    "  {:<12} DynamoDB/PostgreSQL: contexts/s {:.3}×, p50 {:.1}×, p99 {:.1}×",
                    "", ratio.throughput, ratio.p50, ratio.p99,
                )?;
            }
        }
        Ok(())
    }
}
