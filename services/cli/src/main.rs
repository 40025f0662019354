//! The `tenantry` binary: parses arguments and hands over to [`tenantry_cli::run`].
//!
//! Exit codes (README, "Exit codes"):
//!
//! - `0`: the command succeeded; also `--help` and `--version`.
//! - `1`: [`tenantry_cli::run`] returned an error, printed as one line
//!   `error: …` on stderr. `publish --wait` with an event not applied, or
//!   without an outcome before its timeout, is such an error: it has no code
//!   of its own.
//! - `2`: clap rejected the command line; one line on stderr naming the
//!   problem, the flag or `TENANTRY_*` variable the bad value came from, and
//!   `tenantry <command> --help` ([`tenantry_cli::usage`]). Nothing was run.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match tenantry_cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version.
            let _ = error.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(error) => {
            // One readable line; `tenantry <command> --help` has the rest.
            let argv: Vec<String> = std::env::args().collect();
            eprintln!("{}", tenantry_cli::usage::one_line(&error, &argv));
            return std::process::ExitCode::from(2);
        }
    };
    match tenantry_cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One readable line: the error and its causes, each cause once
            // (many errors already print their source in their own message).
            let mut line = String::new();
            for cause in error.chain().map(ToString::to_string) {
                if line.contains(&cause) {
                    continue;
                }
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&cause);
            }
            eprintln!("error: {line}");
            std::process::ExitCode::FAILURE
        }
    }
}
