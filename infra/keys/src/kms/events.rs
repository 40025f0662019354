//! The KMS key service's notable events: each struct's
//! [`emit`](tenantry_telemetry::metrics::Event::emit) writes its log line and
//! records its metrics together ([`tenantry_telemetry::metrics`]).
//!
//! | name | type | labels | unit, meaning |
//! |---|---|---|---|
//! | `tenantry_keys_kms_calls_total` | counter | `operation` ([`KmsOperation`]), `outcome` = `ok` \| `error` | KMS API calls, after the SDK's own retries; `error` includes expected answers such as `NotFoundException` for a tenant with no key yet ([`KmsCall`]) |
//! | `tenantry_keys_kms_call_duration_seconds` | histogram | `operation` | seconds of one KMS call, SDK retries included |
//! | `tenantry_keys_data_key_cache_lookups_total` | counter | `result` = `hit` \| `miss` | seals that found a usable data key in the cache, or called `GenerateDataKey` for one ([`DataKeyLookup`]) |

use metrics::Unit;
use std::future::Future;
use std::time::{Duration, Instant};
use tenantry_telemetry::metrics::{Catalog, Event, LATENCY_BUCKETS, MetricDef, MetricKind};

/// Counter of KMS calls, by `operation` and `outcome`.
pub const KMS_CALLS: &str = "tenantry_keys_kms_calls_total";
/// Histogram of KMS call durations in seconds, by `operation`.
pub const KMS_CALL_DURATION: &str = "tenantry_keys_kms_call_duration_seconds";
/// Counter of data-key cache lookups, by `result`.
pub const DATA_KEY_CACHE_LOOKUPS: &str = "tenantry_keys_data_key_cache_lookups_total";

/// Every metric of the module docs.
pub const CATALOG: Catalog = &[
    MetricDef {
        name: KMS_CALLS,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "KMS API calls, by operation and outcome (ok, error).",
    },
    MetricDef {
        name: KMS_CALL_DURATION,
        kind: MetricKind::Histogram(LATENCY_BUCKETS),
        unit: Some(Unit::Seconds),
        help: "Seconds of one KMS call, the SDK's retries included, by operation.",
    },
    MetricDef {
        name: DATA_KEY_CACHE_LOOKUPS,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Data-key cache lookups of a seal, by result (hit, miss).",
    },
];

/// The KMS API actions Tenantry calls; the label is the action's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsOperation {
    /// `CreateKey`.
    CreateKey,
    /// `CreateAlias`.
    CreateAlias,
    /// `DescribeKey`.
    DescribeKey,
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `Decrypt`.
    Decrypt,
    /// `DisableKey`.
    DisableKey,
    /// `ScheduleKeyDeletion`.
    ScheduleKeyDeletion,
}

impl KmsOperation {
    /// The label value: the API action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateKey => "CreateKey",
            Self::CreateAlias => "CreateAlias",
            Self::DescribeKey => "DescribeKey",
            Self::GenerateDataKey => "GenerateDataKey",
            Self::Decrypt => "Decrypt",
            Self::DisableKey => "DisableKey",
            Self::ScheduleKeyDeletion => "ScheduleKeyDeletion",
        }
    }
}

/// A KMS call returned.
pub struct KmsCall {
    /// Which action.
    pub operation: KmsOperation,
    /// Whether KMS answered with success.
    pub ok: bool,
    /// How long it took, the SDK's retries included.
    pub duration: Duration,
}

impl Event for KmsCall {
    fn emit(self) {
        let (operation, outcome) = (
            self.operation.as_str(),
            if self.ok { "ok" } else { "error" },
        );
        tracing::debug!(operation, outcome, duration = ?self.duration, "KMS call returned.");
        metrics::counter!(KMS_CALLS, "operation" => operation, "outcome" => outcome).increment(1);
        metrics::histogram!(KMS_CALL_DURATION, "operation" => operation)
            .record(self.duration.as_secs_f64());
    }
}

/// Awaits the KMS call `call` of `operation` and emits its [`KmsCall`].
pub(super) async fn observed<T, E>(
    operation: KmsOperation,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    KmsCall {
        operation,
        ok: result.is_ok(),
        duration: started.elapsed(),
    }
    .emit();
    result
}

/// A seal looked for a data key in the cache.
pub struct DataKeyLookup {
    /// It found one it may use (`false`: it called `GenerateDataKey`).
    pub hit: bool,
}

impl Event for DataKeyLookup {
    fn emit(self) {
        let result = if self.hit { "hit" } else { "miss" };
        tracing::trace!(result, "Data-key cache lookup.");
        metrics::counter!(DATA_KEY_CACHE_LOOKUPS, "result" => result).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

    #[test]
    fn catalog_is_well_formed() {
        tenantry_telemetry::metrics::assert_well_formed(CATALOG);
    }

    #[tokio::test]
    async fn an_observed_call_is_counted_by_operation_and_outcome() {
        let recorder: PrometheusRecorder = PrometheusBuilder::new().build_recorder();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let ok: Result<u8, ()> = observed(KmsOperation::Decrypt, async { Ok(1) }).await;
        let failed: Result<u8, ()> = observed(KmsOperation::DescribeKey, async { Err(()) }).await;
        assert_eq!((ok, failed), (Ok(1), Err(())));
        let text = recorder.handle().render();
        for line in [
            r#"tenantry_keys_kms_calls_total{operation="Decrypt",outcome="ok"} 1"#,
            r#"tenantry_keys_kms_calls_total{operation="DescribeKey",outcome="error"} 1"#,
            r#"tenantry_keys_kms_call_duration_seconds_count{operation="Decrypt"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
