//! Value parsers of flags whose rules are not a type's own.

/// A JOSE algorithm name (`EdDSA`, `ES256`, `RS256`, `HS256`; RFC 7518 §3.1).
pub fn parse_algorithm(raw: &str) -> Result<tenantry_context_api::auth::Algorithm, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("unknown JWT algorithm {raw:?} (EdDSA, ES256, RS256, HS256)"))
}

/// A DynamoDB table name: 3 to 255 of `A-Z a-z 0-9 _ - .` (DynamoDB
/// developer guide, "Naming rules").
pub(super) fn parse_table_name(raw: &str) -> Result<String, String> {
    let valid = (3..=255).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err("must be 3 to 255 characters of A-Z a-z 0-9 _ - . (DynamoDB table naming rules)".into())
    }
}

/// Longest `--rds-prefix`: `<prefix>-<region>-shard-<n>` must fit the
/// 63 characters of a DB instance identifier for up to a million shards a
/// region (`-xx-shard-999999` is 16 characters).
const MAX_RDS_PREFIX: usize = 63 - 16;

/// An RDS identifier prefix: a lower-case letter, then lower-case letters,
/// digits and single hyphens, not ending in a hyphen, at most
/// [`MAX_RDS_PREFIX`] characters (RDS identifier rules), so identifiers are
/// never rewritten or cut into one another.
pub(super) fn parse_rds_prefix(raw: &str) -> Result<String, String> {
    let valid = raw.len() <= MAX_RDS_PREFIX
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && !raw.ends_with('-')
        && !raw.contains("--")
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "must start with a-z and hold only a-z, 0-9 and single hyphens, not ending in one, \
             at most {MAX_RDS_PREFIX} characters (RDS identifier rules)"
        ))
    }
}

/// `name=value` of `--kafka-property`.
pub(super) fn parse_property(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "expected name=value (a librdkafka property such as fetch.wait.max.ms=100), got {raw:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_properties_are_name_value_pairs_and_anything_else_is_refused() {
        assert_eq!(
            parse_property(" fetch.wait.max.ms = 100 "),
            Ok(("fetch.wait.max.ms".to_owned(), "100".to_owned()))
        );
        let error = parse_property("fetch.wait.max.ms").unwrap_err();
        assert!(error.contains("expected name=value"), "{error}");
        assert!(parse_property("=5").is_err());
    }

    #[test]
    fn rds_prefixes_follow_the_identifier_rules() {
        for good in [
            "tenantry",
            "nc1",
            "a",
            "prod-eu2",
            &"p".repeat(MAX_RDS_PREFIX),
        ] {
            assert_eq!(parse_rds_prefix(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Bad_Prefix!",
            "UPPER",
            "ends-",
            "two--hyphens",
            &"p".repeat(MAX_RDS_PREFIX + 1),
        ] {
            let error = parse_rds_prefix(bad).unwrap_err();
            assert!(error.contains("must start with a-z"), "{bad}: {error}");
        }
    }

    #[test]
    fn dynamodb_table_names_follow_the_naming_rules() {
        for good in ["tenantry-contexts", "a.b_c-1", &"t".repeat(255)] {
            assert!(parse_table_name(good).is_ok(), "{good}");
        }
        for bad in ["x", "ab", "bad table!", &"t".repeat(256)] {
            assert!(parse_table_name(bad).is_err(), "{bad}");
        }
    }
}
