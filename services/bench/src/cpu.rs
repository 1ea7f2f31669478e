//! CPU time per process over a measured window, read from /proc.
//!
//! Processes are found by their command name (`/proc/<pid>/comm`, the executable's name cut to 15
//! bytes): the services by their binary names, Postgres as every `postgres` process (postmaster, every
//! backend, the background workers), RabbitMQ as `beam.smp` plus its helpers, and the bench as itself.
//! A process's CPU time is `utime + stime` from `/proc/<pid>/stat` (all its threads, in clock ticks of
//! 1/100 s, Linux's fixed USER_HZ). A process that starts inside the window counts from zero; one that
//! exits inside it loses what it used (short-lived Postgres backends are rare here: the services pool
//! their connections). Several processes of one name (two realtime instances of a bench stack, every
//! Postgres backend) are summed into their group's line, which says how many processes it counted.

use std::collections::HashMap;

/// Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on every Linux architecture we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// A group of processes reported as one line, and the command names that belong to it.
pub struct Group {
    pub label: &'static str,
    pub names: &'static [&'static str],
}

pub const GROUPS: &[Group] = &[
    Group {
        label: "auth",
        names: &["auth"],
    },
    Group {
        label: "conversations",
        names: &["conversations"],
    },
    Group {
        label: "realtime",
        names: &["realtime"],
    },
    Group {
        label: "gateway",
        names: &["gateway"],
    },
    Group {
        label: "postgres",
        names: &["postgres"],
    },
    Group {
        label: "rabbitmq",
        names: &["beam.smp", "erl_child_setup", "inet_gethost", "epmd"],
    },
    Group {
        label: "bench",
        names: &["bench"],
    },
];

/// CPU ticks used so far by every process of every group, and by the whole machine.
pub struct Snapshot {
    /// (group index, pid) -> ticks.
    processes: HashMap<(usize, u32), u64>,
    /// Busy ticks of all CPUs together (from /proc/stat), everything on the machine counted.
    machine: u64,
}

pub fn snapshot() -> Snapshot {
    let mut processes = HashMap::new();
    let own = std::process::id();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((comm, ticks)) = read_stat(pid) else {
                continue;
            };
            // The bench is whatever this process is called.
            let group = if pid == own {
                GROUPS.iter().position(|g| g.label == "bench")
            } else {
                GROUPS.iter().position(|g| g.names.contains(&comm.as_str()))
            };
            if let Some(group) = group {
                processes.insert((group, pid), ticks);
            }
        }
    }
    Snapshot {
        processes,
        machine: machine_busy().unwrap_or(0),
    }
}

/// The command name and utime + stime of one process.
fn read_stat(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name sits in parentheses and may itself contain spaces or parentheses: cut at the last one.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Busy ticks of all CPUs: the `cpu` line of /proc/stat minus idle and iowait.
fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let busy: u64 = values.iter().take(8).sum::<u64>() - values.get(3)? - values.get(4)?;
    Some(busy)
}

/// CPU seconds per group between two snapshots, with how many processes each had at the end.
pub struct Usage {
    pub groups: Vec<(&'static str, f64, usize)>,
    pub machine: f64,
}

pub fn usage(before: &Snapshot, after: &Snapshot) -> Usage {
    let mut groups: Vec<(&'static str, f64, usize)> =
        GROUPS.iter().map(|g| (g.label, 0.0, 0)).collect();
    for (&(group, pid), &ticks) in &after.processes {
        let start = before.processes.get(&(group, pid)).copied().unwrap_or(0);
        groups[group].1 += ticks.saturating_sub(start) as f64 / TICKS_PER_SECOND;
        groups[group].2 += 1;
    }
    Usage {
        groups,
        machine: after.machine.saturating_sub(before.machine) as f64 / TICKS_PER_SECOND,
    }
}

/// Prints CPU seconds per group and per unit of work (`units` messages or deliveries).
pub fn print(usage: &Usage, units: u64, unit: &str) {
    let per = |seconds: f64| seconds * 1e6 / units.max(1) as f64;
    let mut counted = 0.0;
    println!("  CPU over the measured window (per {unit}):");
    for (label, seconds, processes) in &usage.groups {
        counted += seconds;
        if *processes == 0 {
            println!("    {label:<14} (not running here)");
        } else {
            println!(
                "    {label:<14} {seconds:>7.2} s  {:>6.0} us  ({processes} processes)",
                per(*seconds)
            );
        }
    }
    println!(
        "    {:<14} {counted:>7.2} s  {:>6.0} us",
        "all above",
        per(counted)
    );
    println!(
        "    {:<14} {:>7.2} s  {:>6.0} us  (everything on the machine, from /proc/stat)",
        "machine",
        usage.machine,
        per(usage.machine)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(label: &str) -> usize {
        GROUPS
            .iter()
            .position(|g| g.label == label)
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn processes_of_one_group_are_summed_and_counted() {
        let realtime = group("realtime");
        let before = Snapshot {
            processes: HashMap::from([((realtime, 10), 100), ((realtime, 11), 50)]),
            machine: 1_000,
        };
        // The second instance used 1.5 s, the first 2 s; a third started inside the window (0.25 s).
        let after = Snapshot {
            processes: HashMap::from([
                ((realtime, 10), 300),
                ((realtime, 11), 200),
                ((realtime, 12), 25),
            ]),
            machine: 2_000,
        };
        let usage = usage(&before, &after);
        let (label, seconds, processes) = usage.groups[realtime];
        assert_eq!(label, "realtime");
        assert!((seconds - 3.75).abs() < 1e-9, "{seconds}");
        assert_eq!(processes, 3);
        assert!((usage.machine - 10.0).abs() < 1e-9);
    }
}
