//! Progress bars on stderr for the long commands (`publish --file`,
//! `replay`, `bench`), drawn only when stderr is a terminal: piped or
//! redirected, stderr carries the log lines and errors only, and stdout
//! (text or `--json`) never carries a bar.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A bar of `len` steps labelled `message` (e.g. `published`), hidden unless
/// stderr is a terminal. Finish it with `finish_and_clear`.
pub fn bar(len: u64, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:32}] {pos}/{len} ({per_sec}, {eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A counter of steps of unknown number (records read), hidden unless
/// stderr is a terminal.
pub fn counter(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} ({per_sec})")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bar_is_drawn_when_stderr_is_not_a_terminal() {
        // Under the test runner stderr is captured, as in a pipe or a CI log.
        assert!(!std::io::stderr().is_terminal());
        assert!(bar(10, "published").is_hidden());
        assert!(counter("read").is_hidden());
    }
}
