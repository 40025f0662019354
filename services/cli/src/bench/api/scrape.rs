//! The sidecar's own counts, from its `GET /metrics` (Prometheus text
//! format 0.0.4; the metrics are listed in
//! `services/context-api/src/metrics.rs`).

/// `tenantry_api_cache_lookups_total{result="hit"|"miss"}`.
const CACHE_LOOKUPS: &str = "tenantry_api_cache_lookups_total";

/// `tenantry_api_requests_total{route, method, status}`.
const REQUESTS: &str = "tenantry_api_requests_total";

/// `tenantry_api_cache_entries`.
const CACHE_ENTRIES: &str = "tenantry_api_cache_entries";

/// `tenantry_api_cache_bytes`.
const CACHE_BYTES: &str = "tenantry_api_cache_bytes";

/// The counts of one scrape that the report uses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scrape {
    /// Cache lookups that found a context; `None` when the scrape has no
    /// such counter (not emitted yet, or not by this build).
    pub cache_hits: Option<f64>,
    /// Cache lookups that found none.
    pub cache_misses: Option<f64>,
    /// Requests to the two context routes answered with a 2xx.
    pub context_2xx: f64,
    /// Requests to the two context routes answered otherwise.
    pub context_other: f64,
    /// Contexts (and site hosts) the cache holds, as last measured.
    pub cache_entries: Option<f64>,
    /// The cache's estimate of its size in bytes, as last measured.
    pub cache_bytes: Option<f64>,
}

impl Scrape {
    /// Reads the counters out of a `/metrics` body.
    pub fn parse(text: &str) -> Self {
        let mut scrape = Self::default();
        for (name, labels, value) in text.lines().filter_map(sample) {
            match name {
                CACHE_LOOKUPS => match label(labels, "result") {
                    Some("hit") => *scrape.cache_hits.get_or_insert(0.0) += value,
                    Some("miss") => *scrape.cache_misses.get_or_insert(0.0) += value,
                    _ => {}
                },
                REQUESTS if label(labels, "route").is_some_and(|r| r.ends_with("/context")) => {
                    if label(labels, "status").is_some_and(|s| s.starts_with('2')) {
                        scrape.context_2xx += value;
                    } else {
                        scrape.context_other += value;
                    }
                }
                CACHE_ENTRIES => scrape.cache_entries = Some(value),
                CACHE_BYTES => scrape.cache_bytes = Some(value),
                _ => {}
            }
        }
        scrape
    }

    /// Cache hits over all lookups between `before` and `self`; `None`
    /// without the cache counters or without lookups.
    pub fn hit_ratio_since(&self, before: &Scrape) -> Option<f64> {
        let hits = self.cache_hits? - before.cache_hits.unwrap_or(0.0);
        let misses = self.cache_misses.unwrap_or(0.0) - before.cache_misses.unwrap_or(0.0);
        (hits + misses > 0.0).then(|| hits / (hits + misses))
    }

    /// Context requests answered with a 2xx over all context requests
    /// between `before` and `self`: the hit ratio as the sidecar's
    /// statuses show it (the sidecar answers a miss with 404 or 503).
    pub fn ok_ratio_since(&self, before: &Scrape) -> Option<f64> {
        let ok = self.context_2xx - before.context_2xx;
        let other = self.context_other - before.context_other;
        (ok + other > 0.0).then(|| ok / (ok + other))
    }

    /// Context requests the API answered with other than a 2xx between
    /// `before` and `self`.
    pub fn non_2xx_since(&self, before: &Scrape) -> f64 {
        self.context_other - before.context_other
    }
}

/// `name{labels} value` (labels may be absent); comments and blank lines
/// are `None`.
fn sample(line: &str) -> Option<(&str, &str, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    match series.split_once('{') {
        Some((name, labels)) => Some((name, labels.strip_suffix('}')?, value)),
        None => Some((series, "", value)),
    }
}

/// The value of label `name` in `a="x",b="y"` (values without `"` or `,`,
/// as the API's are).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}
