//! The operators' timeline page (`tenantry-admin`) on the local stack: the
//! page in a real headless Chromium shows a parked tenant and releases it
//! with its Retry button; the JSON and the actions refuse what they must
//! (no token, another tenant's token, unknown tenant, a tenant not parked,
//! a retry of a sequence gap) and report each commerce event's status. The
//! `tenantry admin` binary itself: [`crate::admin_binary`].

use crate::browser::Browser;
use crate::support::{Stack, tenantry, wait_for, wait_for_product};
use std::sync::Arc;
use std::time::Duration;
use tenantry_context_api::ApiAuth;
use tenantry_context_api::auth::{AuthConfig, RouteAllowList};
use tenantry_schemas::TenantId;
use tenantry_store::parking::{self, Parked};

/// The admin's HS256 secret (≥ 32 bytes, RFC 7518 §3.2).
pub(crate) const SECRET: &[u8] = b"admin-e2e-secret-0123456789-abcdefghijkl";
const ISSUER: &str = "tenantry";
/// The admin's own audience: context API (edge) tokens are not admin tokens.
const AUDIENCE: &str = tenantry_admin::DEFAULT_AUDIENCE;

/// Serves the admin routes in-process on the stack's stores, with the
/// shared-secret mode and an allow-list naming the admin routes; returns
/// its base URL. It stops with the stack.
async fn start_admin(stack: &Stack) -> String {
    let mut config = AuthConfig::shared_secret(SECRET, ISSUER, AUDIENCE, 30);
    config.allow = Some(RouteAllowList::parse([&*format!("{ISSUER}=/admin/*")]).unwrap());
    let auth = ApiAuth::from_config(config).await.expect("admin auth");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = tenantry_admin::AdminState {
        store: stack.store.clone(),
        contexts: Arc::new(stack.contexts.clone()),
        auth,
    };
    tokio::spawn(tenantry_admin::serve(
        listener,
        state,
        stack.shutdown.clone(),
    ));
    url
}

/// An HS256 token of the admin's issuer for `tenants` (`*`: all), 10 min.
fn token(tenants: &[&str]) -> String {
    tenantry_apps::ensure_crypto_provider();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "tenants": tenants,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

/// Waits until the store has `tenant` parked with `waiting` events behind it.
async fn parked(stack: &Stack, tenant: &str, waiting: i64) -> Parked {
    let tenant = TenantId::parse(tenant).unwrap();
    wait_for(Duration::from_secs(60), "tenant parked", || async {
        parking::get(stack.store.pool(), &tenant)
            .await
            .unwrap()
            .filter(|p| p.waiting == waiting)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_shows_a_parked_tenant_and_its_retry_button_releases_it() {
    let stack = Stack::start().await;
    // t4 asks for t1's site: its tenant saga fails at create_site (the host
    // is taken), compensates record_licence and parks t4; its
    // product_activated waits.
    stack.create_tenant("t1", "acme", "a@acme.test", "DE").await;
    wait_for(Duration::from_secs(60), "t1 active", || async {
        let (_, body) = stack.get("/v1/tenants/t1/context").await;
        (body["status"] == "active").then_some(())
    })
    .await;
    stack.create_tenant("t4", "acme", "b@acme.test", "FR").await;
    stack.activate("t4", 2, "jira").await;
    let parking = parked(&stack, "t4", 1).await;
    assert_eq!(parking.kind, "saga_failed");
    let admin = start_admin(&stack).await;

    let browser = Browser::start().await;
    let page = format!("{admin}/admin/tenants/t4");
    browser.client.goto(&page).await.expect("open the page");
    // No token yet: the page asks for one and shows no data.
    browser.wait_for("body[data-state='token']").await;
    browser
        .wait_for("#token")
        .await
        .send_keys(&token(&["t4"]))
        .await
        .unwrap();
    browser.wait_for("#token-save").await.click().await.unwrap();
    browser.wait_for("body[data-state='loaded']").await;

    let box_ = browser.wait_for("#parking").await;
    assert_eq!(
        box_.attr("data-parked").await.unwrap().as_deref(),
        Some("true")
    );
    let text = box_.text().await.unwrap();
    assert!(text.contains("Parked (saga_failed)"), "{text}");
    assert!(text.contains("is taken by tenant t1"), "{text}");
    assert!(text.contains("1 event(s) waiting"), "{text}");
    browser
        .wait_for("#events tr[data-sequence='1'][data-status='processed']")
        .await;
    browser
        .wait_for("#events tr[data-sequence='2'][data-status='waiting']")
        .await;
    let saga = browser.text(".saga[data-status='failed']").await;
    assert!(saga.contains("provision_tenant"), "{saga}");
    assert!(
        saga.contains("Failure:") && saga.contains("is taken by tenant t1"),
        "{saga}"
    );
    // Its steps, and the steps on the time axis: done, compensated, failed.
    browser
        .wait_for(".saga li[data-step='record_licence'][data-state='compensated']")
        .await;
    browser
        .wait_for(".saga li[data-step='create_site'][data-state='failed']")
        .await;
    browser
        .wait_for(".saga li[data-step='install_apps'][data-state='not_run']")
        .await;
    for marker in ["started", "step_done", "step_compensated", "failed"] {
        browser
            .wait_for(&format!(".saga svg.axis circle.{marker}"))
            .await;
    }
    browser.screenshot("admin-parked").await;
    assert!(
        browser
            .wait_for("#retry")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(
        browser
            .wait_for("#skip")
            .await
            .is_displayed()
            .await
            .unwrap()
    );

    // The operator frees the host name, then retries from the page.
    sqlx::query("DELETE FROM sites WHERE tenant_id = 't1'")
        .execute(stack.store.pool())
        .await
        .unwrap();
    browser.wait_for("#retry").await.click().await.unwrap();
    let notice = browser.text("#notice:not([hidden])").await;
    assert!(notice.contains("retry requested for t4"), "{notice}");
    let t4 = TenantId::parse("t4").unwrap();
    wait_for(Duration::from_secs(60), "t4 released", || async {
        parking::get(stack.store.pool(), &t4)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    wait_for_product(&stack.api, "t4", "jira", "active").await;

    // After a reload (the token stays in the tab) the page says so.
    browser.client.refresh().await.unwrap();
    browser.wait_for("body[data-state='loaded']").await;
    let box_ = browser.wait_for("#parking").await;
    assert_eq!(
        box_.attr("data-parked").await.unwrap().as_deref(),
        Some("false")
    );
    assert!(box_.text().await.unwrap().contains("Not parked"));
    assert!(
        !browser
            .wait_for("#retry")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    browser
        .wait_for("#events tr[data-sequence='2'][data-status='processed']")
        .await;
    browser
        .wait_for(".saga[data-status='completed'] li[data-step='create_site'][data-state='done']")
        .await;
    browser.screenshot("admin-released").await;
    let context = browser.text("#context").await;
    assert!(context.contains("acme.tenantry.test"), "{context}");
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skip_on_the_page_asks_first_and_then_releases_a_gap() {
    let stack = Stack::start().await;
    // t6 gets sequence 3 (jira activated) before 2: parked on the gap, one
    // event waiting.
    stack.create_tenant("t6", "six", "o@six.test", "IN").await;
    stack
        .publish(&[
            "product_activated",
            "--tenant",
            "t6",
            "--sequence",
            "3",
            "--product",
            "jira",
            "--seats",
            "5",
        ])
        .await;
    let parking = parked(&stack, "t6", 1).await;
    assert_eq!(parking.kind, "sequence_gap");
    let admin = start_admin(&stack).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{admin}/admin/tenants/t6"))
        .await
        .unwrap();
    browser
        .wait_for("#token")
        .await
        .send_keys(&token(&["t6"]))
        .await
        .unwrap();
    browser.wait_for("#token-save").await.click().await.unwrap();
    browser.wait_for("#parking[data-parked='true']").await;
    let t6 = TenantId::parse("t6").unwrap();

    // Skip asks first; dismissed, nothing is requested.
    browser.wait_for("#skip").await.click().await.unwrap();
    let question = browser
        .client
        .get_alert_text()
        .await
        .expect("a confirmation");
    assert!(
        question.contains("t6") && question.contains("Skip"),
        "{question}"
    );
    browser.client.dismiss_alert().await.unwrap();
    let still = parking::get(stack.store.pool(), &t6)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.action, None, "a dismissed skip requests nothing");

    // Confirmed, the provisioner skips the gap and releases sequence 3.
    browser.wait_for("#skip").await.click().await.unwrap();
    browser.client.accept_alert().await.unwrap();
    let notice = browser.text("#notice:not([hidden])").await;
    assert!(notice.contains("skip requested for t6"), "{notice}");
    wait_for(Duration::from_secs(60), "t6 released", || async {
        parking::get(stack.store.pool(), &t6)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    browser.client.refresh().await.unwrap();
    browser.wait_for("#parking[data-parked='false']").await;
    browser
        .wait_for("#events tr[data-sequence='3'][data-status='processed']")
        .await;
    browser.close().await;
    stack.stop().await;
}

/// `method` on `url` with an optional bearer token: (status, JSON body).
pub(crate) async fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_timeline_api_reports_event_statuses_and_refuses_what_it_must() {
    let stack = Stack::start().await;
    let admin = start_admin(&stack).await;
    let api = |tenant: &str, what: &str| format!("{admin}/admin/v1/tenants/{tenant}/{what}");
    let all = token(&["*"]);
    // t8: created (processed); a guard refuses un-suspending a product that
    // is not suspended (rejected); sequence 1 again with a new event id (stale).
    stack
        .create_tenant("t8", "eight", "o@eight.test", "DE")
        .await;
    stack
        .publish(&[
            "product_unsuspended",
            "--tenant",
            "t8",
            "--sequence",
            "2",
            "--product",
            "jira",
        ])
        .await;
    stack
        .create_tenant("t8", "eight", "o@eight.test", "DE")
        .await;
    stack
        .until(
            "t8's three events recorded",
            "SELECT COUNT(*) FROM tenant_events WHERE tenant_id = 't8'",
            3,
        )
        .await;
    stack
        .until("t8's rejection", "SELECT COUNT(*) FROM rejections", 1)
        .await;

    // Retry and skip of a tenant that is not parked: 409, naming the field.
    for action in ["retry", "skip"] {
        let (status, body) = call("POST", &api("t8", action), Some(&all)).await;
        assert_eq!(status, 409, "{action}: {body}");
        assert_eq!(body["error"]["code"], "tenant_not_parked", "{body}");
        assert_eq!(body["error"]["field"], "tenant_id", "{body}");
        assert!(
            body["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("t8 is not parked")
        );
    }

    // Sequence 4 after a gap waits, and parks t8 (sequence_gap).
    stack
        .publish(&[
            "licence_updated",
            "--tenant",
            "t8",
            "--sequence",
            "4",
            "--product",
            "jira",
            "--seats",
            "9",
        ])
        .await;
    parked(&stack, "t8", 1).await;

    // A gap has no saga to run again: retry is refused up front, by the
    // admin (409) and by the CLI (exit 1, one line), and nothing is requested.
    let (status, body) = call("POST", &api("t8", "retry"), Some(&all)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "nothing_to_retry", "{body}");
    assert_eq!(body["error"]["field"], "tenant_id", "{body}");
    let reason = body["error"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("t8") && reason.contains("sequence gap") && reason.contains("skip"),
        "{reason}"
    );
    let env = stack.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = tenantry(&["sagas", "retry", "t8", "--json"], &env).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("nothing to retry") && stderr.contains("tenantry sagas skip t8"),
        "{stderr}"
    );
    let pending = parking::get(stack.store.pool(), &TenantId::parse("t8").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.action, None, "a refused retry requests nothing");
    let (status, body) = call("GET", &api("t8", "timeline"), Some(&all)).await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<(i64, &str)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["sequence"].as_i64().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (1, "processed"),
            (1, "stale"),
            (2, "rejected"),
            (4, "waiting")
        ],
        "{body}"
    );
    let rejected = &body["events"][2];
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("jira is not suspended"),
        "{rejected}"
    );
    assert!(
        rejected["rejected_at_ms"].as_i64().unwrap() > 0,
        "{rejected}"
    );
    assert!(body["events"][0]["recorded_at_ms"].as_i64().unwrap() > 0);
    assert_eq!(body["parking"]["kind"], "sequence_gap", "{body}");
    assert_eq!(body["parking"]["waiting"], 1, "{body}");
    let saga = &body["sagas"][0];
    assert_eq!(saga["kind"], "provision_tenant", "{saga}");
    assert_eq!(saga["status"], "completed", "{saga}");
    assert!(
        saga["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "step_done"
                && h["step"] == "install_apps"
                && h["at_ms"].as_i64().unwrap() >= saga["started_at_ms"].as_i64().unwrap()),
        "{saga}"
    );

    // No token: 401 with the context API's body, for the data and the actions.
    for (method, what) in [("GET", "timeline"), ("POST", "retry"), ("POST", "skip")] {
        let (status, body) = call(method, &api("t8", what), None).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        assert_eq!(body["error"]["reason"], "missing_token", "{body}");
    }
    // A token for another tenant: 403 (an action: "may not act on";
    // the data: "may not read"), and nothing requested.
    let (status, body) = call("POST", &api("t8", "skip"), Some(&token(&["t1"]))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["reason"], "tenant_not_in_scope", "{body}");
    assert_eq!(
        body["error"]["message"], "the token may not act on tenant t8",
        "{body}"
    );
    let (status, body) = call("GET", &api("t8", "timeline"), Some(&token(&["t1"]))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"], "the token may not read tenant t8",
        "{body}"
    );
    let pending = parking::get(stack.store.pool(), &TenantId::parse("t8").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.action, None);
    // Unknown tenant: 404 for the data and the actions; a bad id: 400.
    for (method, what) in [("GET", "timeline"), ("POST", "retry")] {
        let (status, body) = call(method, &api("t99", what), Some(&all)).await;
        assert_eq!(status, 404, "{what}: {body}");
        assert_eq!(body["error"]["code"], "tenant_not_found", "{body}");
        assert_eq!(body["error"]["field"], "tenant_id", "{body}");
    }
    let (status, body) = call("GET", &api("T%20bad", "timeline"), Some(&all)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "tenant_id", "{body}");

    // The page itself carries no data: no token needed, a strict policy.
    let response = reqwest::get(format!("{admin}/admin/tenants/t8"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'sha256-"),
        "{csp}"
    );
    let html = response.text().await.unwrap();
    assert!(!html.contains("eight.test") && !html.contains("sequence_gap"));

    // Skip with the tenant's own token releases the gap.
    let (status, body) = call("POST", &api("t8", "skip"), Some(&token(&["t8"]))).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["action"], "skip", "{body}");
    stack
        .until(
            "t8 released by skip",
            "SELECT COUNT(*) FROM parked_tenants WHERE tenant_id = 't8'",
            0,
        )
        .await;
    stack.stop().await;
}
