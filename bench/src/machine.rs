//! The machine a figure was measured on, read from `/proc` and `uname`, so every report row
//! says where it comes from.

use serde::{Deserialize, Serialize};

/// Where a benchmark ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// UTC time of the run (RFC 3339, seconds).
    pub date: String,
    /// The commit measured (`git describe --always --dirty`: `-dirty` when the work tree
    /// had uncommitted changes), or "unknown".
    pub commit: String,
}

impl Machine {
    /// Reads the current machine.
    pub fn current() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_once(':'))
                .map(|(_, value)| value.trim().to_owned())
        };
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: command_output("uname", &["-r"]),
            date: command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            commit: command_output("git", &["describe", "--always", "--dirty"]),
        }
    }

    /// One line for a report.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} CPUs), {} GiB RAM, Linux {}",
            self.cpu, self.cpus, self.memory_gib, self.kernel
        )
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
