//! [`KmsKeyRef`]: a tenant's own AWS KMS key, as `tenant_created` names it.

use crate::ids::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant's own ("bring your own key") AWS KMS key: a key ARN
/// (`arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab`)
/// or a key id of Tenantry's own account (a UUID, or `mrk-` and 32 hex digits for a
/// multi-Region key).
///
/// Aliases are refused: a key in another account can only be named by ARN
/// (AWS KMS developer guide, "Key identifiers"), and an alias can be moved to
/// another key by its owner, while a tenant's data keys must stay wrapped by
/// the one key checked at creation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KmsKeyRef(String);

const FIELD: &str = "kms_key";

impl KmsKeyRef {
    /// Parses a key ARN or key id; the error names the field and the rule.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = match raw.strip_prefix("arn:") {
            Some(rest) => is_key_arn(rest),
            None => is_key_id(raw),
        };
        if ok {
            return Ok(Self(raw.to_owned()));
        }
        let alias = if is_alias(raw) {
            "; aliases are not accepted"
        } else {
            ""
        };
        Err(ValidationError::new(
            FIELD,
            format!(
                "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) or a key id \
                 (a UUID or mrk-<32 hex>){alias}, got {}",
                echo(raw)
            ),
        ))
    }

    /// The ARN or key id, as given: what KMS takes as `KeyId`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most characters of the input an error repeats.
const ECHO_CHARS: usize = 80;

/// `raw` quoted for an error: its first [`ECHO_CHARS`] characters, then `…`
/// when there are more.
fn echo(raw: &str) -> String {
    match raw.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{:?}…", &raw[..cut]),
        None => format!("{raw:?}"),
    }
}

/// An alias: `alias/<name>`, or an alias ARN (`arn:<partition>:kms:…:alias/<name>`).
fn is_alias(raw: &str) -> bool {
    raw.starts_with("alias/")
        || raw.strip_prefix("arn:").is_some_and(|rest| {
            rest.splitn(5, ':')
                .nth(4)
                .is_some_and(|resource| resource.starts_with("alias/"))
        })
}

/// `<partition>:kms:<region>:<12-digit account>:key/<key id>` (after `arn:`).
fn is_key_arn(rest: &str) -> bool {
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let label = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    label(partition)
        && service == "kms"
        && label(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("key/").is_some_and(is_key_id)
}

/// A UUID (8-4-4-4-12 hex) or `mrk-` and 32 hex digits.
fn is_key_id(id: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(mrk) = id.strip_prefix("mrk-") {
        return mrk.len() == 32 && hex(mrk);
    }
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g))
}

impl TryFrom<String> for KmsKeyRef {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<KmsKeyRef> for String {
    fn from(value: KmsKeyRef) -> String {
        value.0
    }
}

impl fmt::Display for KmsKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::KmsKeyRef;

    #[test]
    fn key_arns_and_key_ids_parse_aliases_do_not() {
        for good in [
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            assert_eq!(KmsKeyRef::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "alias/customer",
            "arn:aws:kms:eu-west-1:111122223333:alias/customer",
            "arn:aws:kms:eu-west-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:s3:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "1234abcd-12ab-34cd-56ef",
            "mrk-12",
        ] {
            let err = KmsKeyRef::parse(bad).unwrap_err();
            assert_eq!(err.field, "kms_key", "{bad}");
        }
    }

    #[test]
    fn only_an_alias_is_told_aliases_are_not_accepted() {
        for alias in [
            "alias/customer",
            "arn:aws:kms:eu-west-1:111122223333:alias/customer",
        ] {
            let err = KmsKeyRef::parse(alias).unwrap_err();
            assert!(err.reason.contains("aliases are not accepted"), "{err}");
            assert!(err.reason.ends_with(&format!("got {alias:?}")), "{err}");
        }
        for bad in ["garbage", "", "mrk-12", "aliases/customer"] {
            let err = KmsKeyRef::parse(bad).unwrap_err();
            assert!(!err.reason.contains("aliases are not"), "{err}");
        }
        assert_eq!(
            KmsKeyRef::parse("garbage").unwrap_err().to_string(),
            "kms_key: must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) \
             or a key id (a UUID or mrk-<32 hex>), got \"garbage\""
        );
    }

    #[test]
    fn a_long_input_is_cut_in_the_error() {
        let long = "é".repeat(3_000);
        let err = KmsKeyRef::parse(&long).unwrap_err();
        assert_eq!(err.field, "kms_key");
        let echoed = format!("got \"{}\"…", "é".repeat(80));
        assert!(err.reason.ends_with(&echoed), "{err}");
        assert!(err.to_string().chars().count() < 250, "{err}");
        // Exactly 80 characters are echoed whole.
        let err = KmsKeyRef::parse(&"x".repeat(80)).unwrap_err();
        assert!(err.reason.ends_with(&format!("got \"{}\"", "x".repeat(80))));
    }
}
