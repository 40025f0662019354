//! Schemas the view types cannot derive: the domain's ids and enums (their
//! crates stay free of HTTP documentation) and the bodies built with
//! `json!` (errors, health). Each is written from the rule or the serde
//! names of the type it stands for; the tests in [`super`] check them
//! against those types.

use std::borrow::Cow;
use tenantry_sagas::{ProductState as DomainProductState, TenantStatus as DomainTenantStatus};
use tenantry_schemas::{Edition as DomainEdition, Region as DomainRegion};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// `[a-z0-9-]`, not starting or ending with `-`: the rule of the label ids in
/// `tenantry_schemas::ids` (`label_newtype!`).
const LABEL: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

/// A host as `SiteHost::parse` accepts it: RFC 1123 §2.1 labels, upper case
/// allowed (it is lower-cased); at most 253 characters in all.
const HOST: &str = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$";

/// A schema-only type named `$name` in the document.
macro_rules! doc_schema {
    ($(#[$doc:meta])* $type:ident, $schema:expr) => {
        $(#[$doc])*
        pub struct $type;

        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($type))
            }
        }
    };
}

fn label(description: &str, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(LABEL))
        .min_length(Some(1))
        .max_length(Some(max))
}

fn names<T: Copy>(description: &str, all: &[T], name: fn(T) -> &'static str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(all.iter().map(|value| name(*value))))
}

/// Every [`DomainTenantStatus`], in declaration order.
pub(crate) const TENANT_STATUSES: [DomainTenantStatus; 5] = [
    DomainTenantStatus::Pending,
    DomainTenantStatus::Provisioning,
    DomainTenantStatus::Active,
    DomainTenantStatus::Failed,
    DomainTenantStatus::Destroyed,
];

/// Every [`DomainProductState`], in declaration order.
pub(crate) const PRODUCT_STATES: [DomainProductState; 5] = [
    DomainProductState::Provisioning,
    DomainProductState::Active,
    DomainProductState::Suspended,
    DomainProductState::Deactivated,
    DomainProductState::Failed,
];

/// Every [`DomainEdition`], in declaration order.
pub(crate) const EDITIONS: [DomainEdition; 5] = [
    DomainEdition::Free,
    DomainEdition::Standard,
    DomainEdition::Premium,
    DomainEdition::Enterprise,
    DomainEdition::Unknown,
];

doc_schema!(
    /// `tenantry_schemas::TenantId`.
    TenantId,
    label("Tenant id from commerce: 1-63 of [a-z0-9-], not starting or ending with '-'.", 63)
        .examples(["acme-corp"])
);

doc_schema!(
    /// [`crate::SiteHost`], as the path of `GET /v1/sites/{host}/context`.
    SiteHost,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Site host: dot-separated labels of 1-63 characters [a-z0-9-], not starting or \
             ending with '-', at most 253 characters (RFC 1123 section 2.1); upper case is \
             read as lower case.",
        ))
        .pattern(Some(HOST))
        .min_length(Some(1))
        .max_length(Some(crate::host::MAX_HOST_LEN))
        .examples(["acme.tenantry.test"])
);

doc_schema!(
    /// `tenantry_schemas::ProductKey`.
    ProductKey,
    label("Product key (`jira`): 1-32 of [a-z0-9-], not starting or ending with '-'.", 32)
);

doc_schema!(
    /// `tenantry_schemas::AppKey`.
    AppKey,
    label("App key (`jira-slack`): 1-64 of [a-z0-9-], not starting or ending with '-'.", 64)
);

doc_schema!(
    /// `tenantry_sagas::TenantStatus`.
    TenantStatus,
    names("Lifecycle status of the tenant.", &TENANT_STATUSES, DomainTenantStatus::as_str)
);

doc_schema!(
    /// `tenantry_sagas::ProductState`.
    ProductState,
    names("State of one product.", &PRODUCT_STATES, DomainProductState::as_str)
);

doc_schema!(
    /// `tenantry_schemas::Region`.
    Region,
    names(
        "One of the 11 data-residency regions, lower case.",
        &DomainRegion::ALL,
        DomainRegion::as_str
    )
);

doc_schema!(
    /// `tenantry_schemas::Edition`.
    Edition,
    names(
        "Licence edition; `unknown` is a symbol added by a newer writer, granting nothing beyond free.",
        &EDITIONS,
        DomainEdition::as_str
    )
);

doc_schema!(
    /// The `ETag` of a context: its version in quotes (RFC 9110 §8.8.3).
    ETag,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "The context's version (`version.provisioning_sequence`) in quotes, e.g. \"3\"; \
             a strong validator.",
        ))
        .pattern(Some("^\"[0-9]+\"$"))
);

/// A commerce event the provisioner refused (`tenantry_sagas::Rejection`).
#[derive(ToSchema)]
#[allow(dead_code)] // Read by the schema derive only.
pub struct Rejection {
    /// Commerce sequence of the event.
    sequence: i64,
    /// Event kind (`licence_updated`).
    kind: String,
    /// Why, for operators and edges.
    reason: String,
}

/// Every `error.code` of [`crate::ApiError::code`].
pub(crate) const ERROR_CODES: [&str; 13] = [
    "invalid_tenant_id",
    "invalid_host",
    "invalid_query",
    "unauthorized",
    "forbidden",
    "tenant_not_found",
    "tenant_destroyed",
    "site_not_found",
    "not_found",
    "method_not_allowed",
    "store_unavailable",
    "context_unreadable",
    "context_not_cached",
];

doc_schema!(
    /// `error.code`.
    ErrorCode,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Machine-readable error code."))
        .enum_values(Some(ERROR_CODES))
);

/// The body of every error: `{"error":{"code":…}}` ([`crate::ApiError`]).
#[derive(ToSchema)]
#[allow(dead_code)] // Read by the schema derive only.
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[allow(dead_code)] // Read by the schema derive only.
pub struct ErrorDetail {
    #[schema(value_type = ErrorCode)]
    code: String,
    /// The offending field (`tenant_id`, `host`, `wait_ms`), with `400`s.
    #[schema(value_type = String, required = false)]
    field: Option<String>,
    /// With `400`s, why the field is invalid; with `401` and `403`, the
    /// `tenantry_api_auth_failures_total` reason (`missing_token`, …).
    #[schema(value_type = String, required = false)]
    reason: Option<String>,
    /// For people.
    #[schema(value_type = String, required = false)]
    message: Option<String>,
}

/// `GET /healthz`: `{"status":"ok"}`.
#[derive(ToSchema)]
#[allow(dead_code)] // Read by the schema derive only.
pub struct Health {
    #[schema(inline)]
    status: HealthStatus,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Read by the schema derive only.
enum HealthStatus {
    Ok,
}

/// `GET /readyz`: `{"status":"ready"}`, or `{"status":"unavailable","reason":…}`
/// with `503`.
#[derive(ToSchema)]
#[allow(dead_code)] // Read by the schema derive only.
pub struct Readiness {
    #[schema(inline)]
    status: ReadinessStatus,
    /// Why the store is not ready (`503` only).
    #[schema(value_type = String, required = false)]
    reason: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Read by the schema derive only.
enum ReadinessStatus {
    Ready,
    Unavailable,
}
