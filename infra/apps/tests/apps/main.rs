//! Integration tests of `tenantry-apps`: real HTTP over loopback between
//! `AppClient` and the recording app server.

mod helpers;
mod lifecycle;
mod tokens;
