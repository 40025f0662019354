//! Site host names, validated at the boundary.

use std::fmt;
use tenantry_schemas::ValidationError;

/// Longest host name in text form: 253 characters (RFC 1035 §2.3.4 limits a
/// name to 255 octets on the wire, which is 253 characters without the
/// trailing dot).
pub const MAX_HOST_LEN: usize = 253;

/// Longest label: 63 characters (RFC 1035 §2.3.4, RFC 1123 §2.1).
pub const MAX_LABEL_LEN: usize = 63;

/// A site host name (`acme.tenantry.test`), lower case.
///
/// Rule: RFC 1123 §2.1 host name — dot-separated labels of 1–63 characters of
/// `[a-z0-9-]`, none starting or ending with `-`, at most 253 characters in
/// all, no trailing dot. Upper case is accepted and lower-cased (DNS names
/// compare case-insensitively, RFC 4343), which is how hosts are stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteHost(String);

impl SiteHost {
    /// Parses and lower-cases `raw`; the error names the field `host`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let host = raw.to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.len() <= MAX_HOST_LEN
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= MAX_LABEL_LEN
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if valid {
            Ok(Self(host))
        } else {
            Err(ValidationError::new(
                "host",
                format!(
                    "must be a DNS host name: dot-separated labels of 1-63 characters [a-z0-9-], \
                     not starting or ending with '-', at most 253 characters (RFC 1123 section 2.1), \
                     got {:?}",
                    truncate(raw)
                ),
            ))
        }
    }

    /// The lower-case host.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Echoes at most 64 characters of a rejected value, so a long path cannot
/// inflate the error body.
pub(crate) fn truncate(raw: &str) -> String {
    match raw.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &raw[..end]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_by_rule() {
        let label63 = "a".repeat(63);
        let long = vec!["a".repeat(63); 4].join("."); // 255 characters
        let max = format!("{}.{}", vec!["a".repeat(63); 3].join("."), "a".repeat(61)); // 253
        let cases: &[(&str, Option<&str>)] = &[
            ("acme.tenantry.test", Some("acme.tenantry.test")),
            ("ACME.Tenantry.Test", Some("acme.tenantry.test")),
            ("localhost", Some("localhost")),
            ("1-2.x9", Some("1-2.x9")),
            (&label63, Some(&label63)),
            (&max, Some(&max)),
            ("", None),
            ("not_a_host!", None),
            ("a..b", None),
            (".a", None),
            ("a.", None),
            ("-a.b", None),
            ("a-.b", None),
            ("a b", None),
            ("bücher.de", None),
            (&long, None),
        ];
        for (raw, expected) in cases {
            let got = SiteHost::parse(raw).ok();
            assert_eq!(got.as_ref().map(SiteHost::as_str), *expected, "{raw:?}");
        }
        assert!(SiteHost::parse(&"a".repeat(64)).is_err());
        assert_eq!(SiteHost::parse("x!").unwrap_err().field, "host");
    }

    #[test]
    fn truncate_keeps_short_values_and_cuts_long_ones() {
        assert_eq!(truncate("abc"), "abc");
        assert_eq!(truncate(&"é".repeat(100)).chars().count(), 65);
    }
}
