//! The gateway binary as a child process: started on loopback ports 0 with a store of its
//! own, its two addresses read from its stdout, its memory read from /proc, ended by PID.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::output::find_then_drain;

/// A running gateway binary; killed when dropped.
pub struct Binary {
    /// The process.
    child: Child,
    /// Page and WebSocket listener.
    pub app: SocketAddr,
    /// Push-back API listener.
    pub push: SocketAddr,
    /// Its store's directory.
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Starts the binary with `args` after the listeners and a fresh SQLite store.
    pub fn start(args: &[&str]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite://{}", dir.path().join("connections.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["--listen", "127.0.0.1:0", "--push-listen", "127.0.0.1:0"])
            .args(["--store", &store])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the gateway binary");
        let (mut app, mut push) = (None, None);
        let found = find_then_drain(child.stdout.take().unwrap(), |line| {
            let address = |url: &str| {
                let url = url
                    .trim()
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                url.parse::<SocketAddr>().ok()
            };
            if let Some(url) = line.strip_prefix("chat:") {
                app = address(url);
            } else if let Some(url) = line.strip_prefix("push API:") {
                push = address(url);
            }
            app.zip(push)
        });
        let (app, push) = found.expect("the gateway printed both addresses");
        Binary {
            child,
            app,
            push,
            _dir: dir,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of its `/proc/<pid>/status`, in KiB (`VmRSS`: resident now; `VmHWM`: the
    /// most ever resident).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Sends SIGTERM (a graceful shutdown) and waits up to `within` for the exit; how long
    /// it took.
    pub async fn terminate(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < within,
                "the gateway did not exit within {within:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
