//! The projector's own flags: whether it publishes the context changelog
//! (`--changelog publish|off`, also `tenantry replay`'s), for the green
//! projector of a blue-green rebuild (README, "Blue-green rebuild of the context store").

use clap::{Args, ValueEnum};
use tenantry_projector::{Changelog, ProjectorConfig};

/// `tenantry projector` flags beyond the shared groups.
#[derive(Debug, Clone, Default, Args)]
pub struct ProjectorArgs {
    /// Whether context changes go to the changelog topic (`publish`), or
    /// only to the store (`off`): a projector keeping a green store runs
    /// with `off` until the context APIs are switched to that store, so one
    /// projector group publishes each tenant's revisions.
    #[arg(long, value_enum, env = "TENANTRY_CHANGELOG", default_value_t = ChangelogArg::Publish)]
    pub changelog: ChangelogArg,
}

/// `--changelog` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ChangelogArg {
    /// Publish every new context version (the default).
    #[default]
    Publish,
    /// Publish nothing.
    Off,
}

impl From<ChangelogArg> for Changelog {
    fn from(arg: ChangelogArg) -> Self {
        match arg {
            ChangelogArg::Publish => Changelog::Publish,
            ChangelogArg::Off => Changelog::Off,
        }
    }
}

impl ProjectorArgs {
    /// `config` with these flags applied.
    pub fn apply(&self, config: ProjectorConfig) -> ProjectorConfig {
        ProjectorConfig {
            changelog: self.changelog.into(),
            ..config
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProjectorArgs,
    }

    #[test]
    fn changelog_defaults_to_publish_and_can_be_turned_off() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("projector").chain(args.iter().copied()))
                .map(|cli| cli.args.changelog)
        };
        assert_eq!(parse(&[]).unwrap(), ChangelogArg::Publish);
        assert_eq!(parse(&["--changelog", "off"]).unwrap(), ChangelogArg::Off);
        let error = parse(&["--changelog", "maybe"]).unwrap_err();
        assert!(error.to_string().contains("--changelog"), "{error}");
    }
}
