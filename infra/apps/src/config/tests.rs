use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn with_app(app: &str) -> String {
    format!(r#"{{"egress_allow": ["127.0.0.1:9999"], "apps": [{app}]}}"#)
}

fn field_of(text: &str) -> String {
    match AppsConfig::from_json(text).unwrap_err() {
        ConfigError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn parses_the_documented_shape_with_defaults() {
    let text = with_app(&format!(
        r#"{{"key": "jira-slack", "base_url": "http://127.0.0.1:9999/apps/jira-slack", "shared_secret": "{SECRET}"}}"#
    ));
    let config = AppsConfig::from_json(&text).unwrap();
    assert_eq!(config.issuer, "tenantry");
    assert_eq!(config.timeout, DEFAULT_TIMEOUT);
    assert_eq!(config.egress_allow, ["127.0.0.1:9999"]);
    assert_eq!(config.apps[0].key.as_str(), "jira-slack");
    assert!(
        !format!("{config:?}").contains(SECRET),
        "secret leaked into Debug"
    );
    assert_eq!(AppsConfig::from_json("{}").unwrap(), AppsConfig::empty());
}

#[test]
fn errors_name_the_field() {
    let app = |key: &str, url: &str, secret: &str| {
        with_app(&format!(
            r#"{{"key": "{key}", "base_url": "{url}", "shared_secret": "{secret}"}}"#
        ))
    };
    let ok_url = "https://slack.apps.example/t";
    let cases = [
        (app("Bad!", ok_url, SECRET), "apps[0].key"),
        (app("a", "not a url", SECRET), "apps[0].base_url"),
        (
            app("a", "http://slack.apps.example/t", SECRET),
            "apps[0].base_url",
        ),
        (
            app("a", "ftp://slack.apps.example/t", SECRET),
            "apps[0].base_url",
        ),
        (
            app("a", "https://u:p@slack.apps.example/t", SECRET),
            "apps[0].base_url",
        ),
        (
            app("a", "https://slack.apps.example/t?x=1", SECRET),
            "apps[0].base_url",
        ),
        (app("a", ok_url, "short"), "apps[0].shared_secret"),
        (with_app(r#"{"key": "a"}"#), "apps[0].base_url"),
        (
            with_app(r#"{"key": "a", "base_url": 5}"#),
            "apps[0].base_url",
        ),
        (
            with_app(&format!(
                r#"{{"key": "a", "base_url": "{ok_url}", "shared_secret": "{SECRET}", "colour": 1}}"#
            )),
            "apps[0].colour",
        ),
        (
            r#"{"egress_allow": ["ok", "*.example"]}"#.into(),
            "egress_allow[1]",
        ),
        (r#"{"egress_allow": "host"}"#.into(), "egress_allow"),
        (r#"{"issuer": ""}"#.into(), "issuer"),
        (r#"{"timeout_ms": 0}"#.into(), "timeout_ms"),
        (r#"{"timeout_ms": 60000}"#.into(), "timeout_ms"),
        (r#"{"egress": []}"#.into(), "egress"),
    ];
    for (text, field) in cases {
        assert_eq!(field_of(&text), field, "{text}");
    }
    let both = format!(
        r#"{{"apps": [{{"key": "a", "base_url": "{ok_url}", "shared_secret": "{SECRET}"}},
                      {{"key": "a", "base_url": "{ok_url}", "shared_secret": "{SECRET}"}}]}}"#
    );
    let err = AppsConfig::from_json(&both).unwrap_err().to_string();
    assert_eq!(err, r#"apps[1].key: "a" is already registered by apps[0]"#);
    let err = AppsConfig::from_json(&app("a", ok_url, "short"))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("short"), "secret echoed: {err}");
    assert!(matches!(
        AppsConfig::from_json("{").unwrap_err(),
        ConfigError::Syntax(_)
    ));
}
