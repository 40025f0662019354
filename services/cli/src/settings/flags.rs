//! The flag groups of each command. A command's struct flattens exactly the
//! groups the command reads, each under its own `--help` heading, and
//! becomes its [`Settings`] (the other groups at their defaults).

use super::Settings;
use super::groups::{
    AdminArgs, ApiAuthArgs, BrokerArgs, CacheArgs, ConsumerArgs, ContextStoreArgs, ListenArgs,
    SagaArgs, SchemaArgs, StoreArgs,
};
use crate::telemetry_args::{MetricsArgs, TraceArgs};
use clap::Args;

/// Declares one struct per command: `Name { field: Group = "Heading", … }`.
/// The field names are those of [`Settings`].
macro_rules! command_flags {
    ($($(#[$doc:meta])* $name:ident { $($field:ident: $group:ident = $heading:literal),* $(,)? })*) => {$(
        // Derive first: a `#[command(…)]` among the attributes is its helper.
        #[derive(Debug, Clone, Args)]
        #[group(skip)]
        $(#[$doc])*
        pub struct $name {
            $(
                #[doc = $heading]
                #[command(flatten, next_help_heading = $heading)]
                pub $field: $group,
            )*
        }

        impl From<$name> for Settings {
            fn from(flags: $name) -> Self {
                Settings { $($field: flags.$field,)* ..Settings::default() }
            }
        }
    )*};
}

command_flags! {
    /// `tenantry publish`: the commerce topic, and the stores `--wait` reads.
    Publish {
        broker: BrokerArgs = "Kafka",
        schema: SchemaArgs = "Schema registry",
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry replay`: the provisioning topic and the context store.
    Replay {
        broker: BrokerArgs = "Kafka",
        schema: SchemaArgs = "Schema registry",
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
    }
    /// `tenantry sagas`, `tenantry republish`: the saga store only.
    SagaStore {
        store: StoreArgs = "Saga store",
    }
    /// `tenantry migrate`: both stores.
    Migrate {
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
    }
    /// `tenantry dlq`: the dead-letter topic.
    Dlq {
        broker: BrokerArgs = "Kafka",
    }
    /// `tenantry provisioner`.
    Provisioner {
        broker: BrokerArgs = "Kafka",
        schema: SchemaArgs = "Schema registry",
        consumer: ConsumerArgs = "Consumer group",
        store: StoreArgs = "Saga store",
        saga: SagaArgs = "Saga steps",
        metrics: MetricsArgs = "Telemetry",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry projector`.
    Projector {
        broker: BrokerArgs = "Kafka",
        schema: SchemaArgs = "Schema registry",
        consumer: ConsumerArgs = "Consumer group",
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
        metrics: MetricsArgs = "Telemetry",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry context-api`.
    ContextApi {
        broker: BrokerArgs = "Kafka",
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
        listen: ListenArgs = "HTTP",
        cache: CacheArgs = "Context cache",
        auth: ApiAuthArgs = "Authentication",
        metrics: MetricsArgs = "Telemetry",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry context-sidecar`: no store.
    ContextSidecar {
        broker: BrokerArgs = "Kafka",
        listen: ListenArgs = "HTTP",
        cache: CacheArgs = "Context cache",
        auth: ApiAuthArgs = "Authentication",
        metrics: MetricsArgs = "Telemetry",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry admin`: the timeline page reads both stores and acts on the
    /// saga store, behind the context API's authentication with its own
    /// audience; it listens on 127.0.0.1:8090 by default, beside a context
    /// API on 8080.
    #[command(mut_arg("listen", |arg| arg.default_value("127.0.0.1:8090")))]
    Admin {
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
        listen: ListenArgs = "HTTP",
        auth: ApiAuthArgs = "Authentication",
        admin: AdminArgs = "Authentication",
        metrics: MetricsArgs = "Telemetry",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry dev`: its own broker and SQLite stores.
    Dev {
        schema: SchemaArgs = "Schema registry",
        listen: ListenArgs = "HTTP",
        cache: CacheArgs = "Context cache",
        auth: ApiAuthArgs = "Authentication",
        saga: SagaArgs = "Saga steps",
        metrics: MetricsArgs = "Telemetry",
        traces: TraceArgs = "Telemetry",
    }
    /// `tenantry bench` (end to end): the services it starts get these.
    Bench {
        broker: BrokerArgs = "Kafka",
        schema: SchemaArgs = "Schema registry",
        store: StoreArgs = "Saga store",
        saga: SagaArgs = "Saga steps",
    }
    /// `tenantry bench api`.
    BenchApi {
        broker: BrokerArgs = "Kafka",
        cache: CacheArgs = "Context cache",
        auth: ApiAuthArgs = "Authentication",
        saga: SagaArgs = "Saga steps",
    }
    /// `tenantry bench propagation`.
    BenchPropagation {
        broker: BrokerArgs = "Kafka",
        schema: SchemaArgs = "Schema registry",
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
    }
    /// `tenantry bench contexts`.
    BenchContexts {
        store: StoreArgs = "Saga store",
        contexts: ContextStoreArgs = "Context store",
    }
}

#[cfg(test)]
mod tests {
    use crate::Cli;
    use clap::CommandFactory;

    /// The long flags `tenantry <path…> --help` lists.
    fn flags_of(path: &[&str]) -> Vec<String> {
        let mut command = Cli::command();
        command.build();
        let mut current = &command;
        for name in path {
            current = current.find_subcommand(name).expect("a subcommand");
        }
        current
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
            .collect()
    }

    #[test]
    fn each_command_lists_only_the_groups_it_reads() {
        let sidecar = flags_of(&["context-sidecar"]);
        for own in [
            "--bootstrap",
            "--listen",
            "--cache-mib",
            "--api-jwks-file",
            "--log",
        ] {
            assert!(
                sidecar.contains(&own.to_owned()),
                "context-sidecar {own}: {sidecar:?}"
            );
        }
        for other in [
            "--database-url",
            "--context-database-url",
            "--workers",
            "--shard-capacity",
        ] {
            assert!(
                !sidecar.contains(&other.to_owned()),
                "context-sidecar {other}"
            );
        }
        let publish = flags_of(&["publish"]);
        assert!(publish.contains(&"--bootstrap".to_owned()), "{publish:?}");
        for other in [
            "--api-jwt-secret",
            "--listen",
            "--workers",
            "--metrics-listen",
        ] {
            assert!(!publish.contains(&other.to_owned()), "publish {other}");
        }
        let sagas = flags_of(&["sagas", "list"]);
        assert!(sagas.contains(&"--database-url".to_owned()), "{sagas:?}");
        assert!(!sagas.contains(&"--bootstrap".to_owned()), "{sagas:?}");
        let provisioner = flags_of(&["provisioner"]);
        for own in [
            "--workers",
            "--database-url",
            "--group-prefix",
            "--metrics-listen",
        ] {
            assert!(provisioner.contains(&own.to_owned()), "provisioner {own}");
        }
        assert!(!provisioner.contains(&"--api-jwt-secret".to_owned()));
        assert!(!flags_of(&["token", "mint"]).contains(&"--bootstrap".to_owned()));
        // Flags of a command with subcommands are taken after the leaf.
        assert!(flags_of(&["dlq", "redrive"]).contains(&"--bootstrap".to_owned()));
        assert!(flags_of(&["sagas", "retry"]).contains(&"--database-url".to_owned()));
        // The admin's own audience is the admin's only.
        assert!(flags_of(&["admin"]).contains(&"--admin-jwt-audience".to_owned()));
        for other in [&["context-api"][..], &["context-sidecar"], &["dev"]] {
            assert!(
                !flags_of(other).contains(&"--admin-jwt-audience".to_owned()),
                "{other:?}"
            );
        }
    }

    #[test]
    fn the_admin_has_its_own_audience_and_listen_default() {
        use clap::Parser as _;
        let parsed = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let crate::Command::Admin(flags) = cli.command else {
                panic!("admin");
            };
            crate::settings::Settings::from(*flags)
        };
        let settings = parsed(&["tenantry", "admin"]);
        assert_eq!(settings.admin.admin_jwt_audience, "tenantry-admin");
        assert_eq!(settings.auth.api_jwt_audience, "tenantry-context-api");
        assert_eq!(settings.listen.listen, "127.0.0.1:8090");
        let settings = parsed(&["tenantry", "admin", "--admin-jwt-audience", "ops-admin"]);
        assert_eq!(settings.admin.admin_jwt_audience, "ops-admin");
        let api = Cli::try_parse_from(["tenantry", "context-api"]).unwrap();
        let crate::Command::ContextApi(flags) = api.command else {
            panic!("context-api");
        };
        assert_eq!(
            crate::settings::Settings::from(*flags).listen.listen,
            "127.0.0.1:8080"
        );
    }
}
