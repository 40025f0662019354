//! Counting every KMS call a client makes, by operation, with an SDK
//! interceptor: what `KmsKeyService` asks of KMS, seen from outside it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// What one operation cost: calls (executions, as the caller made them),
/// attempts (HTTP requests, retries included) and calls that failed in the end.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OperationCalls {
    /// Executions: one per `send()`, whatever the SDK retried.
    pub calls: u64,
    /// HTTP attempts: `calls` plus the SDK's retries (throttling, 5xx, timeouts).
    pub attempts: u64,
    /// Executions that ended in an error (after their retries).
    pub errors: u64,
}

/// Calls by KMS operation name (`GenerateDataKey`, `Decrypt`, …), sorted by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Calls(pub BTreeMap<String, OperationCalls>);

impl Calls {
    /// Calls of `operation` (0 when it was never called).
    pub fn calls(&self, operation: &str) -> u64 {
        self.0.get(operation).map_or(0, |counts| counts.calls)
    }

    /// Calls of every operation.
    pub fn total(&self) -> u64 {
        self.0.values().map(|counts| counts.calls).sum()
    }

    /// Attempts of every operation (calls plus retries).
    pub fn attempts(&self) -> u64 {
        self.0.values().map(|counts| counts.attempts).sum()
    }

    /// Failed calls of every operation.
    pub fn errors(&self) -> u64 {
        self.0.values().map(|counts| counts.errors).sum()
    }

    /// What was counted after `earlier` was taken: the calls of one phase.
    pub fn since(&self, earlier: &Calls) -> Calls {
        let mut phase = BTreeMap::new();
        for (operation, now) in &self.0 {
            let before = earlier.0.get(operation).copied().unwrap_or_default();
            let delta = OperationCalls {
                calls: now.calls - before.calls,
                attempts: now.attempts - before.attempts,
                errors: now.errors - before.errors,
            };
            if delta != OperationCalls::default() {
                phase.insert(operation.clone(), delta);
            }
        }
        Calls(phase)
    }

    /// `{"GenerateDataKey": {"calls": 50, "attempts": 50, "errors": 0}, …}`.
    pub fn json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(operation, counts)| {
                let counts = serde_json::json!({
                    "calls": counts.calls,
                    "attempts": counts.attempts,
                    "errors": counts.errors,
                });
                (operation.clone(), counts)
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// `DescribeKey=50 GenerateDataKey=50`, with the retries and error answers
/// when there were any: `Decrypt=1000 (1003 attempts)`, `DescribeKey=50 (50
/// answered an error)` (a `NotFoundException` before a key is created);
/// `none` when empty.
impl fmt::Display for Calls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, (operation, counts)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{operation}={}", counts.calls)?;
            let retried = counts.attempts != counts.calls;
            match (retried, counts.errors) {
                (false, 0) => {}
                (true, 0) => write!(f, " ({} attempts)", counts.attempts)?,
                (false, errors) => write!(f, " ({errors} answered an error)")?,
                (true, errors) => write!(
                    f,
                    " ({} attempts, {errors} answered an error)",
                    counts.attempts
                )?,
            }
        }
        Ok(())
    }
}

/// The SDK interceptor: register it on the client's config, read the counts
/// with [`CallCounter::snapshot`]. Clones share the counts.
#[derive(Debug, Default, Clone)]
pub struct CallCounter {
    /// A std mutex: held for one map update, never across an await.
    counts: Arc<Mutex<BTreeMap<String, OperationCalls>>>,
}

impl CallCounter {
    /// The counts so far.
    pub fn snapshot(&self) -> Calls {
        Calls(self.lock().clone())
    }

    /// `client` with this counter added to its interceptors; everything
    /// else of its configuration (endpoint, credentials, retries, timeouts)
    /// kept as it was.
    pub fn instrument(&self, client: &aws_sdk_kms::Client) -> aws_sdk_kms::Client {
        let config = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    fn count(&self, cfg: &ConfigBag, count: impl FnOnce(&mut OperationCalls)) {
        // Every generated operation stores its `Metadata` (name and
        // service) in the bag; "unknown" would mean a hook ran without it.
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let mut counts = self.lock();
        match counts.get_mut(operation) {
            Some(entry) => count(entry),
            None => count(counts.entry(operation.to_owned()).or_default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, OperationCalls>> {
        // Every change is one increment: a poisoned map is still consistent.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "TenantryBenchCallCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.count(cfg, |counts| counts.attempts += 1);
        Ok(())
    }

    /// Calls are counted here, once per execution whatever happened: the
    /// operation's `Metadata` is not in the bag yet before it executes.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let failed = matches!(context.output_or_error(), Some(Err(_)));
        self.count(cfg, |counts| {
            counts.calls += 1;
            counts.errors += u64::from(failed);
        });
        Ok(())
    }
}
