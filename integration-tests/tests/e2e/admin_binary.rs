//! The `tenantry admin` binary as operators run it: it takes only tokens of
//! its own audience, serves `/healthz`, and refuses to start without
//! authentication or when no issuer may call its routes.

use crate::admin::{SECRET, call};
use crate::support::{fresh_database, tenantry, wait_for};
use std::time::Duration;

#[tokio::test]
async fn tenantry_admin_refuses_to_start_without_authentication() {
    // Its routes retry and skip sagas: no token check, no admin.
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        crate::support::tenantry(&["admin", "--listen", "127.0.0.1:0"], &[]),
    )
    .await
    .expect("tenantry admin exits instead of serving without authentication");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--api-jwt-secret (TENANTRY_API_JWT_SECRET)")
            && stderr.contains("needs authentication"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tenantry_admin_refuses_to_start_when_no_issuer_may_call_its_routes() {
    // No allow-list (the secret's issuer gets the context routes only), or
    // one written for edges: every request would be a 403.
    let secret = std::str::from_utf8(SECRET).unwrap();
    for allow in [
        None,
        Some("tenantry=*"),
        Some("edge=/v1/sites/{host}/context"),
        // Admin routes, but for an issuer a shared secret's tokens never
        // carry: only --api-jwt-issuer's (`tenantry`) can call them.
        Some("ops=/admin/*"),
    ] {
        let mut args = vec![
            "admin",
            "--listen",
            "127.0.0.1:0",
            "--api-jwt-secret",
            secret,
        ];
        if let Some(allow) = allow {
            args.extend(["--api-allow", allow]);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), tenantry(&args, &[]))
            .await
            .expect("tenantry admin exits instead of serving 403 to everything");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{allow:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{allow:?}: {stderr}");
        assert!(
            stderr.contains("--api-allow (TENANTRY_API_ALLOW)")
                && stderr.contains("'tenantry=/admin/*'"),
            "{allow:?}: {stderr}"
        );
    }
}

/// `tenantry admin` as operators run it, in key-set mode with keys and
/// tokens from `tenantry token keygen|mint`: `/healthz` answers while it
/// serves, and only tokens minted for its audience (`--audience
/// tenantry-admin`) get past authentication; a context API token of the
/// same issuer and key (`tenants: ["*"]`) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenantry_admin_serves_healthz_and_takes_only_tokens_of_its_audience() {
    let run = tenantry_integration_tests::RunDir::new("admin-audience");
    let database_url = fresh_database().await;
    let env = [("TENANTRY_DATABASE_URL", database_url.as_str())];
    let migrated = tenantry(&["migrate"], &env).await;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let keys = run.path().join("keys");
    let keys_dir = keys.to_str().unwrap();
    let generated = tenantry(
        &["token", "keygen", "--kid", "ops/1", "--out-dir", keys_dir],
        &[],
    )
    .await;
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let mint = |audience: Option<&'static str>| {
        let key = keys.join("ops_1.pem");
        async move {
            let mut args = vec![
                "token".to_owned(),
                "mint".into(),
                "--key".into(),
                key.to_str().unwrap().to_owned(),
                "--kid".into(),
                "ops/1".into(),
                "--issuer".into(),
                "ops".into(),
                "--tenants".into(),
                "*".into(),
            ];
            if let Some(audience) = audience {
                args.extend(["--audience".to_owned(), audience.to_owned()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = tenantry(&args, &[]).await;
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        }
    };
    let admin_token = mint(Some("tenantry-admin")).await;
    let edge_token = mint(None).await;

    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let jwks = keys.join("jwks.json");
    let command = tenantry_integration_tests::tenantry_command(
        &[
            "admin",
            "--listen",
            &address,
            "--api-jwks-file",
            jwks.to_str().unwrap(),
            "--api-allow",
            "ops=*,/admin/*",
        ],
        &env,
    );
    let mut admin =
        tenantry_integration_tests::ServiceProcess::spawn(command, &run.file("admin.log"))
            .expect("spawn tenantry admin (build it: cargo build --bin tenantry)");
    let base = format!("http://{address}");
    wait_for(Duration::from_secs(60), "admin /healthz", || async {
        let response = reqwest::get(format!("{base}/healthz")).await.ok()?;
        (response.status() == 200).then_some(())?;
        let body: serde_json::Value = response.json().await.ok()?;
        (body["status"] == "ok").then_some(())
    })
    .await;

    let url = |what: &str| format!("{base}/admin/v1/tenants/t99/{what}");
    for (method, what) in [("GET", "timeline"), ("POST", "retry"), ("POST", "skip")] {
        let (status, body) = call(method, &url(what), Some(&edge_token)).await;
        assert_eq!(status, 401, "edge token, {what}: {body}");
        assert_eq!(body["error"]["reason"], "wrong_audience", "{body}");
        // Past authentication: nothing is recorded for t99.
        let (status, body) = call(method, &url(what), Some(&admin_token)).await;
        assert_eq!(status, 404, "admin token, {what}: {body}");
        assert_eq!(body["error"]["code"], "tenant_not_found", "{body}");
    }
    assert!(admin.exited().is_none(), "{}", admin.log_tail(20));
    admin.terminate(Duration::from_secs(10)).await;
}
