//! Identifier newtypes, parsed once at the boundary.
//!
//! A raw `String` never crosses a module boundary as an identifier: every id
//! is built by `parse`, which names the field and the reason on failure.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rejected field: which one, and why. Shown to operators verbatim, e.g.
/// `site: must be a DNS label of 1-63 characters [a-z0-9-] (RFC 1123 §2.1), got "Acme!"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// Dotted path of the offending field (`tenant_id`, `payload.seats`).
    pub field: String,
    /// Human-readable reason, with the offending value where safe.
    pub reason: String,
}

impl ValidationError {
    /// Builds an error for `field` with `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

fn is_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

macro_rules! label_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates; the error names the field and the rule.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                if is_label(raw, $max) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(ValidationError::new(
                        $field,
                        format!(concat!($rule, ", got {:?}"), raw),
                    ))
                }
            }

            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

label_newtype!(
    /// Tenant identifier from commerce (`t1`, `acme-corp`): 1–63 of `[a-z0-9-]`,
    /// not starting or ending with `-`. It is the Kafka record key on every topic,
    /// so one tenant's events stay in one partition, in order.
    TenantId,
    "tenant_id",
    63,
    "must be 1-63 characters of [a-z0-9-], not starting or ending with '-'"
);

label_newtype!(
    /// Site name: the first DNS label of the site host `<site>.<domain>`.
    /// Rule: RFC 1123 §2.1 host label, lower case, 1–63 characters.
    SiteName,
    "site",
    63,
    "must be a DNS label of 1-63 characters [a-z0-9-] (RFC 1123 section 2.1)"
);

label_newtype!(
    /// Product key (`jira`, `confluence`): 1–32 of `[a-z0-9-]`.
    ProductKey,
    "product",
    32,
    "must be 1-32 characters of [a-z0-9-], not starting or ending with '-'"
);

label_newtype!(
    /// App key (`jira-slack`): 1–64 of `[a-z0-9-]`.
    AppKey,
    "apps",
    64,
    "each app must be 1-64 characters of [a-z0-9-], not starting or ending with '-'"
);

/// ISO 3166-1 alpha-2 country code, upper case (`DE`, `US`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(String);

impl CountryCode {
    /// Parses an ISO 3166-1 alpha-2 code that is assigned to a country
    /// (list from the `isocountry` crate); lower case is accepted and
    /// upper-cased. Two letters that are not a country (`ZZ`, a typo) are
    /// rejected: the country decides where a tenant's data lives, so a
    /// guess is not an option.
    ///
    /// # Errors
    /// [`ValidationError`] on field `country`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let upper = raw.to_ascii_uppercase();
        if raw.len() == 2 && isocountry::CountryCode::for_alpha2(&upper).is_ok() {
            Ok(Self(upper))
        } else {
            Err(ValidationError::new(
                "country",
                format!(
                    "must be an ISO 3166-1 alpha-2 code assigned to a country, such as \"DE\", got {raw:?}"
                ),
            ))
        }
    }

    /// The upper-case code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CountryCode {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> String {
        value.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 11 data-residency regions of the seed ("Data residency", seed
/// `000_f556c9c7f354fcd3.txt` line 15): US, EU, UK, Australia, Canada,
/// Germany, India, Japan, Singapore, South Korea, Switzerland.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// United States.
    Us,
    /// European Union.
    Eu,
    /// United Kingdom.
    Uk,
    /// Australia.
    Au,
    /// Canada.
    Ca,
    /// Germany.
    De,
    /// India.
    In,
    /// Japan.
    Jp,
    /// Singapore.
    Sg,
    /// South Korea.
    Kr,
    /// Switzerland.
    Ch,
}

impl Region {
    /// All regions, in the seed's order.
    pub const ALL: [Region; 11] = [
        Region::Us,
        Region::Eu,
        Region::Uk,
        Region::Au,
        Region::Ca,
        Region::De,
        Region::In,
        Region::Jp,
        Region::Sg,
        Region::Kr,
        Region::Ch,
    ];

    /// Lower-case code (`eu`).
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Uk => "uk",
            Region::Au => "au",
            Region::Ca => "ca",
            Region::De => "de",
            Region::In => "in",
            Region::Jp => "jp",
            Region::Sg => "sg",
            Region::Kr => "kr",
            Region::Ch => "ch",
        }
    }

    /// Parses a lower- or upper-case code; `field` names the field in the error.
    pub fn parse(raw: &str, field: &str) -> Result<Self, ValidationError> {
        let lower = raw.to_ascii_lowercase();
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == lower)
            .ok_or_else(|| {
                ValidationError::new(
                    field,
                    format!(
                        "must be one of the 11 data-residency regions us, eu, uk, au, ca, de, in, jp, sg, kr, ch; got {raw:?}"
                    ),
                )
            })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_and_reject_by_rule() {
        let cases = [
            ("t1", true),
            ("acme-corp", true),
            ("", false),
            ("-t1", false),
            ("t1-", false),
            ("T1", false),
            ("t 1", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(TenantId::parse(raw).is_ok(), ok, "{raw:?}");
        }
        assert_eq!(TenantId::parse("Bad").unwrap_err().field, "tenant_id");
        assert!(SiteName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn region_and_country_parse() {
        assert_eq!(Region::parse("EU", "residency_pin").unwrap(), Region::Eu);
        let err = Region::parse("mars", "residency_pin").unwrap_err();
        assert_eq!(err.field, "residency_pin");
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        // Three letters, two letters that are no country, a typo of "DE".
        for raw in ["DEU", "ZZ", "DX", "D3"] {
            let err = CountryCode::parse(raw).unwrap_err();
            assert_eq!(err.field, "country", "{raw}");
        }
    }
}
