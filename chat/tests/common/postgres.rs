//! A PostgreSQL server of the test's own (its data directory, its port), which a fault test
//! may stop and start at will; the shared server on 5432 is never touched. Ended by its PID
//! file's PID through `pg_ctl`, never by name.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

/// A private PostgreSQL server; stopped when dropped.
pub struct PrivatePostgres {
    /// Data directory, socket directory and log (deleted on drop).
    dir: tempfile::TempDir,
    /// Where `initdb` and `pg_ctl` live.
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

/// Runs `line` as the `postgres` user (PostgreSQL refuses to run as root).
async fn as_postgres(line: &str) -> std::process::ExitStatus {
    Command::new("su")
        .args(["postgres", "-c", line])
        .status()
        .await
        .expect("run su")
}

impl PrivatePostgres {
    /// Creates a cluster in a temporary directory and starts it on a free port, with a
    /// database `test`.
    pub async fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["postgres", dir.path().to_str().unwrap()])
            .status()
            .await
            .unwrap();
        assert!(status.success(), "chown the private cluster's directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PrivatePostgres { dir, bin, port };
        let initdb = format!(
            "{}/initdb -D {}/data -A trust -U postgres > {}/initdb.log 2>&1",
            server.bin.display(),
            server.dir.path().display(),
            server.dir.path().display()
        );
        assert!(as_postgres(&initdb).await.success(), "initdb failed");
        server.resume().await;
        let create = format!(
            "{}/createdb -h 127.0.0.1 -p {} -U postgres test",
            server.bin.display(),
            port
        );
        assert!(as_postgres(&create).await.success(), "createdb failed");
        server
    }

    /// `postgres://…` of its database `test`, with `options` appended to the query.
    pub fn url(&self, options: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test?{options}", self.port)
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub async fn resume(&self) {
        let start = format!(
            "{}/pg_ctl -D {d}/data -o '-p {} -k {d} -c listen_addresses=127.0.0.1' -l {d}/log -w start > {d}/ctl.log 2>&1",
            self.bin.display(),
            self.port,
            d = self.dir.path().display()
        );
        assert!(as_postgres(&start).await.success(), "pg_ctl start failed");
    }

    /// Stops the server now (`-m fast`: open sessions are cut), waiting until it is down.
    pub async fn halt(&self) {
        let stop = format!(
            "{}/pg_ctl -D {d}/data -m fast -w -t 30 stop > {d}/ctl.log 2>&1",
            self.bin.display(),
            d = self.dir.path().display()
        );
        assert!(as_postgres(&stop).await.success(), "pg_ctl stop failed");
        // Down means refusing connections.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            assert!(tokio::time::Instant::now() < deadline, "still accepting");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let stop = format!(
            "{}/pg_ctl -D {}/data -m immediate stop",
            self.bin.display(),
            self.dir.path().display()
        );
        let _ = std::process::Command::new("su")
            .args(["postgres", "-c", &stop])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
