//! `GET /v1/tenants/{tenant_id}/context` and `GET /v1/sites/{host}/context`.

use crate::fixtures::{active_tenant, failed_tenant};
use crate::spawn_app;
use reqwest::StatusCode;
use serde_json::json;
use tenantry_context_api::ContextView;

fn active_view() -> serde_json::Value {
    json!({
        "tenant_id": "acme-corp",
        "status": "active",
        "site": {"name": "acme", "host": "acme.tenantry.test"},
        "region": {"code": "eu", "pinned": true, "moving_to": null},
        "products": {
            "jira": {
                "state": "active",
                "licence": {"seats": 25, "edition": "standard"},
                "shard": "eu-1",
                "database": "p_acme_corp_jira",
                "installed_apps": ["jira-slack"],
                "failure": null
            }
        },
        "groups": ["jira-users", "site-admins"],
        "last_failure": null,
        "rejections": [],
        "parked": null,
        "pending_saga": null,
        "version": {"commerce_sequence": 2, "provisioning_sequence": 3}
    })
}

#[tokio::test]
async fn by_tenant_returns_the_view_in_its_own_shape() {
    let app = spawn_app().await;
    app.contexts.put(&active_tenant()).await.unwrap();

    let response = app.get("/v1/tenants/acme-corp/context").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    assert_eq!(response.body, active_view());
    assert_eq!(response.header("etag"), Some("\"3\""));
    assert_eq!(response.header("tenantry-commerce-sequence"), Some("2"));
    let text = response.body.to_string();
    for internal in ["site_host", "region_pinned", "event_id"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
    let typed: ContextView = serde_json::from_value(response.body).unwrap();
    assert_eq!(typed, ContextView::from(&active_tenant()));
}

#[tokio::test]
async fn by_host_returns_the_same_view_case_insensitively() {
    let app = spawn_app().await;
    app.contexts.put(&active_tenant()).await.unwrap();
    app.contexts.put(&failed_tenant()).await.unwrap();

    for host in ["acme.tenantry.test", "ACME.Tenantry.Test"] {
        let response = app.get(&format!("/v1/sites/{host}/context")).await;
        assert_eq!(response.status, StatusCode::OK, "{host}");
        assert_eq!(response.header("cache-control"), Some("no-cache"));
        assert_eq!(response.body, active_view(), "{host}");
    }
}

#[tokio::test]
async fn a_failed_tenant_has_no_host_or_region_and_names_the_failure() {
    let app = spawn_app().await;
    app.contexts.put(&failed_tenant()).await.unwrap();

    let response = app.get("/v1/tenants/beta/context").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({
            "tenant_id": "beta",
            "status": "failed",
            "site": {"name": "beta", "host": null},
            "region": null,
            "products": {},
            "groups": [],
            "last_failure": "step 2 create_site: host taken",
            "rejections": [],
            "parked": {
                "kind": "saga_failed",
                "reason": "provision_tenant saga failed: step 2 create_site: host taken",
                "waiting": 0
            },
            "pending_saga": null,
            "version": {"commerce_sequence": 1, "provisioning_sequence": 2}
        })
    );
}
