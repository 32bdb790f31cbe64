//! The standard `process_*` metrics (memory, CPU, file descriptors, start time) that dashboards and
//! alerts expect of every exporter, read from `/proc` at scrape time.

use std::fmt::Write;

#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
}

/// The current process (through `procfs`), or `None` off Linux or when `/proc` is not readable.
pub fn current() -> Option<ProcessStats> {
    use procfs::WithCurrentSystemInfo;
    let me = procfs::process::Process::myself().ok()?;
    let stat = me.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    Some(ProcessStats {
        resident_bytes: stat.rss_bytes().get(),
        virtual_bytes: stat.vsize,
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        start_time_seconds: procfs::boot_time_secs().ok()? as f64 + stat.starttime as f64 / ticks,
        open_fds: me.fd_count().ok()? as u64,
    })
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
    fn the_live_process_is_measured() {
        let s = current().expect("/proc is readable on Linux");
        assert!(s.resident_bytes > 0 && s.open_fds > 0 && s.virtual_bytes >= s.resident_bytes);
        let now = jiff::Timestamp::now().as_second() as f64;
        assert!(s.start_time_seconds > now - 3600.0 && s.start_time_seconds <= now + 1.0, "started just now");
        let mut out = String::new();
        encode(&s, &mut out).expect("encodes");
        assert!(out.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    }
}
