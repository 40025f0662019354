//! The document parses, lists every route and component, and describes
//! what the API really sends: view JSON validates against its schema, and
//! the hand-written schemas name exactly the domain's serde values.

use super::schemas::{EDITIONS, ERROR_CODES, PRODUCT_STATES, TENANT_STATUSES};
use super::*;
use crate::ApiError;
use crate::auth::{AuthFailure, Reason};
use crate::host::SiteHost;
use crate::view::{
    ContextView, LicenceView, ParkedView, ProductView, RegionView, SiteView, VersionView,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tenantry_sagas::{ContextsError, ProductState, Rejection, TenantStatus};
use tenantry_schemas::{AppKey, Edition, ProductKey, Region, TenantId, ValidationError};

fn document() -> Value {
    serde_json::from_str(&DOCUMENT).expect("the document is JSON")
}

#[test]
fn the_document_lists_every_route_and_component() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/readyz",
            "/v1/sites/{host}/context",
            "/v1/tenants/{tenant_id}/context",
        ]
    );
    for path in [
        "/v1/sites/{host}/context",
        "/v1/tenants/{tenant_id}/context",
    ] {
        let operation = &document["paths"][path]["get"];
        assert_eq!(operation["security"], json!([{BEARER: []}]), "{path}");
        let statuses: Vec<&str> = operation["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            statuses,
            ["200", "304", "400", "401", "403", "404", "410", "503"],
            "{path}"
        );
        let parameters: Vec<&str> = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            parameters[1..],
            ["min_sequence", "wait_ms", "If-None-Match"]
        );
    }
    let components = &document["components"];
    for name in [
        "ContextView",
        "SiteView",
        "RegionView",
        "ProductView",
        "LicenceView",
        "ParkedView",
        "VersionView",
        "TenantId",
        "SiteHost",
        "TenantStatus",
        "ProductState",
        "AppKey",
        "Region",
        "Edition",
        "Rejection",
        "ETag",
        "ErrorBody",
        "ErrorDetail",
        "ErrorCode",
        "Health",
        "Readiness",
    ] {
        assert!(components["schemas"][name].is_object(), "no schema {name}");
    }
    assert_eq!(components["securitySchemes"][BEARER]["scheme"], "bearer");
    assert_eq!(components["securitySchemes"][BEARER]["bearerFormat"], "JWT");
}

fn full_view() -> ContextView {
    let product = ProductView {
        state: ProductState::Active,
        licence: Some(LicenceView {
            seats: 25,
            edition: Edition::Standard,
        }),
        shard: Some("eu-1".into()),
        database: Some("p_acme_corp_jira".into()),
        installed_apps: vec![AppKey::parse("jira-slack").unwrap()],
        failure: Some("step 6: no shard".into()),
    };
    ContextView {
        tenant_id: TenantId::parse("acme-corp").unwrap(),
        status: TenantStatus::Failed,
        site: Some(SiteView {
            name: Some("acme".into()),
            host: Some("acme.tenantry.test".into()),
        }),
        region: Some(RegionView {
            code: Region::Eu,
            pinned: true,
            moving_to: Some(Region::Ch),
        }),
        products: BTreeMap::from([(ProductKey::parse("jira").unwrap(), product)]),
        groups: vec!["jira-users".into()],
        last_failure: Some("step 2 create_site: host taken".into()),
        rejections: vec![Rejection {
            sequence: 3,
            kind: "licence_updated".into(),
            reason: "no such product".into(),
        }],
        parked: Some(ParkedView {
            kind: "saga_failed".into(),
            reason: "provision_tenant saga failed".into(),
            waiting: 2,
        }),
        pending_saga: Some("provision_product".into()),
        version: VersionView {
            commerce_sequence: 2,
            provisioning_sequence: 3,
        },
    }
}

fn empty_view() -> ContextView {
    ContextView {
        site: None,
        region: None,
        products: BTreeMap::new(),
        last_failure: None,
        rejections: Vec::new(),
        parked: None,
        pending_saga: None,
        ..full_view()
    }
}

#[test]
fn context_views_validate_against_the_context_view_schema() {
    let document = document();
    let schema = &document["components"]["schemas"]["ContextView"];
    for view in [full_view(), empty_view()] {
        let value = serde_json::to_value(&view).unwrap();
        if let Err(error) = validate(&document, schema, &value, "$") {
            panic!("{error}\n{value:#}");
        }
    }
    // The validator is not vacuous.
    let mut wrong = serde_json::to_value(full_view()).unwrap();
    wrong["region"]["code"] = json!("mars");
    assert!(validate(&document, schema, &wrong, "$").is_err());
    wrong = serde_json::to_value(full_view()).unwrap();
    wrong.as_object_mut().unwrap().remove("parked");
    assert!(validate(&document, schema, &wrong, "$").is_err());
}

#[test]
fn error_bodies_validate_against_the_error_schema() {
    let document = document();
    let schema = &document["components"]["schemas"]["ErrorBody"];
    let invalid = || ValidationError::new("tenant_id", "must be …");
    let tenant = || TenantId::parse("acme-corp").unwrap();
    let errors = [
        ApiError::InvalidTenantId(invalid()),
        ApiError::InvalidHost(invalid()),
        ApiError::InvalidQuery(invalid()),
        ApiError::TenantNotFound(tenant()),
        ApiError::TenantDestroyed(tenant()),
        ApiError::SiteNotFound(SiteHost::parse("acme.tenantry.test").unwrap()),
        ApiError::Auth(AuthFailure::new(Reason::MissingToken, "no token")),
        ApiError::Auth(AuthFailure::new(Reason::TenantNotInScope, "not yours")),
        ApiError::RouteNotFound("/nowhere".into()),
        ApiError::MethodNotAllowed("POST".into()),
        ApiError::Store(ContextsError::Unavailable("down".into())),
        ApiError::Store(ContextsError::Corrupt("garbled".into())),
        ApiError::NotCached("still reading the changelog"),
    ];
    let mut codes: Vec<&str> = Vec::new();
    for error in errors {
        // A new variant does not compile here until it is listed above and
        // its code is in `ERROR_CODES`.
        match &error {
            ApiError::InvalidTenantId(_)
            | ApiError::InvalidHost(_)
            | ApiError::InvalidQuery(_)
            | ApiError::TenantNotFound(_)
            | ApiError::TenantDestroyed(_)
            | ApiError::SiteNotFound(_)
            | ApiError::Auth(_)
            | ApiError::RouteNotFound(_)
            | ApiError::MethodNotAllowed(_)
            | ApiError::Store(_)
            | ApiError::NotCached(_) => {}
        }
        codes.push(error.code());
        let response = axum::response::IntoResponse::into_response(error);
        let body = body_json(response);
        if let Err(message) = validate(&document, schema, &body, "$") {
            panic!("{message}\n{body:#}");
        }
    }
    codes.sort_unstable();
    let mut documented = ERROR_CODES.to_vec();
    documented.sort_unstable();
    assert_eq!(codes, documented);
}

/// The JSON body of a response built in memory.
fn body_json(response: axum::response::Response) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = runtime
        .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn hand_written_enums_name_exactly_the_serde_values() {
    // Exhaustive: a new variant does not compile here until it is listed in
    // `schemas` too.
    let _ = |status: TenantStatus| match status {
        TenantStatus::Pending
        | TenantStatus::Provisioning
        | TenantStatus::Active
        | TenantStatus::Failed
        | TenantStatus::Destroyed => (),
    };
    let _ = |state: ProductState| match state {
        ProductState::Provisioning
        | ProductState::Active
        | ProductState::Suspended
        | ProductState::Deactivated
        | ProductState::Failed => (),
    };
    let _ = |edition: Edition| match edition {
        Edition::Free
        | Edition::Standard
        | Edition::Premium
        | Edition::Enterprise
        | Edition::Unknown => (),
    };
    let document = document();
    let schemas = &document["components"]["schemas"];
    assert_enum(&schemas["TenantStatus"], &TENANT_STATUSES);
    assert_enum(&schemas["ProductState"], &PRODUCT_STATES);
    assert_enum(&schemas["Edition"], &EDITIONS);
    assert_enum(&schemas["Region"], &Region::ALL);
}

fn assert_enum<T: Serialize>(schema: &Value, values: &[T]) {
    let serialized: Vec<Value> = values
        .iter()
        .map(|v| serde_json::to_value(v).unwrap())
        .collect();
    assert_eq!(schema["enum"].as_array().unwrap(), &serialized);
}

/// JSON Schema validation for the keywords this document uses, strict about
/// properties: a key the schema does not list is an error, so the document
/// cannot miss a field the API sends.
fn validate(document: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("{at}: unsupported $ref {reference}"))?;
        return validate(
            document,
            &document["components"]["schemas"][name],
            value,
            at,
        );
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options
            .iter()
            .filter(|option| validate(document, option, value, at).is_ok())
            .count();
        return match matching {
            1 => Ok(()),
            n => Err(format!("{at}: {value} matches {n} of oneOf")),
        };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err(format!("{at}: schema without type: {schema}")),
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.contains(&type_of) {
        return Err(format!("{at}: {value} is not of type {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    match value {
        Value::String(text) => check_string(schema, text, at),
        Value::Number(number) => {
            let fits = match schema["format"].as_str() {
                Some("int32") => number.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                _ => true,
            };
            fits.then_some(())
                .ok_or_else(|| format!("{at}: {number} is out of range"))
        }
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            validate(document, &schema["items"], item, &format!("{at}[{i}]"))
        }),
        Value::Object(object) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap();
                if !object.contains_key(key) {
                    return Err(format!("{at}: required key {key} is missing"));
                }
            }
            for (key, item) in object {
                let at = format!("{at}.{key}");
                if let Some(names) = schema.get("propertyNames") {
                    validate(document, names, &json!(key), &at)?;
                }
                match (
                    schema["properties"].get(key),
                    schema.get("additionalProperties"),
                ) {
                    (Some(property), _) | (None, Some(property)) => {
                        validate(document, property, item, &at)?;
                    }
                    (None, None) => return Err(format!("{at}: not in the schema")),
                }
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

fn check_string(schema: &Value, text: &str, at: &str) -> Result<(), String> {
    let length = text.chars().count() as u64;
    if schema["minLength"].as_u64().is_some_and(|min| length < min)
        || schema["maxLength"].as_u64().is_some_and(|max| length > max)
    {
        return Err(format!("{at}: {text:?} has a length out of bounds"));
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && !regex::Regex::new(pattern).unwrap().is_match(text)
    {
        return Err(format!("{at}: {text:?} does not match {pattern}"));
    }
    Ok(())
}
