//! The JSON edges read: a projection of [`TenantContext`] without the fold's
//! raw bookkeeping fields, so the fold can change its internals without
//! changing the wire shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tenantry_sagas::context::{ContextVersion, ProductContext};
use tenantry_sagas::{ProductState, Rejection, TenantContext, TenantStatus};
use tenantry_schemas::{AppKey, Edition, ProductKey, Region, TenantId};

/// The tenant context as edges see it: the body of a `200` from
/// `GET /v1/tenants/{tenant_id}/context` and `GET /v1/sites/{host}/context`.
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
///       "installed_apps": ["jira-slack"]
///     }
///   },
///   "groups": ["jira-users", "site-admins"],
///   "last_failure": null,
///   "version": { "commerce_sequence": 2, "provisioning_sequence": 2, "events_applied": 4 }
/// }
/// ```
///
/// - `status`: `pending` | `provisioning` | `active` | `failed` | `destroyed`
///   ([`TenantStatus`]).
/// - `site`: `null` until commerce names the site or a saga creates its host;
///   either member may be `null` while the other is known.
/// - `region`: `null` until the tenant is placed; `code` is one of the 11
///   data-residency regions (`us`, `eu`, `uk`, `au`, `ca`, `de`, `in`, `jp`,
///   `sg`, `kr`, `ch`); `pinned` is `true` when it is the tenant's
///   data-residency pin rather than the region nearest its users;
///   `moving_to` is the region of a newer residency pin while the move saga
///   has not switched the tenant yet (its data still lives in `code`).
/// - `products`: by product key, sorted. `state`: `provisioning` | `active` |
///   `suspended` | `deactivated` | `failed` ([`ProductState`]); `licence` is
///   `null` until commerce licenses the product, `edition` one of `free`,
///   `standard`, `premium`, `enterprise`, `unknown`; `shard` and `database` are
///   `null` until step 6 provisions the product database.
/// - `groups`: identity groups (step 5), sorted.
/// - `last_failure`: reason of the latest saga when it failed, else `null`.
/// - `version`: how far each stream has been applied; sequences are the
///   per-tenant sequence numbers of the commerce and provisioning streams,
///   `events_applied` counts events from both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextView {
    /// Tenant id.
    pub tenant_id: TenantId,
    /// Lifecycle status of the tenant.
    pub status: TenantStatus,
    /// The site, once known.
    pub site: Option<SiteView>,
    /// The region the tenant lives in, once placed.
    pub region: Option<RegionView>,
    /// Products by product key.
    pub products: BTreeMap<ProductKey, ProductView>,
    /// Identity groups, sorted.
    pub groups: Vec<String>,
    /// Reason of the latest saga failure, when the latest saga failed.
    pub last_failure: Option<String>,
    /// Commerce events refused by a guard (sequence, kind, reason), newest last.
    pub rejections: Vec<Rejection>,
    /// Stream positions.
    pub version: VersionView,
}

/// `site`: the container of a tenant's products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteView {
    /// Site name from commerce (the first DNS label of the host).
    pub name: Option<String>,
    /// Site host `<site>.<domain>`, once step 2 created it.
    pub host: Option<String>,
}

/// `region`: where the tenant's products live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionView {
    /// Lower-case region code (`eu`).
    pub code: Region,
    /// Whether the region is the tenant's data-residency pin.
    pub pinned: bool,
    /// Region of a newer residency pin the tenant is being moved to.
    pub moving_to: Option<Region>,
}

/// One entry of `products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    /// State of the product.
    pub state: ProductState,
    /// Licence, once commerce licensed the product.
    pub licence: Option<LicenceView>,
    /// Shard (RDS instance) holding the product database.
    pub shard: Option<String>,
    /// Product database name on the shard.
    pub database: Option<String>,
    /// Installed apps (step 7).
    pub installed_apps: Vec<AppKey>,
}

/// `licence` of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceView {
    /// Licensed seats.
    pub seats: i32,
    /// Edition.
    pub edition: Edition,
}

/// `version`: how far each stream has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// Last commerce sequence applied.
    pub commerce_sequence: i64,
    /// Last provisioning sequence applied.
    pub provisioning_sequence: i64,
    /// Number of events applied from both streams.
    pub events_applied: i64,
}

impl From<&TenantContext> for ContextView {
    fn from(context: &TenantContext) -> Self {
        let site = (context.site.is_some() || context.site_host.is_some()).then(|| SiteView {
            name: context.site.clone(),
            host: context.site_host.clone(),
        });
        Self {
            tenant_id: context.tenant_id.clone(),
            status: context.status,
            site,
            region: context.region.map(|code| RegionView {
                code,
                pinned: context.region_pinned,
                moving_to: context
                    .desired
                    .tenant
                    .as_ref()
                    .and_then(|t| t.residency_pin)
                    .filter(|pin| *pin != code && context.status != TenantStatus::Destroyed),
            }),
            products: context
                .products
                .iter()
                .map(|(key, product)| (key.clone(), ProductView::from(product)))
                .collect(),
            groups: context.groups.iter().cloned().collect(),
            last_failure: context.last_failure.clone(),
            rejections: context.rejections.clone(),
            version: VersionView::from(context.version),
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
        }
    }
}

impl From<ContextVersion> for VersionView {
    fn from(version: ContextVersion) -> Self {
        Self {
            commerce_sequence: version.commerce_sequence,
            provisioning_sequence: version.provisioning_sequence,
            events_applied: version.events_applied,
        }
    }
}
