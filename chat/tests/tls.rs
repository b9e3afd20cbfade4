//! TLS on both listeners (`--tls-cert`, `--tls-key`): `wss://` and `https://` with clients
//! nobody on the team wrote (Python `websockets`, boto3 trusting `AWS_CA_BUNDLE`, the JS SDK
//! v3 trusting `NODE_EXTRA_CA_CERTS`, reqwest),
//! a certificate from a CA the test makes with `openssl`; the certificate read again on
//! SIGHUP while a connection made before stays up, and a broken one refused on reload
//! (the old one stays).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod common;

use common::binary::Binary;
use common::output::succeeds;
use common::python::{python, script};

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and two leaf certificates it signed for 127.0.0.1 and localhost
/// (`leaf1.pem`/`leaf1.key` with serial 1, `leaf2…` with serial 2).
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test CA",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    for n in ["1", "2"] {
        let (key, csr, pem) = (
            format!("leaf{n}.key"),
            format!("leaf{n}.csr"),
            format!("leaf{n}.pem"),
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                n,
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                &pem,
            ],
        );
    }
}

/// The serial of the certificate `addr` presents now (`openssl s_client`).
fn serial(addr: std::net::SocketAddr, ca: &Path) -> String {
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
        .arg(ca)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pem = Vec::new();
    std::io::Read::read_to_end(client.stdout.as_mut().unwrap(), &mut pem).unwrap();
    let _ = client.wait();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(x509.stdin.as_mut().unwrap(), &pem).unwrap();
    let out = x509.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits (bounded) until `addr` presents the certificate of serial `want`.
async fn serial_becomes(addr: std::net::SocketAddr, ca: &Path, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = serial(addr, ca);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} presents {now:?}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn install(dir: &Path, leaf: &str) {
    std::fs::copy(dir.join(format!("{leaf}.pem")), dir.join("cert.pem")).unwrap();
    std::fs::copy(dir.join(format!("{leaf}.key")), dir.join("key.pem")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listeners_speak_tls_and_a_certificate_is_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    certificates(dir);
    install(dir, "leaf1");
    let (cert, key, ca) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    let node = Binary::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    for (addr, path) in [(node.app, "/"), (node.push, "/healthz")] {
        let answer = https
            .get(format!("https://{addr}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("https://{addr}{path}: {e}"));
        assert_eq!(answer.status().as_u16(), 200, "https://{addr}{path}");
    }
    let plain = reqwest::get(format!("http://{}/healthz", node.push)).await;
    assert!(plain.is_err(), "plain HTTP was answered on a TLS listener");

    // boto3 and `websockets`, trusting the test's CA.
    let mut clients = Command::new(python());
    clients
        .arg(script("clients.py"))
        .args([
            "tls",
            &format!("https://{}/production", node.push),
            &format!("wss://{}/ws", node.app),
        ])
        .env("AWS_CA_BUNDLE", &ca);
    let said = succeeds(clients, "clients.py (set TEST_PYTHON)");
    assert!(
        said.contains("ok wss") && said.contains("ok GoneException"),
        "{said}"
    );
    // AWS's JavaScript SDK v3 over https, trusting the CA as Node.js does.
    let node_path = std::env::var("TEST_NODE_PATH").expect(
        "TEST_NODE_PATH (scripts/services.sh ensure_node_packages installs the JS SDK there)",
    );
    let mut js = Command::new("node");
    js.arg(script("aws_js_sdk.js"))
        .arg(format!("https://{}/production", node.push))
        .env("NODE_PATH", node_path)
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .env("AWS_ACCESS_KEY_ID", "unused")
        .env("AWS_SECRET_ACCESS_KEY", "unused");
    let said = succeeds(js, "node");
    assert!(
        said.contains("ok GoneException") && said.contains("ok ForbiddenException"),
        "{said}"
    );

    // A connection made with the first certificate...
    let mut holder = tokio::process::Command::new(python())
        .arg(script("clients.py"))
        .args(["hold", &format!("wss://{}/ws", node.app)])
        .env("AWS_CA_BUNDLE", &ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut said = BufReader::new(holder.stdout.take().unwrap()).lines();
    let mut tell = holder.stdin.take().unwrap();
    let next = |line: Option<String>| line.expect("the holder exited");
    assert_eq!(next(said.next_line().await.unwrap()), "open");
    assert_eq!(serial(node.app, &ca), "serial=01");

    // ...outlives a reload: new handshakes get the second.
    install(dir, "leaf2");
    node.signal("-HUP");
    serial_becomes(node.app, &ca, "serial=02").await;
    serial_becomes(node.push, &ca, "serial=02").await;
    tell.write_all(b"ping\n").await.unwrap();
    assert_eq!(next(said.next_line().await.unwrap()), "pong");

    // A broken certificate is refused on reload; the one in use stays.
    std::fs::write(&cert, "not a certificate").unwrap();
    node.signal("-HUP");
    let https_after = https
        .get(format!("https://{}/healthz", node.push))
        .send()
        .await
        .unwrap();
    assert_eq!(https_after.status().as_u16(), 200);
    assert_eq!(serial(node.app, &ca), "serial=02");
    tell.write_all(b"ping\n").await.unwrap();
    assert_eq!(next(said.next_line().await.unwrap()), "pong");
}
