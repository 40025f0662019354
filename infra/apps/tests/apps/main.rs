//! Integration tests of `tenantry-apps`: real HTTP over loopback between
//! `AppClient` and the recording app server (issue #4).

mod helpers;
mod lifecycle;
mod tokens;
