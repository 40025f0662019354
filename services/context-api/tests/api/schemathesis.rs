//! The running API against its own OpenAPI document (`GET /openapi.json`),
//! fuzzed by schemathesis with every check: no 5xx, documented statuses,
//! content types and headers, bodies that validate, invalid input refused
//! and valid input accepted, `401` without the token, `405` (with `Allow`)
//! for undocumented methods.
//!
//! schemathesis is installed by `infra/local/up` and found through
//! `TENANTRY_SCHEMATHESIS` (`infra/local/env`); `schemathesis_hooks.py`
//! shortens the read-your-writes waits it asks for.

use crate::fixtures::{active_tenant, failed_tenant};
use crate::spawn_app_with_auth;
use jsonwebtoken::Algorithm;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tenantry_context_api::ApiAuth;
use tenantry_context_api::auth::{AuthConfig, JwksConfig, MintRequest, RouteAllowList, SigningKey};

const AUDIENCE: &str = "tenantry-context-api";

/// Test cases per operation and phase: enough for the coverage phase's
/// bounds and some fuzzing, under a minute in all.
const MAX_EXAMPLES: &str = "40";

/// Ends a run that hangs; a passing run takes well under a minute.
const DEADLINE: Duration = Duration::from_secs(240);

/// The schemathesis CLI (`st`) from the environment, or a panic that says
/// how to get it: this test never skips.
fn schemathesis() -> PathBuf {
    let advice = "run infra/local/up (it installs schemathesis), then `. infra/local/env` \
                  (it exports TENANTRY_SCHEMATHESIS)";
    let st = std::env::var_os("TENANTRY_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("TENANTRY_SCHEMATHESIS is not set: {advice}"));
    assert!(st.is_file(), "{} does not exist: {advice}", st.display());
    st
}

#[tokio::test]
async fn the_api_conforms_to_its_openapi_document() {
    let st = schemathesis();
    let key = SigningKey::generate(Algorithm::EdDSA, "edge-1/schemathesis")
        .unwrap()
        .key;
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let set = serde_json::json!({"keys": [key.public_jwk()]});
    std::fs::write(&jwks, set.to_string()).unwrap();
    let allow =
        RouteAllowList::parse(["edge-1=/v1/tenants/{tenant_id}/context,/v1/sites/{host}/context"])
            .unwrap();
    let config = AuthConfig::key_set(JwksConfig::new(vec![jwks], None), AUDIENCE, allow);
    let auth = ApiAuth::from_config(config).await.unwrap();
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    app.contexts.put(&failed_tenant()).await.unwrap();
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = key
        .mint(&MintRequest {
            issuer: "edge-1".into(),
            audience: AUDIENCE.into(),
            subject: Some("schemathesis".into()),
            tenants: vec!["*".into()],
            issued_at,
            ttl_secs: 900,
        })
        .unwrap();
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/schemathesis_hooks.py");

    let run = tokio::process::Command::new(&st)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--workers", "2"])
        .args(["--request-timeout", "15"])
        .args(["--generation-database", "none"])
        .arg("--no-color")
        .env("SCHEMATHESIS_HOOKS", &hooks)
        // Its reports and caches, if any, go with the test's directory.
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("could not start {}: {e}", st.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown by the test runner with the test's output (`--no-capture`).
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
