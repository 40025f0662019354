//! Region placement (step 3).
//!
//! Rule (seed, "Data residency"): Jira and Confluence data is located in the
//! region closest to where the majority of users are, unless the customer pins
//! the data to one of the 11 data-residency regions. A pin always wins.

use tenantry_schemas::{CountryCode, Region};

/// Country (ISO 3166-1 alpha-2) → nearest of the 11 regions.
///
/// Source: geography — the country's own region when it has one (US, UK, AU,
/// CA, DE, IN, JP, SG, KR, CH), EU for the other EU/EEA members, and otherwise
/// the region with the shortest great-circle distance between capitals
/// (e.g. NZ → au, BR → us, AE → in, ID → sg). Countries not listed fall back to
/// [`DEFAULT_REGION`].
pub const NEAREST_REGION: &[(&str, Region)] = &[
    // Regions that are countries.
    ("US", Region::Us),
    ("GB", Region::Uk),
    ("AU", Region::Au),
    ("CA", Region::Ca),
    ("DE", Region::De),
    ("IN", Region::In),
    ("JP", Region::Jp),
    ("SG", Region::Sg),
    ("KR", Region::Kr),
    ("CH", Region::Ch),
    // EU / EEA members other than Germany.
    ("AT", Region::Eu),
    ("BE", Region::Eu),
    ("BG", Region::Eu),
    ("HR", Region::Eu),
    ("CY", Region::Eu),
    ("CZ", Region::Eu),
    ("DK", Region::Eu),
    ("EE", Region::Eu),
    ("FI", Region::Eu),
    ("FR", Region::Eu),
    ("GR", Region::Eu),
    ("HU", Region::Eu),
    ("IE", Region::Eu),
    ("IT", Region::Eu),
    ("LV", Region::Eu),
    ("LT", Region::Eu),
    ("LU", Region::Eu),
    ("MT", Region::Eu),
    ("NL", Region::Eu),
    ("PL", Region::Eu),
    ("PT", Region::Eu),
    ("RO", Region::Eu),
    ("SK", Region::Eu),
    ("SI", Region::Eu),
    ("ES", Region::Eu),
    ("SE", Region::Eu),
    ("NO", Region::Eu),
    ("IS", Region::Eu),
    // Nearest by distance.
    ("LI", Region::Ch),
    ("NZ", Region::Au),
    ("MX", Region::Us),
    ("BR", Region::Us),
    ("AR", Region::Us),
    ("CL", Region::Us),
    ("CO", Region::Us),
    ("ZA", Region::Eu),
    ("NG", Region::Eu),
    ("EG", Region::Eu),
    ("IL", Region::Eu),
    ("TR", Region::Eu),
    ("AE", Region::In),
    ("SA", Region::In),
    ("PK", Region::In),
    ("BD", Region::In),
    ("LK", Region::In),
    ("ID", Region::Sg),
    ("MY", Region::Sg),
    ("TH", Region::Sg),
    ("VN", Region::Sg),
    ("PH", Region::Sg),
    ("CN", Region::Kr),
    ("TW", Region::Jp),
    ("HK", Region::Sg),
];

/// Region used for a country missing from [`NEAREST_REGION`].
pub const DEFAULT_REGION: Region = Region::Us;

/// Chooses the region: `(region, pinned)`.
///
/// The pin, when present, is returned as is (`pinned = true`); otherwise the
/// region nearest `country`.
pub fn place(country: &CountryCode, pin: Option<Region>) -> (Region, bool) {
    match pin {
        Some(region) => (region, true),
        None => {
            let region = NEAREST_REGION
                .iter()
                .find(|(code, _)| *code == country.as_str())
                .map(|(_, region)| *region)
                .unwrap_or(DEFAULT_REGION);
            (region, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_wins_else_nearest_country() {
        let cases = [
            ("US", None, Region::Us, false),
            ("FR", None, Region::Eu, false),
            ("NZ", None, Region::Au, false),
            ("GB", None, Region::Uk, false),
            ("AQ", None, DEFAULT_REGION, false),
            ("US", Some(Region::Eu), Region::Eu, true),
            ("DE", Some(Region::Ch), Region::Ch, true),
        ];
        for (country, pin, region, pinned) in cases {
            let country = CountryCode::parse(country).unwrap();
            assert_eq!(place(&country, pin), (region, pinned), "{country} {pin:?}");
        }
    }

    #[test]
    fn every_region_is_reachable_without_a_pin() {
        for region in Region::ALL {
            assert!(
                NEAREST_REGION.iter().any(|(_, r)| *r == region),
                "{region} is nobody's nearest region"
            );
        }
    }
}
