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
//!   problem and `tenantry <command> --help`. Nothing was run.

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
            // clap lists what is missing on the lines after the first; keep
            // them, drop the usage and tips.
            let rendered = error.to_string();
            let message: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let message = if message.is_empty() {
                "error: invalid arguments".to_owned()
            } else {
                message.join(" ")
            };
            // The command the error is about, from clap's usage line
            // (`Usage: tenantry sagas show <TENANT>` → `tenantry sagas show`).
            let command = rendered
                .lines()
                .find_map(|l| l.trim().strip_prefix("Usage:"))
                .map(|usage| {
                    usage
                        .split_whitespace()
                        .take_while(|w| !w.starts_with(['[', '<', '-']))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "tenantry".to_owned());
            eprintln!("{message} (see {command} --help)");
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
