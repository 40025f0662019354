//! The README's service-token example, end to end through the binary:
//! `tenantry token keygen` → `tenantry context-api --api-jwks-file … --api-allow …`
//! → `tenantry token mint` → HTTP. Needs no local stack (a SQLite context store).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tenantry");

/// `tenantry` with `args`, without the environment's API settings.
fn tenantry(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for name in [
        "TENANTRY_API_JWT_SECRET",
        "TENANTRY_API_JWKS_FILES",
        "TENANTRY_API_JWKS_URL",
        "TENANTRY_API_ALLOW",
        "TENANTRY_CONTEXT_STORE",
        "TENANTRY_CONTEXT_DATABASE_URL",
        "TENANTRY_LISTEN",
    ] {
        command.env_remove(name);
    }
    command
}

fn output(args: &[&str]) -> String {
    let out = tenantry(args).output().unwrap();
    assert!(
        out.status.success(),
        "tenantry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Kills the server it holds when dropped (the test's own child only).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_api(dir: &Path, listen: &str, extra: &[&str]) -> Server {
    let store = format!("sqlite://{}", dir.join("contexts.db").display());
    let jwks = dir.join("jwks.json").display().to_string();
    let mut args = vec![
        "context-api",
        "--context-database-url",
        &store,
        "--listen",
        listen,
        "--api-jwks-file",
        &jwks,
        "--log",
        "warn",
    ];
    args.extend_from_slice(extra);
    Server(
        tenantry(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn keygen_run_with_the_key_set_mint_and_call() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    let printed = output(&[
        "token",
        "keygen",
        "--alg",
        "EdDSA",
        "--kid",
        "edge-1/k1",
        "--out-dir",
        &out_dir,
    ]);
    assert!(printed.contains("edge-1_k1.pem"), "{printed}");
    let keygen: serde_json::Value = serde_json::from_str(&output(&[
        "token",
        "keygen",
        "--alg",
        "ES256",
        "--kid",
        "edge-1/k2",
        "--out-dir",
        &out_dir,
        "--json",
    ]))
    .unwrap();
    assert_eq!(keygen["kid"], "edge-1/k2", "{keygen}");
    assert!(
        keygen["private_key"]
            .as_str()
            .unwrap()
            .ends_with("edge-1_k2.pem"),
        "{keygen}"
    );
    assert!(
        keygen["jwks"].as_str().unwrap().ends_with("jwks.json"),
        "{keygen}"
    );
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("jwks.json")).unwrap())
            .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    assert!(
        !jwks.to_string().contains("\"d\""),
        "public keys only: {jwks}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("edge-1_k1.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second keygen of the same kid never overwrites the private key.
    let again = tenantry(&[
        "token",
        "keygen",
        "--kid",
        "edge-1/k1",
        "--out-dir",
        &out_dir,
    ])
    .output()
    .unwrap();
    assert!(!again.status.success());
    let key = dir.path().join("edge-1_k1.pem").display().to_string();
    let minted: serde_json::Value = serde_json::from_str(&output(&[
        "token",
        "mint",
        "--key",
        &key,
        "--kid",
        "edge-1/k1",
        "--issuer",
        "edge-1",
        "--tenants",
        "t1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        minted["token"].as_str().unwrap().split('.').count(),
        3,
        "a compact JWS: {minted}"
    );

    let listen = free_address();
    let _server = start_api(
        dir.path(),
        &listen,
        &["--api-allow", "edge-1=/v1/tenants/{tenant_id}/context"],
    );
    let client = reqwest::Client::new();
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "context-api did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let k1 = dir.path().join("edge-1_k1.pem").display().to_string();
    let k2 = dir.path().join("edge-1_k2.pem").display().to_string();
    let mint = |key: &str, kid: &str, tenants: &str| {
        output(&[
            "token",
            "mint",
            "--key",
            key,
            "--kid",
            kid,
            "--issuer",
            "edge-1",
            "--tenants",
            tenants,
            "--ttl-secs",
            "120",
        ])
        .trim()
        .to_owned()
    };
    let get = |path: &str, token: Option<String>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    };
    // Authenticated and in scope: the store simply has no such tenant yet.
    for (key, kid) in [(&k1, "edge-1/k1"), (&k2, "edge-1/k2")] {
        let (status, body) = get("/v1/tenants/t1/context", Some(mint(key, kid, "t1"))).await;
        assert_eq!(status, 404, "{kid}: {body}");
        assert_eq!(body["error"]["code"], "tenant_not_found", "{body}");
    }
    let (status, body) = get("/v1/tenants/t1/context", None).await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (401, &"missing_token".into()),
        "{body}"
    );
    let (status, body) = get("/v1/tenants/t2/context", Some(mint(&k1, "edge-1/k1", "t1"))).await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (403, &"tenant_not_in_scope".into()),
        "{body}"
    );
    let (status, body) = get(
        "/v1/sites/one.tenantry.test/context",
        Some(mint(&k1, "edge-1/k1", "*")),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (403, &"route_not_allowed".into()),
        "{body}"
    );
}

#[test]
fn contradictory_or_incomplete_auth_settings_stop_the_api_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    output(&[
        "token",
        "keygen",
        "--kid",
        "edge-1/k1",
        "--out-dir",
        &out_dir,
    ]);
    let store = format!("sqlite://{}", dir.path().join("contexts.db").display());
    let jwks = dir.path().join("jwks.json").display().to_string();
    let cases: [(&[&str], &str); 4] = [
        (&["--api-jwks-file", &jwks], "allow-list"),
        (
            &[
                "--api-jwks-file",
                &jwks,
                "--api-allow",
                "edge-1=*",
                "--api-jwt-secret",
                "0123456789abcdef0123456789abcdef",
            ],
            "exclude each other",
        ),
        (&["--api-allow", "edge-1=*"], "unauthenticated"),
        (
            &[
                "--api-jwks-file",
                &jwks,
                "--api-allow",
                "edge-1=/v1/nowhere",
            ],
            "unknown route",
        ),
    ];
    for (flags, fragment) in cases {
        let mut args = vec![
            "context-api",
            "--context-database-url",
            &store,
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(flags);
        let out = tenantry(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?}");
        assert!(stderr.contains(fragment), "{flags:?}: {stderr}");
    }
}
