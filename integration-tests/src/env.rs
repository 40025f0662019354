//! Where the stack and the binaries are.
//!
//! The stack (PostgreSQL, Apache Kafka, the AWS emulator) comes from one of
//! three places, chosen once per test process by [`selected_stack`] (the
//! rule is [`stack_source`]):
//!
//! - [`StackSource::Configured`]: any of [`STACK_VARIABLES`] is set (as
//!   `infra/local/env` does): each address is its variable, an unset one the
//!   local stack's default;
//! - [`StackSource::Containers`]: none is set, this crate is built with the
//!   `testcontainers` feature and a Docker engine answers
//!   ([`crate::docker::docker_answers`]): containers this process starts
//!   (`crate::containers`), kept for the whole process;
//! - [`StackSource::LocalDefaults`]: otherwise, the addresses
//!   `infra/local/up` uses, so a test run from an IDE without the env still
//!   finds the stack.
//!
//! Without the feature the accessors read the variables with those defaults
//! and nothing else, exactly as before the feature existed.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Site domain the tests give the services (RFC 2606 `.test` TLD).
pub const DOMAIN: &str = "tenantry.test";

/// The variables that place the stack; `infra/local/env` exports all three.
/// Any of them set (non-empty) selects [`StackSource::Configured`].
pub const STACK_VARIABLES: [&str; 3] = [
    "TENANTRY_BOOTSTRAP",
    "TENANTRY_DATABASE_URL",
    "AWS_ENDPOINT_URL",
];

/// The local stack's broker (`infra/local/up`).
pub const LOCAL_BOOTSTRAP: &str = "127.0.0.1:9092";
/// The local stack's database URL (`infra/local/up`).
pub const LOCAL_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tenantry";
/// The local stack's AWS emulator, moto (`infra/local/up`).
pub const LOCAL_AWS_ENDPOINT_URL: &str = "http://127.0.0.1:5000";

/// Where this test process finds PostgreSQL, Kafka and moto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackSource {
    /// [`STACK_VARIABLES`] are set: use them (an unset one: its local default).
    Configured,
    /// Containers this process starts (feature `testcontainers`, Docker answers).
    Containers,
    /// The local stack's fixed addresses ([`LOCAL_BOOTSTRAP`], …).
    LocalDefaults,
}

/// The selection rule, pure: explicit addresses win (any of
/// [`STACK_VARIABLES`] non-empty in `env`); else containers when
/// `feature_enabled` and `docker_answers()`; else the local defaults.
/// `docker_answers` is only called when its answer decides.
pub fn stack_source(
    env: &impl Fn(&str) -> Option<String>,
    docker_answers: impl FnOnce() -> bool,
    feature_enabled: bool,
) -> StackSource {
    let configured = STACK_VARIABLES
        .iter()
        .any(|name| env(name).is_some_and(|value| !value.trim().is_empty()));
    if configured {
        StackSource::Configured
    } else if feature_enabled && docker_answers() {
        StackSource::Containers
    } else {
        StackSource::LocalDefaults
    }
}

/// [`stack_source`] of this process's environment, Docker probe and build,
/// decided at the first call and kept (the environment of a test process
/// does not change: this crate forbids `unsafe`, so it never calls
/// `std::env::set_var`).
pub fn selected_stack() -> StackSource {
    static SELECTED: OnceLock<StackSource> = OnceLock::new();
    *SELECTED.get_or_init(|| {
        let env = |name: &str| std::env::var(name).ok();
        let feature = cfg!(feature = "testcontainers");
        let source = stack_source(&env, crate::docker::docker_answers, feature);
        if feature && source == StackSource::LocalDefaults {
            eprintln!(
                "tenantry-integration-tests: no Docker engine answers (feature testcontainers); \
                 using the local stack at its default addresses"
            );
        }
        source
    })
}

/// The shared Kafka-API broker: `TENANTRY_BOOTSTRAP`, default
/// [`LOCAL_BOOTSTRAP`]; the container's when [`StackSource::Containers`].
pub fn bootstrap() -> String {
    #[cfg(feature = "testcontainers")]
    if selected_stack() == StackSource::Containers {
        return crate::containers::stack().bootstrap.clone();
    }
    std::env::var("TENANTRY_BOOTSTRAP").unwrap_or_else(|_| LOCAL_BOOTSTRAP.into())
}

/// The shared PostgreSQL server without a database name:
/// `TENANTRY_DATABASE_URL` up to its last `/`, default
/// `postgres://postgres@127.0.0.1:5432`; the container's
/// (`postgres://postgres@HOST:PORT`) when [`StackSource::Containers`].
pub fn server_url() -> String {
    #[cfg(feature = "testcontainers")]
    if selected_stack() == StackSource::Containers {
        return crate::containers::stack().server_url.clone();
    }
    let url = std::env::var("TENANTRY_DATABASE_URL").unwrap_or_else(|_| LOCAL_DATABASE_URL.into());
    match url.rsplit_once('/') {
        Some((server, _)) => server.to_owned(),
        None => url,
    }
}

/// The AWS emulator (moto): `AWS_ENDPOINT_URL`, default
/// [`LOCAL_AWS_ENDPOINT_URL`]; the container's when
/// [`StackSource::Containers`]. An AWS SDK client the tests build must be
/// given it explicitly: the process environment cannot be changed here.
pub fn aws_endpoint_url() -> String {
    #[cfg(feature = "testcontainers")]
    if selected_stack() == StackSource::Containers {
        return crate::containers::stack().aws_endpoint_url.clone();
    }
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| LOCAL_AWS_ENDPOINT_URL.into())
}

/// The `tenantry` binary: `TENANTRY_BIN`, else `tenantry` beside the test
/// executable's `deps/` directory (`target/debug/tenantry`).
pub fn tenantry_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TENANTRY_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("tenantry"))
        .expect("target dir")
}

/// Ports [`free_port`] picks from: below Linux's ephemeral range (32768 to
/// 60999 by default, `net.ipv4.ip_local_port_range`), so an outgoing
/// connection of another test cannot be given the port between the check
/// here and the caller's bind (a three-broker cluster failed that way).
const PICKED_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A TCP port on 127.0.0.1 that was free a moment ago: a random one of
/// [`PICKED_PORTS`] that binds, released at once. Another process may still
/// take it before the caller binds it; the caller's readiness check then
/// fails with the port in its message.
pub fn free_port() -> u16 {
    for _ in 0..1_000 {
        let port = rand::random_range(PICKED_PORTS);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in {PICKED_PORTS:?} after 1,000 tries")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn env(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs = pairs.to_vec();
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    /// A Docker probe that answers `answer` and counts its calls.
    fn probe(answer: bool, calls: &Cell<u32>) -> impl FnOnce() -> bool + '_ {
        move || {
            calls.set(calls.get() + 1);
            answer
        }
    }

    #[test]
    fn any_stack_variable_selects_configured_without_asking_docker() {
        for name in STACK_VARIABLES {
            let vars = env(&[(name, "somewhere:1")]);
            for feature in [true, false] {
                let calls = Cell::new(0);
                assert_eq!(
                    stack_source(&vars, probe(true, &calls), feature),
                    StackSource::Configured,
                    "{name} set, feature {feature}"
                );
                assert_eq!(calls.get(), 0, "Docker asked although {name} is set");
            }
        }
    }

    #[test]
    fn all_stack_variables_as_infra_local_env_exports_them_select_configured() {
        let vars = env(&[
            ("TENANTRY_BOOTSTRAP", LOCAL_BOOTSTRAP),
            ("TENANTRY_DATABASE_URL", LOCAL_DATABASE_URL),
            ("AWS_ENDPOINT_URL", LOCAL_AWS_ENDPOINT_URL),
        ]);
        assert_eq!(stack_source(&vars, || true, true), StackSource::Configured);
    }

    #[test]
    fn nothing_configured_feature_on_and_docker_answering_selects_containers() {
        let calls = Cell::new(0);
        let vars = env(&[("TENANTRY_BIN", "/x/tenantry"), ("AWS_REGION", "us-east-1")]);
        assert_eq!(
            stack_source(&vars, probe(true, &calls), true),
            StackSource::Containers
        );
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn nothing_configured_feature_on_and_docker_silent_selects_local_defaults() {
        let calls = Cell::new(0);
        assert_eq!(
            stack_source(&env(&[]), probe(false, &calls), true),
            StackSource::LocalDefaults
        );
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn feature_off_selects_local_defaults_without_asking_docker() {
        let calls = Cell::new(0);
        assert_eq!(
            stack_source(&env(&[]), probe(true, &calls), false),
            StackSource::LocalDefaults
        );
        assert_eq!(calls.get(), 0);
    }

    #[test]
    fn empty_stack_variables_count_as_unset() {
        let vars = env(&[("TENANTRY_BOOTSTRAP", ""), ("AWS_ENDPOINT_URL", "  ")]);
        assert_eq!(stack_source(&vars, || true, true), StackSource::Containers);
        assert_eq!(
            stack_source(&vars, || false, true),
            StackSource::LocalDefaults
        );
    }

    #[test]
    fn this_process_selection_matches_the_build() {
        // Whatever this machine has, a build without the feature never
        // selects containers.
        let selected = selected_stack();
        if !cfg!(feature = "testcontainers") {
            assert_ne!(selected, StackSource::Containers);
        }
        if selected != StackSource::Containers {
            let expected =
                std::env::var("TENANTRY_BOOTSTRAP").unwrap_or_else(|_| LOCAL_BOOTSTRAP.into());
            assert_eq!(bootstrap(), expected);
        }
    }
}
