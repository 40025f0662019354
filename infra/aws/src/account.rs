//! [`AwsAccount`]: the endpoint and static credentials of every AWS client.

use std::fmt;

use aws_credential_types::Credentials;

/// A required environment variable is missing or not Unicode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingEnv(pub &'static str);

/// Where and as whom to call AWS, the region aside (each adapter has its
/// own: one, or one per data-residency region).
#[derive(Clone)]
pub struct AwsAccount {
    /// Endpoint override (`http://127.0.0.1:5000` for the local moto
    /// server); `None` uses the regional AWS endpoints.
    pub endpoint_url: Option<String>,
    /// Static access key id.
    pub access_key_id: String,
    /// Static secret access key (never printed by `Debug`).
    pub secret_access_key: String,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
}

/// The non-empty value of environment variable `name`.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
///
/// # Errors
/// [`MissingEnv`]`("AWS_REGION")` when neither is set.
pub fn env_region() -> Result<String, MissingEnv> {
    var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .ok_or(MissingEnv("AWS_REGION"))
}

impl AwsAccount {
    /// `AWS_ENDPOINT_URL` (optional), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (optional) — what
    /// `infra/local/env` exports.
    ///
    /// # Errors
    /// [`MissingEnv`] naming the first required variable not set.
    pub fn from_env() -> Result<Self, MissingEnv> {
        let required = |name: &'static str| var(name).ok_or(MissingEnv(name));
        Ok(Self {
            endpoint_url: var("AWS_ENDPOINT_URL"),
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }

    /// The static credentials, named `provider` in the SDK's logs.
    pub fn credentials(&self, provider: &'static str) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            provider,
        )
    }
}

impl fmt::Debug for AwsAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsAccount")
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret_or_the_session_token() {
        let account = AwsAccount {
            endpoint_url: None,
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
            session_token: Some("FwoGZXIvYXdzE".into()),
        };
        let printed = format!("{account:?}");
        assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
        assert!(!printed.contains("wJalrXUtnFEMI") && !printed.contains("FwoGZXIvYXdzE"));
    }
}
