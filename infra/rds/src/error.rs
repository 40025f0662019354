//! What can go wrong on the RDS control plane.

/// An RDS or KMS call failed, or a wait ran out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdsError {
    /// Worth retrying: the service did not answer, throttled, or the
    /// resource is not `available` yet when the bounded wait ended.
    #[error("RDS unavailable: {0}")]
    Unavailable(String),
    /// Not worth retrying: the request was refused (a bad parameter, a
    /// quota, an instance in a state it does not leave by itself).
    #[error("RDS refused: {0}")]
    Rejected(String),
}

impl RdsError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RdsError::Unavailable(_))
    }
}

/// Classifies an SDK error: a service error whose code is in `refused`
/// is [`RdsError::Rejected`]; throttling, timeouts, transport failures and
/// other service errors are [`RdsError::Unavailable`].
pub(crate) fn classify<E, R>(
    operation: &str,
    subject: &str,
    error: &aws_sdk_rds::error::SdkError<E, R>,
    refused: &[&str],
) -> RdsError
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = tenantry_aws::describe("RDS", error);
    let code = error.as_service_error().and_then(|e| e.code());
    match code {
        Some(code) if refused.contains(&code) => {
            RdsError::Rejected(format!("{operation} {subject}: {message}"))
        }
        _ => RdsError::Unavailable(format!("{operation} {subject}: {message}")),
    }
}

/// Codes of requests that are wrong as sent, whatever the operation.
pub(crate) const REFUSED: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "InstanceQuotaExceeded",
    "StorageQuotaExceeded",
    "SnapshotQuotaExceeded",
    "InvalidDBInstanceState",
    "KMSKeyNotAccessibleFault",
    "StorageTypeNotSupported",
    "DBParameterGroupNotFound",
    "AccessDenied",
];
