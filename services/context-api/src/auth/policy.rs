//! Authorization: which issuer may call which route (the ASAP allow-list
//! of the seed: "an explicit allowlist determines which services may
//! communicate, and … which commands and paths are available"), and which
//! tenants a token may read. Pure: no IO, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use tenantry_schemas::TenantId;

use super::failure::{AuthFailure, Reason};

/// A route of the API that the allow-list can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// `GET /v1/tenants/{tenant_id}/context`.
    TenantContext,
    /// `GET /v1/sites/{host}/context`.
    SiteContext,
    /// `GET /admin/v1/tenants/{tenant_id}/timeline`: the operators'
    /// timeline of a tenant (`tenantry admin`).
    AdminTimeline,
    /// `POST /admin/v1/tenants/{tenant_id}/retry`: `tenantry sagas retry`.
    AdminRetry,
    /// `POST /admin/v1/tenants/{tenant_id}/skip`: `tenantry sagas skip`.
    AdminSkip,
}

impl Route {
    /// The context routes edges call: what `*` names in an allow-list and
    /// what the shared-secret mode allows its issuer without a list.
    pub const ALL: [Route; 2] = [Route::TenantContext, Route::SiteContext];

    /// The operators' routes (`tenantry admin`): named one by one, or all
    /// three with `/admin/*`, never by `*`, so an allow-list written for
    /// edges does not let them retry or skip a tenant's saga.
    pub const ADMIN: [Route; 3] = [Route::AdminTimeline, Route::AdminRetry, Route::AdminSkip];

    /// The path template, as written in the allow-list.
    pub fn template(self) -> &'static str {
        match self {
            Route::TenantContext => "/v1/tenants/{tenant_id}/context",
            Route::SiteContext => "/v1/sites/{host}/context",
            Route::AdminTimeline => "/admin/v1/tenants/{tenant_id}/timeline",
            Route::AdminRetry => "/admin/v1/tenants/{tenant_id}/retry",
            Route::AdminSkip => "/admin/v1/tenants/{tenant_id}/skip",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.template())
    }
}

impl FromStr for Route {
    type Err = String;

    /// The path template; `{id}` is accepted for `{tenant_id}`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "/v1/tenants/{tenant_id}/context" | "/v1/tenants/{id}/context" => {
                Ok(Route::TenantContext)
            }
            "/v1/sites/{host}/context" => Ok(Route::SiteContext),
            "/admin/v1/tenants/{tenant_id}/timeline" | "/admin/v1/tenants/{id}/timeline" => {
                Ok(Route::AdminTimeline)
            }
            "/admin/v1/tenants/{tenant_id}/retry" | "/admin/v1/tenants/{id}/retry" => {
                Ok(Route::AdminRetry)
            }
            "/admin/v1/tenants/{tenant_id}/skip" | "/admin/v1/tenants/{id}/skip" => {
                Ok(Route::AdminSkip)
            }
            other => Err(format!(
                "unknown route {other:?}; routes are {} and {} (or * for both), and the \
                 operators' {}, {} and {} (or /admin/* for the three)",
                Route::TenantContext,
                Route::SiteContext,
                Route::AdminTimeline,
                Route::AdminRetry,
                Route::AdminSkip
            )),
        }
    }
}

/// Issuer → the routes its tokens may call. An issuer it does not name may
/// call nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteAllowList {
    issuers: BTreeMap<String, BTreeSet<Route>>,
}

impl RouteAllowList {
    /// An empty list (every issuer refused).
    pub fn new() -> Self {
        Self::default()
    }

    /// `issuer` may call every route: the shared-secret mode without an
    /// explicit list.
    pub fn everything_for(issuer: &str) -> Self {
        let mut list = Self::new();
        list.allow(issuer, Route::ALL);
        list
    }

    /// Adds `routes` to what `issuer` may call.
    pub fn allow(&mut self, issuer: &str, routes: impl IntoIterator<Item = Route>) {
        self.issuers
            .entry(issuer.to_owned())
            .or_default()
            .extend(routes);
    }

    /// Parses entries `issuer=route[,route…]` (a route is a path template
    /// of [`Route`], `*` for the context routes [`Route::ALL`], or
    /// `/admin/*` for the operators' routes [`Route::ADMIN`]) and merges them.
    ///
    /// # Errors
    /// The entry, and what is wrong with it: no `=`, an empty issuer, no
    /// route, an unknown route.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut list = Self::new();
        for entry in entries {
            let (issuer, routes) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?}: expected issuer=route[,route…]"))?;
            let issuer = issuer.trim();
            if issuer.is_empty() {
                return Err(format!("{entry:?}: the issuer is empty"));
            }
            let mut parsed = Vec::new();
            for route in routes.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                if route == "*" {
                    parsed.extend(Route::ALL);
                } else if route == "/admin/*" {
                    parsed.extend(Route::ADMIN);
                } else {
                    parsed.push(route.parse().map_err(|e| format!("{entry:?}: {e}"))?);
                }
            }
            if parsed.is_empty() {
                return Err(format!("{entry:?}: no route"));
            }
            list.allow(issuer, parsed);
        }
        Ok(list)
    }

    /// True when no issuer is named.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// True when some issuer may call one of `routes`: whether a service
    /// serving only those routes (`tenantry admin`: [`Route::ADMIN`]) can
    /// answer anything but `403`.
    pub fn grants_any(&self, routes: &[Route]) -> bool {
        self.issuers
            .values()
            .any(|granted| routes.iter().any(|route| granted.contains(route)))
    }

    /// `Ok` when `issuer` may call `route`.
    ///
    /// # Errors
    /// [`Reason::IssuerNotAllowed`] or [`Reason::RouteNotAllowed`].
    pub fn check(&self, issuer: &str, route: Route) -> Result<(), AuthFailure> {
        match self.issuers.get(issuer) {
            None => Err(AuthFailure::new(
                Reason::IssuerNotAllowed,
                format!("issuer {issuer:?} is not on the allow-list of this API"),
            )),
            Some(routes) if !routes.contains(&route) => Err(AuthFailure::new(
                Reason::RouteNotAllowed,
                format!("issuer {issuer:?} may not call {route}"),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The tenants a token may read: its `tenants` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// `["*"]`: an edge that serves every tenant.
    All,
    /// These tenant ids only (an empty list reads nothing).
    Only(BTreeSet<String>),
}

impl TenantScope {
    /// From the `tenants` claim: `*` anywhere in it means every tenant.
    pub fn from_claim(tenants: Vec<String>) -> Self {
        if tenants.iter().any(|t| t == "*") {
            TenantScope::All
        } else {
            TenantScope::Only(tenants.into_iter().collect())
        }
    }

    /// `Ok` when `tenant` is in scope.
    ///
    /// # Errors
    /// [`Reason::TenantNotInScope`], naming the tenant ("may not read").
    pub fn require(&self, tenant: &TenantId) -> Result<(), AuthFailure> {
        self.require_to("read", tenant)
    }

    /// [`TenantScope::require`] for a route that does something other than
    /// read: the refusal says the token may not `verb` the tenant (`"act
    /// on"` for the admin's retry and skip).
    ///
    /// # Errors
    /// [`Reason::TenantNotInScope`], naming the tenant.
    pub fn require_to(&self, verb: &str, tenant: &TenantId) -> Result<(), AuthFailure> {
        match self {
            TenantScope::All => Ok(()),
            TenantScope::Only(tenants) if tenants.contains(tenant.as_str()) => Ok(()),
            TenantScope::Only(_) => Err(AuthFailure::new(
                Reason::TenantNotInScope,
                format!("the token may not {verb} tenant {tenant}"),
            )),
        }
    }
}

/// Who is calling, from a verified token (or everyone, when the API runs
/// without authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `iss`; `None` without authentication.
    pub issuer: Option<String>,
    /// From the `tenants` claim.
    pub tenants: TenantScope,
    /// `exp`, seconds since the Unix epoch; how long a cache may keep it.
    pub expires_at: u64,
}

impl Principal {
    /// No authentication configured: every route, every tenant.
    pub fn anonymous() -> Self {
        Self {
            issuer: None,
            tenants: TenantScope::All,
            expires_at: u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn allow_list_entries_parse_and_decide_by_issuer_and_route() {
        let list = RouteAllowList::parse([
            "edge-1=/v1/tenants/{tenant_id}/context,/v1/sites/{host}/context",
            "billing=/v1/tenants/{id}/context",
            "ops=*",
            "operator=/admin/*",
            "viewer=/admin/v1/tenants/{id}/timeline",
        ])
        .unwrap();
        // (issuer, route, expected reason or None for allowed)
        let cases = [
            ("edge-1", Route::TenantContext, None),
            ("edge-1", Route::SiteContext, None),
            ("billing", Route::TenantContext, None),
            ("billing", Route::SiteContext, Some(Reason::RouteNotAllowed)),
            ("ops", Route::SiteContext, None),
            (
                "stranger",
                Route::TenantContext,
                Some(Reason::IssuerNotAllowed),
            ),
            ("", Route::TenantContext, Some(Reason::IssuerNotAllowed)),
            // `*` is the edges' routes: no operator action through it.
            ("ops", Route::AdminRetry, Some(Reason::RouteNotAllowed)),
            ("ops", Route::AdminTimeline, Some(Reason::RouteNotAllowed)),
            ("operator", Route::AdminTimeline, None),
            ("operator", Route::AdminRetry, None),
            ("operator", Route::AdminSkip, None),
            (
                "operator",
                Route::TenantContext,
                Some(Reason::RouteNotAllowed),
            ),
            ("viewer", Route::AdminTimeline, None),
            ("viewer", Route::AdminSkip, Some(Reason::RouteNotAllowed)),
        ];
        for (issuer, route, expected) in cases {
            let got = list.check(issuer, route).err().map(|f| f.reason);
            assert_eq!(got, expected, "{issuer} {route}");
        }
    }

    #[test]
    fn bad_allow_list_entries_are_refused_with_the_entry() {
        for (entry, fragment) in [
            ("edge-1", "expected issuer=route"),
            ("=/v1/sites/{host}/context", "issuer is empty"),
            ("edge-1=", "no route"),
            ("edge-1=/v1/anything", "unknown route"),
        ] {
            let error = RouteAllowList::parse([entry]).unwrap_err();
            assert!(
                error.contains(fragment) && error.contains(entry),
                "{entry}: {error}"
            );
        }
        assert!(RouteAllowList::new().is_empty());
    }

    #[test]
    fn grants_any_says_whether_some_issuer_may_call_one_of_the_routes() {
        let admin = Route::ADMIN;
        // (allow-list entries, expected for the admin routes)
        let cases: [(&[&str], bool); 5] = [
            (&[], false),
            (&["tenantry=*"], false),
            (&["edge=*", "billing=/v1/tenants/{id}/context"], false),
            (&["edge=*", "ops=/admin/*"], true),
            (&["viewer=/admin/v1/tenants/{id}/timeline"], true),
        ];
        for (entries, expected) in cases {
            let list = RouteAllowList::parse(entries.iter().copied()).unwrap();
            assert_eq!(list.grants_any(&admin), expected, "{entries:?}");
        }
        assert!(!RouteAllowList::everything_for("tenantry").grants_any(&admin));
        assert!(RouteAllowList::everything_for("tenantry").grants_any(&Route::ALL));
    }

    #[test]
    fn shared_secret_mode_allows_its_issuer_everywhere_and_no_one_else() {
        let list = RouteAllowList::everything_for("tenantry");
        assert!(list.check("tenantry", Route::SiteContext).is_ok());
        assert!(list.check("tenantry", Route::TenantContext).is_ok());
        assert!(list.check("other", Route::TenantContext).is_err());
        // Operators' routes only when an allow-list names them.
        for route in Route::ADMIN {
            assert!(list.check("tenantry", route).is_err(), "{route}");
        }
    }

    #[test]
    fn tenant_scope_from_the_claim() {
        let scoped = TenantScope::from_claim(vec!["t15".into(), "t17".into()]);
        assert!(scoped.require(&tenant("t15")).is_ok());
        let refused = scoped.require(&tenant("t16")).unwrap_err();
        assert_eq!(refused.reason, Reason::TenantNotInScope);
        assert!(refused.message.contains("t16"), "{}", refused.message);
        assert!(
            refused.message.contains("may not read"),
            "{}",
            refused.message
        );
        let acting = scoped.require_to("act on", &tenant("t16")).unwrap_err();
        assert_eq!(acting.reason, Reason::TenantNotInScope);
        assert_eq!(acting.message, "the token may not act on tenant t16");
        assert_eq!(
            TenantScope::from_claim(vec!["t1".into(), "*".into()]),
            TenantScope::All
        );
        assert!(
            TenantScope::from_claim(vec![])
                .require(&tenant("t1"))
                .is_err()
        );
        assert!(
            Principal::anonymous()
                .tenants
                .require(&tenant("t1"))
                .is_ok()
        );
    }
}
