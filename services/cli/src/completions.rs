//! `tenantry completions bash|zsh|fish`: the shell completion script,
//! generated from the command tree itself, so it never lags a new flag.

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

/// `tenantry completions` arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    pub shell: CompletionShell,
}

/// Shells a script is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// GNU Bash (with bash-completion).
    Bash,
    /// Zsh.
    Zsh,
    /// fish.
    Fish,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

/// The completion script of `tenantry` for `shell`.
pub fn script(shell: CompletionShell) -> String {
    let mut command = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(Shell::from(shell), &mut command, "tenantry", &mut script);
    // clap_complete writes text it built from UTF-8 names and help.
    String::from_utf8_lossy(&script).into_owned()
}

/// Runs `tenantry completions <shell>`: the script on stdout.
///
/// Errors: stdout cannot be written (a closed pipe is not an error).
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    crate::output::write_stdout(script(args.shell).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [
            CompletionShell::Bash,
            CompletionShell::Zsh,
            CompletionShell::Fish,
        ] {
            let script = script(shell);
            assert!(!script.trim().is_empty(), "{shell:?}");
            for name in ["publish", "sagas", "dlq", "replay", "completions"] {
                assert!(script.contains(name), "{shell:?} script names {name}");
            }
        }
    }

    #[test]
    fn nested_subcommands_and_flags_are_completed() {
        let bash = script(CompletionShell::Bash);
        assert!(bash.contains("redrive"), "dlq redrive");
        assert!(bash.contains("--parked"), "sagas list --parked");
    }
}
