//! The wire contract of a lifecycle callback: which event, for whom, and the
//! JSON body an app receives.

use serde::{Deserialize, Serialize};
use std::fmt;
use tenantry_schemas::{AppKey, ProductKey, TenantId};

/// Which lifecycle callback: the last path segment (`{base}/installed`) and
/// the body's `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleEvent {
    /// The app was installed for the tenant's product (step 7, install apps).
    Installed,
    /// The app was uninstalled (product deactivated, or step 7 compensated).
    Uninstalled,
}

impl LifecycleEvent {
    /// `installed` or `uninstalled`.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::Installed => "installed",
            LifecycleEvent::Uninstalled => "uninstalled",
        }
    }

    /// Parses `installed` or `uninstalled`; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "installed" => Some(LifecycleEvent::Installed),
            "uninstalled" => Some(LifecycleEvent::Uninstalled),
            _ => None,
        }
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lifecycle call: which app, for which tenant and product.
///
/// Delivery is at least once: the saga runner retries a retryable failure and
/// re-runs a step after a crash, so an app may receive the same call twice.
/// `idempotency_key` is the same on every delivery of one call and differs
/// between calls (the saga uses `<saga id>:<step>`, so an install and the
/// uninstall that compensates it differ); it is sent as the body's
/// `idempotency_key` and the token's `jti`. An app dedupes on it and answers
/// a repeat with 2xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleCall {
    /// The app to call; must be registered in the configuration.
    pub app: AppKey,
    /// The tenant; also the token's `sub`.
    pub tenant_id: TenantId,
    /// The licensed product the app extends (`jira`).
    pub product: ProductKey,
    /// The tenant's site host (`acme.tenantry.test`), where the app is used.
    pub site_host: String,
    /// Dedupe key of this call, non-empty (see above).
    pub idempotency_key: String,
}

/// The JSON body of `POST {base}/installed` and `/uninstalled`:
/// `{"event": "installed", "app": "jira-slack", "tenant_id": "t1", "product": "jira",
///   "site_host": "acme.tenantry.test", "idempotency_key": "<saga id>:install_apps"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleBody {
    /// Which callback; equal to the last path segment.
    pub event: LifecycleEvent,
    /// The call's fields, flattened into the same object.
    #[serde(flatten)]
    pub call: LifecycleCall,
}
