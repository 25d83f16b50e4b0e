//! RSS and CPU time of a set of processes and their descendants, from /proc.

use std::collections::{HashMap, HashSet};
use std::fs;

/// The given PIDs and all their descendants (nginx's workers, say), alive now.
pub fn with_descendants(roots: &[i32]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|s| s.parse().ok()))
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut seen: HashSet<i32> = HashSet::new();
    let mut todo: Vec<i32> = roots.to_vec();
    while let Some(p) = todo.pop() {
        if seen.insert(p) {
            if let Some(c) = children.get(&p) {
                todo.extend(c);
            }
        }
    }
    let mut v: Vec<i32> = seen
        .into_iter()
        .filter(|p| fs::metadata(format!("/proc/{p}")).is_ok())
        .collect();
    v.sort_unstable();
    v
}

/// The fields of /proc/PID/stat after the command name: state, ppid, ... (field 3 onwards).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// VmRSS in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime in clock ticks.
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time in ns of all the threads of a process (/proc/PID/task/*/schedstat): nanosecond
/// resolution, where /proc/PID/stat counts 10 ms ticks.
pub fn cpu_ns(pid: i32) -> Option<u64> {
    let dir = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for e in dir.flatten() {
        let path = e.path().join("schedstat");
        if let Ok(s) = fs::read_to_string(path) {
            total += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total)
}

pub fn ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub procs: usize,
    pub rss_kib: u64,
    pub cpu_ticks: u64,
    pub cpu_ns: u64,
}

pub fn sample(roots: &[i32]) -> Sample {
    let pids = with_descendants(roots);
    let mut s = Sample {
        procs: pids.len(),
        ..Sample::default()
    };
    for p in pids {
        s.rss_kib += rss_kib(p).unwrap_or(0);
        s.cpu_ticks += cpu_ticks(p).unwrap_or(0);
        s.cpu_ns += cpu_ns(p).unwrap_or(0);
    }
    s
}

/// The machine's CPU time split (`cpu` line of /proc/stat, in ticks): user, nice, system, idle,
/// iowait, irq, softirq, steal.
pub fn machine_ticks() -> [u64; 8] {
    let mut t = [0u64; 8];
    if let Ok(s) = fs::read_to_string("/proc/stat") {
        if let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) {
            for (i, v) in line.split_whitespace().skip(1).take(8).enumerate() {
                t[i] = v.parse().unwrap_or(0);
            }
        }
    }
    t
}

/// Busy, idle and steal percentages of the machine between two `machine_ticks` readings.
/// Steal is the time the hypervisor ran something else while a vCPU wanted to run.
pub fn machine_split(a: &[u64; 8], b: &[u64; 8]) -> (f64, f64, f64) {
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| y.saturating_sub(*x) as f64)
        .collect();
    let total: f64 = d.iter().sum();
    if total == 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let idle = d[3] + d[4];
    let steal = d[7];
    let busy = total - idle - steal;
    (
        100.0 * busy / total,
        100.0 * idle / total,
        100.0 * steal / total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_ticks(me).is_some());
        assert!(cpu_ns(me).unwrap() > 0);
        assert!(with_descendants(&[me]).contains(&me));
        let s = sample(&[me]);
        assert!(s.procs >= 1 && s.rss_kib > 0);
    }
}
