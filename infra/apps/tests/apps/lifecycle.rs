//! `AppClient` against the recorder: round trip, egress, failure classes.

use crate::helpers::{call, client, config, recorder, registration};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tenantry_apps::{AppError, AppsConfig, LifecycleEvent, TOKEN_TTL_SECS};
use tenantry_schemas::AppKey;
use tokio::net::TcpListener;

#[tokio::test]
async fn installed_and_uninstalled_arrive_signed_and_verified() {
    let rec = recorder(&["jira-slack"]).await;
    let apps = client(config(&rec, &["jira-slack"]));
    let install = call("jira-slack", "saga-1:install_apps");
    let uninstall = call("jira-slack", "saga-2:uninstall_apps");

    apps.installed(&install).await.unwrap();
    // At least once: a repeat carries the same key, so the app can dedupe.
    apps.installed(&install).await.unwrap();
    apps.uninstalled(&uninstall).await.unwrap();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let calls = rec.calls();
    let events: Vec<_> = calls
        .iter()
        .map(|c| (c.event, c.idempotency_key.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            (LifecycleEvent::Installed, "saga-1:install_apps"),
            (LifecycleEvent::Installed, "saga-1:install_apps"),
            (LifecycleEvent::Uninstalled, "saga-2:uninstall_apps"),
        ]
    );
    for recorded in &calls {
        assert_eq!(recorded.app.as_str(), "jira-slack");
        assert_eq!(recorded.tenant_id.as_str(), "t1");
        assert_eq!(recorded.product.as_str(), "jira");
        assert_eq!(recorded.site_host, "acme.tenantry.test");
        let claims = &recorded.claims;
        assert_eq!(claims.iss, "tenantry");
        assert_eq!(claims.aud, "jira-slack");
        assert_eq!(claims.sub, "t1");
        assert_eq!(claims.jti, recorded.idempotency_key);
        assert_eq!(claims.exp - claims.iat, TOKEN_TTL_SECS);
        assert!(
            claims.iat.abs_diff(now) <= 5,
            "iat {} vs now {now}",
            claims.iat
        );
    }
}

#[tokio::test]
async fn a_host_outside_the_allow_list_fails_without_a_request() {
    let rec = recorder(&["jira-slack"]).await;
    for allow in [
        vec![],
        vec!["127.0.0.1:1".to_owned()],
        vec!["localhost".to_owned()],
    ] {
        let apps = client(AppsConfig {
            egress_allow: allow.clone(),
            ..config(&rec, &["jira-slack"])
        });
        let err = apps.installed(&call("jira-slack", "k1")).await.unwrap_err();
        assert_eq!(
            err,
            AppError::EgressDenied {
                app: AppKey::parse("jira-slack").unwrap(),
                host: rec.addr().to_string(),
            },
            "allow-list {allow:?}"
        );
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("no request was made"), "{err}");
    }
    assert_eq!(rec.requests(), 0, "the recorder must receive nothing");
}

#[tokio::test]
async fn refusals_are_classified_by_status() {
    let rec = recorder(&["jira-slack"]).await;
    let apps = client(config(&rec, &["jira-slack"]));
    let cases = [
        (500, true),
        (503, true),
        (400, false),
        (403, false),
        (302, false),
        (408, true),
        (429, true),
    ];
    for (status, retryable) in cases {
        rec.fail_with("jira-slack", status);
        let err = apps.installed(&call("jira-slack", "k1")).await.unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "HTTP {status}: {err}");
        match (&err, status) {
            (AppError::Unavailable { reason, .. }, 500..) => {
                assert!(reason.contains("scripted failure"), "{reason}");
            }
            (
                AppError::Rejected {
                    status: got, body, ..
                },
                ..500,
            ) => {
                assert_eq!(*got, status);
                assert!(body.contains("scripted failure"), "{body}");
            }
            _ => panic!("HTTP {status} classified as {err:?}"),
        }
    }
    assert!(rec.calls().is_empty());
    rec.succeed("jira-slack");
    apps.installed(&call("jira-slack", "k1")).await.unwrap();
    assert_eq!(rec.calls().len(), 1);
}

#[tokio::test]
async fn an_unregistered_app_is_permanent() {
    let rec = recorder(&["jira-slack"]).await;
    let apps = client(config(&rec, &["jira-slack"]));
    let err = apps.installed(&call("other-app", "k1")).await.unwrap_err();
    assert_eq!(
        err,
        AppError::NotRegistered(AppKey::parse("other-app").unwrap())
    );
    assert!(!err.is_retryable());
    assert_eq!(rec.requests(), 0);
}

#[tokio::test]
async fn refused_connections_and_timeouts_are_retryable() {
    // Refused: a port that was bound and released.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    // Silent: accepts the connection (kernel backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    for addr in [closed_addr, silent_addr] {
        let apps = client(AppsConfig {
            apps: vec![registration(
                "jira-slack",
                &format!("http://{addr}/apps/jira-slack"),
            )],
            egress_allow: vec![addr.to_string()],
            timeout: Duration::from_millis(300),
            ..AppsConfig::empty()
        });
        let err = apps.installed(&call("jira-slack", "k1")).await.unwrap_err();
        assert!(
            matches!(err, AppError::Unavailable { .. }),
            "{addr}: {err:?}"
        );
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn an_empty_idempotency_key_is_refused_before_sending() {
    let rec = recorder(&["jira-slack"]).await;
    let apps = client(config(&rec, &["jira-slack"]));
    let err = apps.installed(&call("jira-slack", "")).await.unwrap_err();
    assert!(matches!(err, AppError::Internal { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(rec.requests(), 0);
}
