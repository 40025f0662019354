//! [`RunDir`]: where one test run keeps the logs of the processes it starts.

use std::path::{Path, PathBuf};

/// A directory for one test run's logs:
/// `$TMPDIR/tenantry-it/<name>-<unique>/`.
///
/// It is removed when the test passes and kept when it fails (the drop sees
/// the panic), or always kept with `TENANTRY_KEEP_LOGS=1`, so the evidence of
/// a failure — every incarnation's stderr — outlives the test.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `$TMPDIR/tenantry-it/<name>-<8 hex digits>/`.
    pub fn new(name: &str) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let path = std::env::temp_dir()
            .join("tenantry-it")
            .join(format!("{name}-{}", &unique[..8]));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create log directory {}: {e}", path.display()));
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<dir>/<file>`.
    pub fn file(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs of the failed run kept in {}", self.path.display());
        } else if std::env::var_os("TENANTRY_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Appends one line to a log file (best effort): markers that place the
/// test's own actions (a kill, a restart) between a child's log lines.
pub fn append_line(path: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = crate::process::append(path) {
        let _ = writeln!(file, "{line}");
    }
}
