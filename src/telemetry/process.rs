//! The standard `process_*` metrics (memory, CPU, file descriptors, start time) that dashboards and
//! alerts expect of every exporter, read from `/proc` at scrape time.

use std::fmt::Write;

/// `USER_HZ`: fixed at 100 by the Linux ABI on every architecture Kubernetes runs on.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
}

/// Parses `/proc/self/stat` (CPU ticks, start ticks since boot, virtual size), `/proc/self/status`
/// (VmRSS in kB) and the boot time line of `/proc/stat`. `None` when a file is not as expected.
pub fn parse(stat: &str, status: &str, proc_stat: &str) -> Option<ProcessStats> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let (utime, stime, start_ticks, vsize) = (field(14)?, field(15)?, field(22)?, field(23)?);
    let rss_kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse::<u64>().ok()?;
    let boot = proc_stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse::<u64>().ok()?;
    Some(ProcessStats {
        resident_bytes: rss_kb * 1024,
        virtual_bytes: vsize,
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        start_time_seconds: boot as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        open_fds: 0,
    })
}

/// The current process, or `None` off Linux or when `/proc` is not readable.
pub fn current() -> Option<ProcessStats> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mut stats = parse(&read("/proc/self/stat")?, &read("/proc/self/status")?, &read("/proc/stat")?)?;
    stats.open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    Some(stats)
}

/// Appends the metrics in the Prometheus text format.
pub fn encode(stats: &ProcessStats, out: &mut String) -> std::fmt::Result {
    let metrics: [(&str, &str, &str, String); 5] = [
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", stats.resident_bytes.to_string()),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stats.virtual_bytes.to_string()),
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", stats.cpu_seconds.to_string()),
        ("process_open_fds", "gauge", "Number of open file descriptors.", stats.open_fds.to_string()),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            stats.start_time_seconds.to_string(),
        ),
    ];
    for (name, kind, help, value) in metrics {
        writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed_even_with_a_tricky_command_name() {
        let stat = "4242 (tokio (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 12345 987654321 5000 18446744073709551615";
        let status = "Name:\tframaspace\nVmRSS:\t   51200 kB\nThreads:\t9\n";
        let proc_stat = "cpu  1 2 3\nbtime 1700000000\nprocesses 10\n";
        let s = parse(stat, status, proc_stat).expect("parses");
        assert_eq!(s.resident_bytes, 51200 * 1024);
        assert_eq!(s.virtual_bytes, 987654321);
        assert!((s.cpu_seconds - 3.0).abs() < 1e-9);
        assert!((s.start_time_seconds - 1_700_000_123.45).abs() < 1e-6);
        assert_eq!(parse("garbage", status, proc_stat), None);
        assert_eq!(parse(stat, "VmSize: 1 kB\n", proc_stat), None);
    }

    #[test]
    fn the_live_process_is_measured() {
        let s = current().expect("/proc is readable on Linux");
        assert!(s.resident_bytes > 0 && s.open_fds > 0);
        let mut out = String::new();
        encode(&s, &mut out).expect("encodes");
        assert!(out.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    }
}
