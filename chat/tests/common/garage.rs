//! A single-node Garage of the test's own (its directory, its ports), which a fault test
//! may stop and start at will; the shared one of `scripts/test` is never touched. Ended by
//! its child's PID, never by name.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private Garage; killed when dropped.
pub struct PrivateGarage {
    /// Config, metadata, data, log (deleted on drop).
    dir: tempfile::TempDir,
    /// The server while it runs.
    server: Option<Child>,
    /// Its S3 port on 127.0.0.1.
    pub s3_port: u16,
    /// The key allowed on bucket `conns`: id and secret.
    pub key: (String, String),
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateGarage {
    fn config(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    /// `garage -c <config> <args>`, its stdout; panics with its output when it fails.
    fn garage(&self, args: &[&str]) -> String {
        let out = Command::new("garage")
            .arg("-c")
            .arg(self.config())
            .args(args)
            .output()
            .expect("garage (installed by .ci/run) must be on PATH");
        assert!(
            out.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Configures a node on free ports, starts it, and makes bucket `conns` and a key.
    pub fn start() -> PrivateGarage {
        let dir = tempfile::tempdir().unwrap();
        let (s3_port, rpc_port, admin_port) = (free_port(), free_port(), free_port());
        let secret: String = (0..64)
            .map(|i| char::from(b"0123456789abcdef"[(i * 7 + s3_port as usize) % 16]))
            .collect();
        let d = dir.path().display();
        let config = format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
             replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc_port}\"\nrpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\n\
             root_domain = \".s3.garage.localhost\"\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin_port}\"\n"
        );
        std::fs::write(dir.path().join("garage.toml"), config).unwrap();
        let mut garage = PrivateGarage {
            dir,
            server: None,
            s3_port,
            key: (String::new(), String::new()),
        };
        garage.resume();
        let node = garage.garage(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap().to_owned();
        garage.garage(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.garage(&["layout", "apply", "--version", "1"]);
        // The key the S3 store finds in the environment (scripts/test exports the shared
        // Garage's), imported here, so that the store reaches this Garage with it.
        let env = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run ./scripts/test, which exports a Garage key")
            })
        };
        garage.key = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"));
        let (id, secret) = garage.key.clone();
        garage.garage(&["key", "import", "--yes", "-n", "fault-key", &id, &secret]);
        garage.garage(&["bucket", "create", "conns"]);
        garage.garage(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "conns",
            "--key",
            "fault-key",
        ]);
        garage
    }

    /// `s3://conns/<prefix>?…` for it.
    pub fn url(&self, prefix: &str) -> String {
        format!(
            "s3://conns/{prefix}?endpoint=http://127.0.0.1:{}&region=garage&path_style=true",
            self.s3_port
        )
    }

    /// Starts the server (again, on the same data), waiting until it answers.
    pub fn resume(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = Command::new("garage")
            .arg("-c")
            .arg(self.config())
            .arg("server")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("garage (installed by .ci/run) must be on PATH");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = Command::new("garage")
                .arg("-c")
                .arg(self.config())
                .arg("status")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            let s3_up = std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok();
            if status.success() && s3_up {
                return;
            }
            assert!(Instant::now() < deadline, "garage did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server (SIGKILL, by its PID) and waits for it.
    pub fn halt(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Drop for PrivateGarage {
    fn drop(&mut self) {
        self.halt();
    }
}
