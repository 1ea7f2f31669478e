//! Latency summaries and process memory.

use std::time::Duration;

/// p50, p99 and max of the samples (sorted in place).
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// Resident memory (KiB) of every process whose command name is `name`, summed.
pub fn rss_kib(name: &str) -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim() != name {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(path.join("status")) else {
            continue;
        };
        let rss = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(rss) = rss {
            *total.get_or_insert(0) += rss;
        }
    }
    total
}

/// One line per service: its resident memory if it runs on this machine.
pub fn print_memory(services: &[&str]) {
    for service in services {
        match rss_kib(service) {
            Some(kib) => println!("  {service:<14} RSS {:.1} MiB", kib as f64 / 1024.0),
            None => println!("  {service:<14} (not running here)"),
        }
    }
}
