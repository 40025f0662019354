//! The key set that service tokens are verified with: public keys in JSON
//! Web Key form (RFC 7517), each pinned to one algorithm, loaded from files
//! and/or an HTTPS URL and refreshed — periodically, and when a token names
//! a `kid` the set does not have (at most once per minimum interval).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// Largest key-set document read from a file or URL: 1 MiB.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Smallest RSA modulus accepted: 2048 bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

/// Where the key set comes from and how often it is read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksConfig {
    /// JWK set files (`{"keys":[…]}`, or one JWK), merged with the URL's.
    pub files: Vec<PathBuf>,
    /// A JWK set URL: `https://`, or `http://` on a loopback host only
    /// (tests, a sidecar on the same machine).
    pub url: Option<String>,
    /// Read every source again this often; zero: never.
    pub refresh_interval: Duration,
    /// Least time between two reads triggered by unknown `kid`s, so tokens
    /// with made-up key ids cannot make the API hammer the key server.
    pub min_refresh_interval: Duration,
    /// Timeout of one fetch of the URL.
    pub fetch_timeout: Duration,
}

impl JwksConfig {
    /// `files` and `url` with the defaults: refresh every 300 s, at most
    /// one unknown-`kid` refresh per 30 s, fetch timeout 10 s.
    pub fn new(files: Vec<PathBuf>, url: Option<String>) -> Self {
        Self {
            files,
            url,
            refresh_interval: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

/// A public key of the set, usable with exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    /// `kid`.
    pub kid: String,
    /// The only algorithm a token verified with this key may name.
    pub alg: Algorithm,
    /// The key.
    pub key: DecodingKey,
    /// The JWK's public parameters, to tell whether a refresh changed it.
    material: String,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.alg == other.alg && self.material == other.material
    }
}

/// The members of a JWK this module reads (RFC 7517 §4, RFC 7518 §6).
#[derive(Debug, Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<String>,
}

/// Public keys by `kid`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeySet {
    keys: BTreeMap<String, VerifyingKey>,
}

impl KeySet {
    /// Parses a JWK set document (`{"keys":[…]}`) or a single JWK. Keys this
    /// API cannot use are left out and described in the second value (RFC
    /// 7517 §5: members not understood are ignored): no `kid`, `use` other
    /// than `sig`, `key_ops` without `verify`, a private (`d`) or symmetric
    /// (`oct`) key, a curve or type other than Ed25519, P-256 and RSA, an
    /// `alg` that does not fit the key.
    ///
    /// # Errors
    /// Not JSON of that shape, or two keys with one `kid`.
    pub fn parse(text: &str) -> Result<(Self, Vec<String>), String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let entries = match value.get("keys") {
            Some(serde_json::Value::Array(keys)) => keys.clone(),
            Some(_) => return Err("`keys` is not an array".into()),
            None if value.get("kty").is_some() => vec![value],
            None => return Err("neither a JWK set ({\"keys\":[…]}) nor a JWK".into()),
        };
        let mut set = KeySet::default();
        let mut skipped = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let raw: RawJwk = match serde_json::from_value(entry) {
                Ok(raw) => raw,
                Err(e) => {
                    skipped.push(format!("key {index}: {e}"));
                    continue;
                }
            };
            let kid = raw.kid.clone().unwrap_or_default();
            match verifying_key(raw) {
                Ok(key) => set.insert(key)?,
                Err(why) => skipped.push(format!("key {index} (kid {kid:?}): {why}")),
            }
        }
        Ok((set, skipped))
    }

    /// Adds `key`.
    ///
    /// # Errors
    /// Its `kid` is already in the set.
    pub fn insert(&mut self, key: VerifyingKey) -> Result<(), String> {
        if self.keys.contains_key(&key.kid) {
            return Err(format!("two keys have kid {:?}", key.kid));
        }
        self.keys.insert(key.kid.clone(), key);
        Ok(())
    }

    /// Every key of `other` into this set.
    ///
    /// # Errors
    /// A `kid` in both.
    pub fn merge(&mut self, other: KeySet) -> Result<(), String> {
        other
            .keys
            .into_values()
            .try_for_each(|key| self.insert(key))
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// The key ids, sorted.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn verifying_key(raw: RawJwk) -> Result<VerifyingKey, String> {
    let kid = raw.kid.filter(|k| !k.is_empty()).ok_or("no kid")?;
    if raw.key_use.as_deref().is_some_and(|u| u != "sig") {
        return Err("`use` is not \"sig\"".into());
    }
    if raw
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return Err("`key_ops` does not include \"verify\"".into());
    }
    if raw.d.is_some() {
        return Err("a private key (`d`) does not belong in a published key set".into());
    }
    let field = |name: &str, value: &Option<String>| -> Result<Vec<u8>, String> {
        let text = value.as_deref().ok_or_else(|| format!("no `{name}`"))?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| format!("`{name}` is not base64url: {e}"))
    };
    let (alg, key, material) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("OKP", Some("Ed25519")) => {
            let x = field("x", &raw.x)?;
            if x.len() != 32 {
                return Err(format!("Ed25519 `x` must be 32 bytes, got {}", x.len()));
            }
            let material = format!("OKP:{}", URL_SAFE_NO_PAD.encode(&x));
            (Algorithm::EdDSA, DecodingKey::from_ed_der(&x), material)
        }
        ("EC", Some("P-256")) => {
            let (x, y) = (field("x", &raw.x)?, field("y", &raw.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 `x` and `y` must be 32 bytes each".into());
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let material = format!("EC:{}", URL_SAFE_NO_PAD.encode(&point));
            (Algorithm::ES256, DecodingKey::from_ec_der(&point), material)
        }
        ("RSA", _) => {
            let (n, e) = (field("n", &raw.n)?, field("e", &raw.e)?);
            let significant: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
            let bits = significant.first().map_or(0, |top| {
                (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
            });
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "an RSA modulus must have at least {MIN_RSA_BITS} bits (RFC 7518 §3.3)"
                ));
            }
            let material = format!(
                "RSA:{}:{}",
                URL_SAFE_NO_PAD.encode(&n),
                URL_SAFE_NO_PAD.encode(&e)
            );
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
                material,
            )
        }
        ("oct", _) => {
            return Err("a symmetric (`oct`) key is never taken from a key set".into());
        }
        (kty, crv) => {
            return Err(format!(
                "unsupported key type {kty:?} (crv {crv:?}); supported: OKP Ed25519, EC P-256, RSA"
            ));
        }
    };
    if let Some(named) = raw.alg.as_deref()
        && named != algorithm_name(alg)
    {
        return Err(format!(
            "`alg` {named:?} does not fit this key, which is for {}",
            algorithm_name(alg)
        ));
    }
    Ok(VerifyingKey {
        kid,
        alg,
        key,
        material,
    })
}

/// The JOSE name of `alg` (RFC 7518 §3.1, RFC 8037 §3.1).
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // `Algorithm` is non-exhaustive; no newer one is accepted anywhere here.
        _ => "unknown",
    }
}

/// The key set in use, and how it is read again.
pub(crate) struct KeyStore {
    config: JwksConfig,
    client: reqwest::Client,
    current: RwLock<Arc<KeySet>>,
    /// When the last read started; held while one runs, so reads never
    /// overlap and the unknown-`kid` limit is checked against the latest.
    last_read: tokio::sync::Mutex<Instant>,
    /// Called after the set changed (drops cached verdicts).
    on_change: Box<dyn Fn() + Send + Sync>,
}

impl KeyStore {
    /// Reads every source once (it must yield at least one key) and starts
    /// the periodic refresh, which ends when the store is dropped.
    ///
    /// # Errors
    /// No source, a URL that is neither `https://` nor loopback `http://`,
    /// a source that cannot be read or parsed, or no usable key.
    pub(crate) async fn start(
        config: JwksConfig,
        on_change: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Arc<Self>, String> {
        if config.files.is_empty() && config.url.is_none() {
            return Err("a key set needs --api-jwks-file or --api-jwks-url".into());
        }
        if let Some(url) = &config.url {
            check_url(url)?;
        }
        let client = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let set = read(&config, &client).await?;
        if set.is_empty() {
            return Err("the key set has no usable key".into());
        }
        tracing::info!(kids = ?set.kids(), "Key set loaded.");
        let store = Arc::new(Self {
            config,
            client,
            current: RwLock::new(Arc::new(set)),
            last_read: tokio::sync::Mutex::new(Instant::now()),
            on_change,
        });
        if !store.config.refresh_interval.is_zero() {
            let weak = Arc::downgrade(&store);
            let every = store.config.refresh_interval;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(store) = weak.upgrade() else { break };
                    let mut last = store.last_read.lock().await;
                    *last = Instant::now();
                    store.reload().await;
                }
            });
        }
        Ok(store)
    }

    /// The key with this `kid`, reading the sources again first when it is
    /// unknown and the last read is at least the minimum interval ago.
    pub(crate) async fn get(&self, kid: &str) -> Option<VerifyingKey> {
        if let Some(key) = self.snapshot().get(kid) {
            return Some(key.clone());
        }
        let mut last = self.last_read.lock().await;
        // Another request may have read the sources while this one waited.
        if let Some(key) = self.snapshot().get(kid) {
            return Some(key.clone());
        }
        if last.elapsed() < self.config.min_refresh_interval {
            return None;
        }
        *last = Instant::now();
        tracing::debug!(kid, "Unknown kid; reading the key set again.");
        self.reload().await;
        self.snapshot().get(kid).cloned()
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the sources; a changed set replaces the current one, a failed
    /// read keeps it (logged).
    async fn reload(&self) {
        match read(&self.config, &self.client).await {
            Ok(set) if *self.snapshot() != set => {
                tracing::info!(kids = ?set.kids(), "Key set changed.");
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
                (self.on_change)();
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "Key set not refreshed; keeping the previous one.");
            }
        }
    }
}

/// `https://`, or `http://` to a loopback address or `localhost`.
fn check_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("api_jwks_url {raw:?}: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "api_jwks_url {raw:?}: must be https:// (http:// only to a loopback address)"
        )),
    }
}

async fn read(config: &JwksConfig, client: &reqwest::Client) -> Result<KeySet, String> {
    let mut set = KeySet::default();
    for path in &config.files {
        let text =
            std::fs::read(path).map_err(|e| format!("api_jwks_file {}: {e}", path.display()))?;
        if text.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "api_jwks_file {}: larger than {MAX_JWKS_BYTES} bytes",
                path.display()
            ));
        }
        let text = String::from_utf8(text)
            .map_err(|_| format!("api_jwks_file {}: not UTF-8", path.display()))?;
        set.merge(parse_logged(&text, &path.display().to_string())?)?;
    }
    if let Some(url) = &config.url {
        let text = fetch(client, url).await?;
        set.merge(parse_logged(&text, url)?)?;
    }
    Ok(set)
}

fn parse_logged(text: &str, source: &str) -> Result<KeySet, String> {
    let (set, skipped) = KeySet::parse(text).map_err(|e| format!("{source}: {e}"))?;
    for why in skipped {
        tracing::warn!(source, why, "Key left out of the key set.");
    }
    Ok(set)
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("api_jwks_url {url}: {e}"))?;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("api_jwks_url {url}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!(
                "api_jwks_url {url}: larger than {MAX_JWKS_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("api_jwks_url {url}: not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ed(kid: &str) -> serde_json::Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&[7; 32])})
    }

    #[test]
    fn usable_keys_are_pinned_to_their_algorithm_and_others_left_out() {
        // 256 bytes whose top bit is clear: a 2047-bit modulus.
        let mut rsa_2047 = vec![0xff; 256];
        rsa_2047[0] = 0x7f;
        let doc = json!({"keys": [
            ed("edge/ed"),
            {"kty": "EC", "crv": "P-256", "kid": "edge/ec", "alg": "ES256", "use": "sig",
             "x": b64(&[1; 32]), "y": b64(&[2; 32])},
            {"kty": "RSA", "kid": "edge/rsa", "n": b64(&[0xc1; 256]), "e": "AQAB"},
            {"kty": "RSA", "kid": "short-rsa", "n": b64(&[0xc1; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-2047", "n": b64(&rsa_2047), "e": "AQAB"},
            {"kty": "oct", "kid": "secret", "k": b64(b"0123456789abcdef0123456789abcdef")},
            {"kty": "EC", "crv": "P-384", "kid": "p384", "x": b64(&[1; 48]), "y": b64(&[2; 48])},
            {"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 32])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": b64(&[7; 32])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "private", "x": b64(&[7; 32]), "d": b64(&[9; 32])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "confused", "alg": "HS256", "x": b64(&[7; 32])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": b64(&[7; 31])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "no-verify", "key_ops": ["sign"], "x": b64(&[7; 32])},
            "not an object",
        ]});
        let (set, skipped) = KeySet::parse(&doc.to_string()).unwrap();
        assert_eq!(set.kids(), ["edge/ec", "edge/ed", "edge/rsa"]);
        assert_eq!(set.get("edge/ed").unwrap().alg, Algorithm::EdDSA);
        assert_eq!(set.get("edge/ec").unwrap().alg, Algorithm::ES256);
        assert_eq!(set.get("edge/rsa").unwrap().alg, Algorithm::RS256);
        let skipped = skipped.join("\n");
        for fragment in [
            "at least 2048 bits",
            "symmetric",
            "P-384",
            "no kid",
            "`use`",
            "private key",
            "\"HS256\" does not fit",
            "32 bytes",
            "key_ops",
            "key 13",
            "\"rsa-2047\"",
        ] {
            assert!(skipped.contains(fragment), "{fragment}: {skipped}");
        }
    }

    #[test]
    fn a_single_jwk_is_a_set_of_one_and_duplicate_kids_are_refused() {
        let (set, _) = KeySet::parse(&ed("k1").to_string()).unwrap();
        assert_eq!(set.kids(), ["k1"]);
        let doc = json!({"keys": [ed("k1"), ed("k1")]});
        assert!(
            KeySet::parse(&doc.to_string())
                .unwrap_err()
                .contains("two keys")
        );
        let mut merged = set.clone();
        assert!(merged.merge(set).is_err());
        assert!(KeySet::parse("[]").is_err());
        assert!(KeySet::parse("{\"keys\": 1}").is_err());
    }

    #[test]
    fn the_url_must_be_https_unless_loopback() {
        for ok in [
            "https://keys.example.com/jwks.json",
            "http://127.0.0.1:9999/jwks.json",
            "http://[::1]:9999/jwks.json",
            "http://localhost/jwks.json",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://keys.example.com/jwks.json",
            "ftp://x/y",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
