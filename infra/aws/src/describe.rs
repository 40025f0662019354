//! One readable line for a failed AWS SDK call.
//!
//! `DisplayErrorContext` appends the `Debug` dump of the whole error (the
//! request, its body, the connector's internals): kilobytes that end up in
//! logs and in a saga's `last_failure`. [`describe`] keeps what an operator
//! needs: the service's code and message, or what kept the request from
//! being answered, from the `Display` of each error in the source chain.
//!
//! Every AWS SDK crate re-exports the same `SdkError` (the Smithy runtime
//! API's) and its service errors implement the same `ProvideErrorMetadata`,
//! so one function serves DynamoDB, KMS and RDS alike.

use std::error::Error;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Most characters of a [`describe`]d error, ellipsis included.
pub const MAX_CHARS: usize = 240;

/// `error` of a call to `service` ("DynamoDB", "KMS", "RDS") as one line of
/// at most [`MAX_CHARS`] characters:
///
/// | error | line |
/// |---|---|
/// | service error | `<Code>: <message>` |
/// | timeout | `timed out` (`: <cause>` when the SDK names one) |
/// | dispatch failure | `cannot reach <service>: <cause>: <cause>…` (`timed out: …` for a connect timeout) |
/// | construction failure | `cannot build the request: <cause>…` |
/// | response error | `unreadable response from <service>: <cause>…` |
pub fn describe<E, R>(service: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug,
{
    let line = match error {
        SdkError::ServiceError(context) => {
            let err = context.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => format!("{service} error: {}", one_line(&err.to_string())),
            }
        }
        SdkError::TimeoutError(_) => match causes(error) {
            causes if causes.is_empty() => "timed out".to_owned(),
            causes => format!("timed out: {causes}"),
        },
        SdkError::DispatchFailure(failure) => {
            // The connector's own message is only its kind ("io error",
            // "other"): what it wraps says what went wrong.
            let connector = failure.as_connector_error();
            let cause = match chain(connector.and_then(|c| c.source())) {
                cause if cause.is_empty() => causes(error),
                cause => cause,
            };
            if failure.is_timeout() {
                format!("cannot reach {service}: timed out: {cause}")
            } else {
                format!("cannot reach {service}: {cause}")
            }
        }
        SdkError::ConstructionFailure(_) => {
            format!("cannot build the request: {}", causes(error))
        }
        SdkError::ResponseError(_) => {
            format!("unreadable response from {service}: {}", causes(error))
        }
        _ => format!("{error}: {}", causes(error)),
    };
    clip(&line, MAX_CHARS)
}

/// The `Display` of each error under `error`, joined with `": "`.
fn causes<E, R>(error: &SdkError<E, R>) -> String
where
    E: Error + 'static,
    R: Debug,
{
    chain(error.source())
}

/// The `Display` of `first` and each of its sources, joined with `": "`;
/// a message repeating the one before it (errors that print their source)
/// is left out, and so is the `Debug` dump of a request some messages carry.
fn chain(first: Option<&(dyn Error + 'static)>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = first;
    while let Some(error) = next {
        let mut message = one_line(&error.to_string());
        // "failed to apply endpoint `x` to request `Request { body: … }`"
        if let Some(at) = message.find(" to request `") {
            message.truncate(at);
        }
        let repeated = parts.last().is_some_and(|last| last.contains(&message));
        if !message.is_empty() && !repeated {
            parts.push(message);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// `text` with each run of whitespace (newlines included) as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters, the last of them `…` when cut.
fn clip(text: &str, max: usize) -> String {
    let text = one_line(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;

    type Failed = SdkError<DescribeDBInstancesError, ()>;

    fn service(code: Option<&str>, message: Option<&str>) -> Failed {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        if let Some(message) = message {
            meta = meta.message(message);
        }
        SdkError::service_error(DescribeDBInstancesError::generic(meta.build()), ())
    }

    #[test]
    fn a_service_error_is_its_code_and_message() {
        let error = service(
            Some("ResourceNotFoundException"),
            Some("Requested resource not found"),
        );
        assert_eq!(
            describe("RDS", &error),
            "ResourceNotFoundException: Requested resource not found"
        );
        assert_eq!(
            describe("RDS", &service(Some("ThrottlingException"), None)),
            "ThrottlingException"
        );
        assert_eq!(
            describe("RDS", &service(None, Some("slow down"))),
            "slow down"
        );
        assert_eq!(
            describe("RDS", &service(None, None)),
            "RDS error: unhandled error"
        );
    }

    #[test]
    fn a_timeout_says_so() {
        let error = Failed::timeout_error("operation timeout occurred after 3s");
        assert_eq!(
            describe("RDS", &error),
            "timed out: operation timeout occurred after 3s"
        );
        let error = Failed::timeout_error("");
        assert_eq!(describe("RDS", &error), "timed out");
    }

    #[test]
    fn a_dispatch_failure_names_the_service_and_the_cause() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let error = Failed::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let line = describe("RDS", &error);
        assert_eq!(line, "cannot reach RDS: Connection refused (os error 111)");
        assert!(!line.contains("DispatchFailure"), "{line}");
        let slow = ConnectorError::timeout("connect timed out after 3.1s".into());
        assert_eq!(
            describe("RDS", &Failed::dispatch_failure(slow)),
            "cannot reach RDS: timed out: connect timed out after 3.1s"
        );
        let bare = ConnectorError::other("".into(), None);
        assert_eq!(
            describe("RDS", &Failed::dispatch_failure(bare)),
            "cannot reach RDS: other"
        );
    }

    #[test]
    fn a_construction_failure_is_its_causes_without_the_request_dump() {
        let error = Failed::construction_failure(
            "failed to apply endpoint `not-a-url` to request `Request { body: SdkBody { inner: \
             Once(Some(b\"{\\\"AttributeDefinitions\\\"\")) } }`",
        );
        assert_eq!(
            describe("RDS", &error),
            "cannot build the request: failed to apply endpoint `not-a-url`"
        );
    }

    #[test]
    fn a_response_error_is_short() {
        let error = Failed::response_error("invalid JSON at line 1", ());
        assert_eq!(
            describe("RDS", &error),
            "unreadable response from RDS: invalid JSON at line 1"
        );
    }

    #[test]
    fn a_long_message_is_cut_to_one_line() {
        let long = format!("first line\nsecond {}", "x".repeat(3_000));
        let line = describe("RDS", &service(Some("ValidationException"), Some(&long)));
        assert_eq!(line.chars().count(), MAX_CHARS);
        assert!(line.starts_with("ValidationException: first line second xxx"));
        assert!(line.ends_with('…'));
        assert!(!line.contains('\n'));
    }
}
