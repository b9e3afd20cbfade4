//! The gateway binary as a child process: started on loopback ports 0 (with a store of its
//! own unless the test names one), its two addresses read from what it prints, its memory
//! read from /proc, signalled and ended by its PID — this child's only.
//!
//! [`command`] is the binary for one-shot runs (`gateway sweep`, a start that must fail);
//! [`Binary::start`] / [`Binary::launch`] start a node and wait for its addresses.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::output::find_then_drain;

/// The gateway binary of this package, as a command to add arguments to.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
}

/// A running gateway binary; killed (by its PID) when dropped.
pub struct Binary {
    /// The process (a test may wait for it, or read its exit status).
    pub child: Child,
    /// Page and WebSocket listener.
    pub app: SocketAddr,
    /// Push-back API listener.
    pub push: SocketAddr,
    /// The directory of the store it was given, when the test named none.
    _dir: Option<tempfile::TempDir>,
}

/// A node to start: the binary with `--listen 127.0.0.1:0 --push-listen 127.0.0.1:0`, and
/// what the test adds. [`Launch::start`] starts it.
pub struct Launch {
    /// The command, listeners set.
    command: Command,
    /// Whether the arguments name a `--store` (else a fresh SQLite store is added).
    has_store: bool,
    /// Where stdout goes, when not to this test: the addresses are then read from the
    /// log on stderr (its `listening` line).
    stdout: Option<Stdio>,
    /// Where stderr goes (default: the test's own).
    stderr: Option<Stdio>,
    /// The push listener's address (default: a free loopback port).
    push_listen: String,
}

impl Launch {
    /// Adds arguments (after the listeners).
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Launch {
        for arg in args {
            let arg = arg.as_ref();
            let flag = arg.to_string_lossy();
            if flag == "--store" || flag.starts_with("--store=") {
                self.has_store = true;
            }
            self.command.arg(arg);
        }
        self
    }

    /// Has the push API listen at `addr` (functions configured with its address before
    /// the node starts need it known).
    pub fn push_listen(mut self, addr: std::net::SocketAddr) -> Launch {
        self.push_listen = addr.to_string();
        self
    }

    /// Sets an environment variable of the binary.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Launch {
        self.command.env(key, value);
        self
    }

    /// Sets environment variables of the binary.
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Launch {
        self.command.envs(vars);
        self
    }

    /// Sends its stderr to `stderr`.
    pub fn stderr(mut self, stderr: impl Into<Stdio>) -> Launch {
        self.stderr = Some(stderr.into());
        self
    }

    /// Sends its stdout to `stdout` instead of this test; the addresses are then read from
    /// its log's `listening` line on stderr, which must be at `info` (`RUST_LOG`).
    pub fn stdout(mut self, stdout: impl Into<Stdio>) -> Launch {
        self.stdout = Some(stdout.into());
        self
    }

    /// Starts the binary and waits until it has said where it listens; panics if it ends
    /// first.
    pub fn start(mut self) -> Binary {
        self.command.args(["--push-listen", &self.push_listen]);
        let dir = (!self.has_store).then(|| tempfile::tempdir().unwrap());
        if let Some(dir) = &dir {
            let store = format!("sqlite://{}", dir.path().join("connections.db").display());
            self.command.args(["--store", &store]);
        }
        let from_log = self.stdout.is_some();
        match self.stdout {
            Some(stdout) => self.command.stdout(stdout).stderr(Stdio::piped()),
            None => self.command.stdout(Stdio::piped()),
        };
        if let (false, Some(stderr)) = (from_log, self.stderr) {
            self.command.stderr(stderr);
        }
        let mut child = self.command.spawn().expect("start the gateway binary");
        let found = if from_log {
            find_then_drain(child.stderr.take().unwrap(), logged_addresses)
        } else {
            let (mut app, mut push) = (None, None);
            find_then_drain(child.stdout.take().unwrap(), |line| {
                if let Some(url) = line.strip_prefix("chat:") {
                    app = printed_address(url);
                } else if let Some(url) = line.strip_prefix("push API:") {
                    push = printed_address(url);
                }
                app.zip(push)
            })
        };
        let Some((app, push)) = found else {
            let status = child.wait().unwrap();
            panic!("the gateway said no addresses ({status})");
        };
        Binary {
            child,
            app,
            push,
            _dir: dir,
        }
    }
}

/// The address of a URL the binary prints (`  http://127.0.0.1:PORT/`).
fn printed_address(url: &str) -> Option<SocketAddr> {
    let url = url
        .trim()
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    url.parse().ok()
}

/// Both addresses of the log's `listening chat=<addr> push=<addr> …` line.
fn logged_addresses(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let (_, fields) = line.split_once("listening ")?;
    let field = |name: &str| {
        fields
            .split_whitespace()
            .find_map(|field| field.strip_prefix(name)?.parse().ok())
    };
    field("chat=").zip(field("push="))
}

impl Binary {
    /// Starts the binary with `args` after the listeners (and a fresh SQLite store unless
    /// they name one).
    pub fn start(args: &[&str]) -> Binary {
        Binary::launch().args(args).start()
    }

    /// A node to start with more than arguments (environment, stdout, stderr).
    pub fn launch() -> Launch {
        let mut command = command();
        command.args(["--listen", "127.0.0.1:0"]);
        Launch {
            command,
            has_store: false,
            stdout: None,
            stderr: None,
            push_listen: "127.0.0.1:0".into(),
        }
    }

    /// `http://<app>/`, as the binary prints it: the page; `ws` after it is the socket.
    pub fn chat_url(&self) -> String {
        format!("http://{}/", self.app)
    }

    /// `http://<push>`, as the binary prints it (without the slash).
    pub fn push_url(&self) -> String {
        format!("http://{}", self.push)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends it `signal` (`-TERM`, `-STOP`, `-KILL`…) with `kill`, by its PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {}", self.pid());
    }

    /// Waits for it to exit; its status.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
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
        self.signal("-TERM");
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
