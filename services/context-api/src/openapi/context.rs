//! What both context routes share in the document: the read-your-writes
//! query and `If-None-Match` ([`ContextParams`]), and every response with
//! its headers ([`ContextResponses`]). Written by hand from the handlers'
//! constants, so the bounds cannot drift from the code.

use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};
use utoipa::{IntoParams, IntoResponses};

use crate::routes::{COMMERCE_SEQUENCE_HEADER, DEFAULT_WAIT_MS, MAX_WAIT_MS};

/// `min_sequence`, `wait_ms` (query) and `If-None-Match` (header).
pub struct ContextParams;

fn int64() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

impl IntoParams for ContextParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("min_sequence")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "Read your writes: wait until the context reflects at least this commerce \
                     sequence (`version.commerce_sequence`), e.g. that of the event the caller \
                     just published, or until `wait_ms` passed; then answer what there is \
                     (`Tenantry-Commerce-Sequence` says which). A tenant not yet known is \
                     waited for too.",
                ))
                .schema(Some(int64().minimum(Some(0))))
                .build(),
            ParameterBuilder::new()
                .name("wait_ms")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "The longest wait for `min_sequence`, in milliseconds; no effect without it.",
                ))
                .schema(Some(
                    int64()
                        .minimum(Some(0))
                        .maximum(Some(MAX_WAIT_MS))
                        .default(Some(DEFAULT_WAIT_MS.into())),
                ))
                .build(),
            ParameterBuilder::new()
                .name("If-None-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Entity tags from earlier answers (RFC 9110 §13.1.2, weak comparison), or `*`: \
                     `304` without a body when one names the current version.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ]
    }
}

/// `200` ([`crate::ContextView`]), `304`, and the errors of
/// [`crate::ApiError`] a context route can give.
pub struct ContextResponses;

impl IntoResponses for ContextResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let found = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .header(
                    "ETag",
                    HeaderBuilder::new()
                        .schema(Ref::from_schema_name("ETag"))
                        .description(Some("The context's version, quoted."))
                        .build(),
                )
                .header(
                    COMMERCE_SEQUENCE_HEADER,
                    HeaderBuilder::new()
                        .schema(int64())
                        .description(Some(
                            "The commerce sequence the context reflects \
                             (`version.commerce_sequence`).",
                        ))
                        .build(),
                )
        };
        let json = |schema: &str| {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build()
        };
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content("application/json", json("ErrorBody"))
                .build()
                .into()
        };
        BTreeMap::from([
            (
                "200".into(),
                found("The context.")
                    .content("application/json", json("ContextView"))
                    .build()
                    .into(),
            ),
            (
                "304".into(),
                found("`If-None-Match` names the current version: no body.")
                    .build()
                    .into(),
            ),
            (
                "400".into(),
                error(
                    "Invalid path value (`invalid_tenant_id`, `invalid_host`) or query \
                     (`invalid_query`); `field` and `reason` say which and why.",
                ),
            ),
            (
                "401".into(),
                ResponseBuilder::new()
                    .description("No valid bearer token (`unauthorized`); `reason` says why.")
                    .header(
                        "WWW-Authenticate",
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::String))
                            .description(Some("`Bearer` (RFC 6750 §3)."))
                            .build(),
                    )
                    .content("application/json", json("ErrorBody"))
                    .build()
                    .into(),
            ),
            (
                "403".into(),
                error(
                    "The token's issuer may not call this route, or the tenant is outside its \
                     `tenants` claim (`forbidden`); `reason` says which.",
                ),
            ),
            (
                "404".into(),
                error("No such tenant (`tenant_not_found`) or site host (`site_not_found`)."),
            ),
            (
                "410".into(),
                error("The tenant was destroyed (`tenant_destroyed`): stop serving it."),
            ),
            (
                "503".into(),
                error(
                    "The context could not be read (`store_unavailable`, `context_unreadable`, \
                     `context_not_cached`); retry, or ask another instance.",
                ),
            ),
        ])
    }
}
