//! `tenantry completions <shell>` through the binary: a script on stdout for
//! each shell, naming the subcommands; an unknown shell is a usage error.

use std::io::Read;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tenantry");

#[test]
fn each_shell_gets_a_script_naming_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(!script.trim().is_empty(), "{shell}");
        for name in ["publish", "sagas", "dlq", "migrate", "completions"] {
            assert!(script.contains(name), "{shell} script names {name}");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// `tenantry completions bash | head -1`: the reader leaves early; the
/// command still succeeds (no panic on the closed pipe).
#[test]
fn a_reader_closing_the_pipe_early_is_not_an_error() {
    let mut child = Command::new(BIN)
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0_u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here, before the script is all written.
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
