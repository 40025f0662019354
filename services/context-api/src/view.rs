//! The JSON edges read: a projection of [`TenantContext`] with a shape of
//! its own, so the contract's record can evolve without changing the wire
//! shape edges parse.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::openapi::schemas;
use std::collections::BTreeMap;
use tenantry_sagas::{ProductContext, ProductState, Rejection, TenantContext, TenantStatus};
use tenantry_schemas::{AppKey, Edition, ProductKey, Region, TenantId};

/// The tenant context as edges see it: the body of a `200` from
/// `GET /v1/tenants/{tenant_id}/context` and `GET /v1/sites/{host}/context`.
/// It says exactly what the provisioner decided: the newest tenant state it
/// published, nothing folded from commerce events.
///
/// Shape (every key is always present; `null` where shown):
///
/// ```json
/// {
///   "tenant_id": "acme-corp",
///   "status": "active",
///   "site": { "name": "acme", "host": "acme.tenantry.test" },
///   "region": { "code": "eu", "pinned": true, "moving_to": null },
///   "products": {
///     "jira": {
///       "state": "active",
///       "licence": { "seats": 25, "edition": "standard" },
///       "shard": "eu-1",
///       "database": "p_acme_corp_jira",
///       "installed_apps": ["jira-slack"],
///       "failure": null
///     }
///   },
///   "groups": ["jira-users", "site-admins"],
///   "last_failure": null,
///   "rejections": [],
///   "parked": null,
///   "pending_saga": null,
///   "version": { "commerce_sequence": 2, "provisioning_sequence": 3 }
/// }
/// ```
///
/// - `status`: `pending` | `provisioning` | `active` | `failed` | `destroyed`
///   ([`TenantStatus`]).
/// - `site`: `null` until a `tenant_created` is accepted; `host` is `null`
///   until step 2 created it.
/// - `region`: `null` until the tenant is placed; `code` is one of the 11
///   data-residency regions (`us`, `eu`, `uk`, `au`, `ca`, `de`, `in`, `jp`,
///   `sg`, `kr`, `ch`); `pinned` is `true` when it is the tenant's
///   data-residency pin rather than the region nearest its users;
///   `moving_to` is the region of a newer residency pin while the move saga
///   has not switched the tenant yet (its data still lives in `code`).
/// - `products`: by product key, sorted. `state`: `provisioning` | `active` |
///   `suspended` | `deactivated` | `failed` ([`ProductState`]); `licence` is
///   the accepted one, `edition` one of `free`, `standard`, `premium`,
///   `enterprise`, `unknown`; `shard` and `database` are `null` until step 6
///   provisions the product database; `failure` is why the product's latest
///   saga failed, while that failure stands.
/// - `groups`: identity groups (step 5), sorted.
/// - `last_failure`: why the tenant's latest saga failed, while the tenant
///   is parked on it; else `null`.
/// - `rejections`: commerce events the provisioner refused (`sequence`,
///   `kind`, `reason`), the latest 20, oldest first.
/// - `parked`: `null`, or `{ "kind", "reason", "waiting" }` while the tenant
///   is parked (`saga_failed`, `sequence_gap`): its later commerce events
///   wait, `waiting` counts them, and none of them is reflected here.
/// - `pending_saga`: the saga kind bringing the tenant to the state its
///   released events ask for (`provision_product`), while one is needed.
/// - `version`: `provisioning_sequence` identifies the version: the same
///   in every store and every instance, and the `ETag` (`"3"`);
///   `commerce_sequence` is the last commerce sequence the
///   provisioner released (applied or rejected) — events after it are not
///   reflected; `provisioning_sequence` is the tenant-state record shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(
    description = "The tenant context as edges see it: where the tenant lives, what it may use and how to reach its data. Every key is always present."
)]
pub struct ContextView {
    /// Tenant id.
    #[schema(value_type = schemas::TenantId)]
    pub tenant_id: TenantId,
    /// Lifecycle status of the tenant.
    #[schema(value_type = schemas::TenantStatus)]
    pub status: TenantStatus,
    /// The site, once known.
    #[schema(required = true)]
    pub site: Option<SiteView>,
    /// The region the tenant lives in, once placed.
    #[schema(required = true)]
    pub region: Option<RegionView>,
    /// Products by product key.
    #[schema(value_type = BTreeMap<schemas::ProductKey, ProductView>)]
    pub products: BTreeMap<ProductKey, ProductView>,
    /// Identity groups, sorted.
    pub groups: Vec<String>,
    /// Why the latest saga failed, while the tenant is parked on it.
    #[schema(required = true)]
    pub last_failure: Option<String>,
    /// Commerce events refused by the provisioner (sequence, kind, reason), oldest first.
    #[schema(value_type = Vec<schemas::Rejection>)]
    pub rejections: Vec<Rejection>,
    /// Why the tenant's later events wait, while they do.
    #[schema(required = true)]
    pub parked: Option<ParkedView>,
    /// Saga kind under way, while one is needed.
    #[schema(required = true)]
    pub pending_saga: Option<String>,
    /// What the context reflects.
    pub version: VersionView,
}

/// `site`: the container of a tenant's products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    /// Site name (the first DNS label of the host).
    #[schema(required = true)]
    pub name: Option<String>,
    /// Site host `<site>.<domain>`, once step 2 created it.
    #[schema(required = true)]
    pub host: Option<String>,
}

/// `region`: where the tenant's products live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegionView {
    /// Lower-case region code (`eu`).
    #[schema(value_type = schemas::Region)]
    pub code: Region,
    /// Whether the region is the tenant's data-residency pin.
    pub pinned: bool,
    /// Region of a newer residency pin the tenant is being moved to.
    #[schema(value_type = Option<schemas::Region>, required = true)]
    pub moving_to: Option<Region>,
}

/// One entry of `products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    /// State of the product.
    #[schema(value_type = schemas::ProductState)]
    pub state: ProductState,
    /// Licence, once accepted.
    #[schema(required = true)]
    pub licence: Option<LicenceView>,
    /// Shard (RDS instance) holding the product database.
    #[schema(required = true)]
    pub shard: Option<String>,
    /// Product database name on the shard.
    #[schema(required = true)]
    pub database: Option<String>,
    /// Installed apps (step 7).
    #[schema(value_type = Vec<schemas::AppKey>)]
    pub installed_apps: Vec<AppKey>,
    /// Why the product's latest saga failed, while that failure stands.
    #[schema(required = true)]
    pub failure: Option<String>,
}

/// `licence` of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LicenceView {
    /// Licensed seats.
    pub seats: i32,
    /// Edition.
    #[schema(value_type = schemas::Edition)]
    pub edition: Edition,
}

/// `parked`: why the tenant's later events wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParkedView {
    /// `saga_failed` or `sequence_gap`.
    pub kind: String,
    /// Operator-facing reason.
    pub reason: String,
    /// Commerce events waiting behind it.
    pub waiting: i64,
}

/// `version`: what the context reflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    /// Last commerce sequence released by the provisioner.
    pub commerce_sequence: i64,
    /// Provisioning sequence of the tenant-state record shown.
    pub provisioning_sequence: i64,
}

impl From<&TenantContext> for ContextView {
    fn from(context: &TenantContext) -> Self {
        let state = &context.state;
        let site = (state.site.is_some() || state.site_host.is_some()).then(|| SiteView {
            name: state.site.clone(),
            host: state.site_host.clone(),
        });
        Self {
            tenant_id: context.tenant_id.clone(),
            status: state.status,
            site,
            region: state.region.map(|code| RegionView {
                code,
                pinned: state.region_pinned,
                moving_to: state.moving_to,
            }),
            products: state
                .products
                .iter()
                .map(|(key, product)| (key.clone(), ProductView::from(product)))
                .collect(),
            groups: state.groups.clone(),
            last_failure: state.last_failure.clone(),
            rejections: state.rejections.clone(),
            parked: state.parked.as_ref().map(|p| ParkedView {
                kind: p.kind.clone(),
                reason: p.reason.clone(),
                waiting: p.waiting,
            }),
            pending_saga: state.pending_saga.clone(),
            version: VersionView {
                commerce_sequence: state.commerce_sequence,
                provisioning_sequence: context.version.provisioning_sequence,
            },
        }
    }
}

impl From<&ProductContext> for ProductView {
    fn from(product: &ProductContext) -> Self {
        Self {
            state: product.state,
            licence: product.licence.map(|l| LicenceView {
                seats: l.seats,
                edition: l.edition,
            }),
            shard: product.shard.clone(),
            database: product.database.clone(),
            installed_apps: product.installed_apps.clone(),
            failure: product.failure.clone(),
        }
    }
}
