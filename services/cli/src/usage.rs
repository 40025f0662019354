//! The one line a rejected command line prints (exit code 2).
//!
//! clap's own rendering spans several lines (usage, tips). Tenantry prints
//! one: clap's reason, the subcommand whose `--help` has the rest, and, when
//! a bad value came from a `TENANTRY_*` variable rather than the command
//! line, that variable's name (clap names only the flag).

use crate::Cli;
use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// One line for a usage error: `error: … (see tenantry <command> --help)`.
/// `argv` is the process's arguments, the program name first.
pub fn one_line(error: &clap::Error, argv: &[String]) -> String {
    let root = Cli::command();
    let (path, command) = subcommand(&root, argv);
    let rendered = error.to_string();
    // clap lists what is missing on the lines after the first; keep them,
    // drop the usage and tips.
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    let mut message = if lines.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        lines.join(" ")
    };
    if let Some((shown, variable)) = value_from_environment(error, command, &root, argv) {
        message = message.replacen(&format!("'{shown}'"), &variable, 1);
    }
    format!("{message} (see {} --help)", path.join(" "))
}

/// The deepest subcommand `argv` names, and its path (`tenantry sagas list`).
fn subcommand<'a>(root: &'a clap::Command, argv: &[String]) -> (Vec<String>, &'a clap::Command) {
    let mut path = vec![root.get_name().to_owned()];
    let mut current = root;
    for word in argv.iter().skip(1) {
        if let Some(sub) = current.find_subcommand(word) {
            path.push(sub.get_name().to_owned());
            current = sub;
        }
    }
    (path, current)
}

/// For a bad value of a flag that is not on the command line but has an
/// environment variable: clap's rendering of the flag (`--workers
/// <WORKERS>`) and what to say instead (`TENANTRY_WORKERS (--workers)`).
fn value_from_environment(
    error: &clap::Error,
    command: &clap::Command,
    root: &clap::Command,
    argv: &[String],
) -> Option<(String, String)> {
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
    let flag = format!("--{long}");
    let on_command_line = argv
        .iter()
        .skip(1)
        .any(|a| a == &flag || a.starts_with(&format!("{flag}=")));
    if on_command_line {
        return None;
    }
    let arg = command
        .get_arguments()
        .chain(root.get_arguments())
        .find(|arg| arg.get_long() == Some(long))?;
    let variable = arg.get_env()?.to_str()?;
    Some((shown.clone(), format!("{variable} ({flag})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_flag_of_another_command_is_refused_and_the_help_named_is_the_commands() {
        let line = argv("tenantry publish --api-jwt-secret s3cret");
        let error = Cli::try_parse_from(&line).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnknownArgument);
        assert_eq!(
            one_line(&error, &line),
            "error: unexpected argument '--api-jwt-secret' found (see tenantry publish --help)"
        );
    }

    #[test]
    fn a_bad_value_on_the_command_line_names_the_flag() {
        let line = argv("tenantry sagas list --parked --json --bogus");
        let error = Cli::try_parse_from(&line).unwrap_err();
        assert!(one_line(&error, &line).ends_with("(see tenantry sagas list --help)"));
        let line = argv("tenantry provisioner --workers abc");
        let error = Cli::try_parse_from(&line).unwrap_err();
        let message = one_line(&error, &line);
        assert!(message.contains("'--workers <WORKERS>'"), "{message}");
        assert!(!message.contains("TENANTRY_WORKERS"), "{message}");
        assert!(
            message.ends_with("(see tenantry provisioner --help)"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_value_from_the_environment_names_the_variable() {
        // clap reports the flag whatever the source; the environment's
        // variable is what the operator has to fix.
        let line = argv("tenantry provisioner");
        let error = clap::Error::raw(ErrorKind::ValueValidation, "x");
        assert_eq!(
            one_line(&error, &line),
            "error: x (see tenantry provisioner --help)"
        );
        let mut error = clap::Error::new(ErrorKind::ValueValidation).with_cmd(&Cli::command());
        error.insert(
            ContextKind::InvalidArg,
            ContextValue::String("--workers <WORKERS>".to_owned()),
        );
        error.insert(
            ContextKind::InvalidValue,
            ContextValue::String("abc".to_owned()),
        );
        let message = one_line(&error, &line);
        assert!(
            message.contains("TENANTRY_WORKERS (--workers)"),
            "{message}"
        );
        assert!(!message.contains("<WORKERS>"), "{message}");
    }
}
