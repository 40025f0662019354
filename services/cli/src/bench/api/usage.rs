//! Memory and CPU time of a child process, from /proc.

/// `VmRSS` and `VmHWM` of `/proc/<pid>/status`, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now.
    pub rss: u64,
    /// Its peak so far.
    pub peak_rss: u64,
}

#[cfg(target_os = "linux")]
pub use linux::{cpu, memory};

#[cfg(target_os = "linux")]
mod linux {
    use super::Memory;
    use std::time::Duration;

    /// `VmRSS` and `VmHWM` (`/proc/<pid>/status`, kB).
    ///
    /// # Errors
    /// No such process, or /proc cannot be read.
    pub fn memory(pid: u32) -> anyhow::Result<Memory> {
        let status = procfs::process::Process::new(i32::try_from(pid)?)?.status()?;
        Ok(Memory {
            rss: status.vmrss.unwrap_or(0) * 1024,
            peak_rss: status.vmhwm.unwrap_or(0) * 1024,
        })
    }

    /// utime + stime (`/proc/<pid>/stat`, clock ticks).
    ///
    /// # Errors
    /// No such process, or /proc cannot be read.
    pub fn cpu(pid: u32) -> anyhow::Result<Duration> {
        let stat = procfs::process::Process::new(i32::try_from(pid)?)?.stat()?;
        let ticks = (stat.utime + stat.stime) as f64;
        Ok(Duration::from_secs_f64(
            ticks / procfs::ticks_per_second() as f64,
        ))
    }
}

/// Not Linux: no /proc.
#[cfg(not(target_os = "linux"))]
pub fn memory(_pid: u32) -> anyhow::Result<Memory> {
    anyhow::bail!("tenantry bench api reads /proc and runs on Linux only")
}

/// Not Linux: no /proc.
#[cfg(not(target_os = "linux"))]
pub fn cpu(_pid: u32) -> anyhow::Result<std::time::Duration> {
    anyhow::bail!("tenantry bench api reads /proc and runs on Linux only")
}
