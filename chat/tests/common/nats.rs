//! A nats-server of the test's own (its port), which a fault test may stop and start again
//! on the same port; the shared one is never touched. Ended by its child's PID.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private NATS server; killed when dropped.
pub struct PrivateNats {
    /// The server while it runs.
    server: Option<Child>,
    /// Its client port on 127.0.0.1.
    pub port: u16,
}

impl PrivateNats {
    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> PrivateNats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = PrivateNats { server: None, port };
        nats.resume();
        nats
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (by its PID) and waits for it to end.
    pub fn halt(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts the server again on its port and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.server.is_none(), "the server is running");
        let server = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (installed by .ci/run) must be on PATH");
        self.server = Some(server);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not listen on {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.halt();
    }
}
