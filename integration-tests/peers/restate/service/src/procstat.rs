//! CPU time and memory of processes, read from `/proc` (Linux only).

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// utime + stime of `pid`, in clock ticks (`/proc/<pid>/stat`, fields 14
/// and 15). `None` when the process is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count the fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// VmHWM (peak resident set) of `pid`, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Ticks as a duration.
pub fn ticks(ticks: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / ticks_per_second().max(1) as f64)
}

/// CPU ticks of every PostgreSQL process, by pid, and which of them are
/// backends connected to `database` (their command line reads
/// `postgres: … <user> <database> <client> <state>`).
///
/// A postmaster's `cutime`/`cstime` are not added: the peer's pool keeps
/// its connections for the whole run, so no backend of interest exits
/// within the window.
pub fn postgres(database: &str) -> Vec<(u32, bool, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if comm.trim_end() != "postgres" {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let ours = cmdline.split_whitespace().any(|word| word == database);
        if let Some(cpu) = cpu_ticks(pid) {
            found.push((pid, ours, cpu));
        }
    }
    found
}

/// Ticks used between two [`postgres`] readings: `(backends of the
/// database, every PostgreSQL process)`. A process that started in between
/// counts from zero; one that ended is lost (see [`postgres`]).
pub fn postgres_between(before: &[(u32, bool, u64)], after: &[(u32, bool, u64)]) -> (u64, u64) {
    let (mut ours, mut all) = (0, 0);
    for &(pid, is_ours, ticks) in after {
        let start = before
            .iter()
            .find(|(p, _, _)| *p == pid)
            .map_or(0, |&(_, _, t)| t);
        let used = ticks.saturating_sub(start);
        all += used;
        if is_ours {
            ours += used;
        }
    }
    (ours, all)
}

/// Busy CPU ticks of the whole machine since boot, all cores (`/proc/stat`,
/// line `cpu`: every field but idle and iowait). Set against the measured
/// processes' own ticks, it shows what else ran in the window (a compiler,
/// another benchmark), which makes a run's figures suspect.
pub fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user and nice).
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum()
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
