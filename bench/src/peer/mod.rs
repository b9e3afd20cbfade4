//! `bench peer`: the gateway beside a peer, the most used local emulator of AWS WebSocket
//! APIs (serverless-offline, in its fastest mode: `--useInProcess`, the handler in the
//! emulator's own process), on the same fan-out as `bench fanout` with the same clients.
//! Three targets per room size:
//! - `gateway-chat`: the chat linked into the node (what this project ships);
//! - `gateway-http`: the peer's Node.js handler (`handler.js`) as an HTTP function of the
//!   node, pushing back through the node's push API with the AWS SDK v3;
//! - `serverless-offline`: the same handler under serverless-offline.
//!
//! The figure that compares is server CPU per delivery (user + sys of the server
//! processes, the Node runner included, over the burst ÷ deliveries): unlike deliveries per
//! second it does not count the clients, which share the cores.
//!
//! serverless-offline is installed with npm into a cache folder on first use (about 40 s);
//! without npm the benchmark says so and measures nothing.
//!
//! # Layout
//! - `mod.rs`: the targets, the run, the report.
//! - `handler.js`, `http-runner.mjs`, `serverless.yml`: the peer's service, written into
//!   the cache folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::fanout::server::ServerProcess;
use crate::fanout::{Joining, Runs, Side, measure_with};
use crate::machine::Machine;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The handler, the runner that serves it over HTTP, the emulator's service file.
const HANDLER: &str = include_str!("handler.js");
const RUNNER: &str = include_str!("http-runner.mjs");
const SERVICE: &str = include_str!("serverless.yml");

/// What npm installs into the cache: serverless 3 (4 needs an account), the plugin, and
/// the SDK the handler requires (Lambda's Node.js runtimes carry it; the emulator does not).
const PACKAGES: &str = r#"{
  "name": "wsgw-peer-bench",
  "private": true,
  "dependencies": {
    "serverless": "3.40.0",
    "serverless-offline": "13.10.1",
    "@aws-sdk/client-apigatewaymanagementapi": "3.1178.0"
  }
}
"#;

/// The frame a client of the handler sends to be welcomed.
const HELLO: &str = r#"{"type":"hello"}"#;

/// The credentials the handler's SDK signs with (nobody checks them: the gateway's push
/// API is open in this benchmark, as the emulator's is).
const ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIDPEERBENCH"),
    ("AWS_SECRET_ACCESS_KEY", "peer-bench-secret"),
    ("AWS_REGION", "us-east-1"),
];

/// What runs the fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The chat linked into the node.
    GatewayChat,
    /// The Node.js handler as an HTTP function of the node.
    GatewayHttp,
    /// The Node.js handler under serverless-offline.
    ServerlessOffline,
}

impl Target {
    /// Every target, in report order.
    pub const ALL: [Target; 3] = [
        Target::GatewayChat,
        Target::GatewayHttp,
        Target::ServerlessOffline,
    ];

    /// Its name in the command line and the report.
    pub fn name(self) -> &'static str {
        match self {
            Target::GatewayChat => "gateway-chat",
            Target::GatewayHttp => "gateway-http",
            Target::ServerlessOffline => "serverless-offline",
        }
    }

    /// The target named `name`.
    pub fn parse(name: &str) -> Result<Target, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                format!("unknown target `{name}` (gateway-chat, gateway-http, serverless-offline)")
            })
    }
}

/// What `bench peer` was asked.
#[derive(Debug, Clone)]
pub struct PeerArgs {
    /// Room sizes (clients, the sender included).
    pub clients: Vec<usize>,
    /// Timed messages, one at a time.
    pub messages: usize,
    /// Messages for deliveries per second (16 in flight).
    pub burst: usize,
    /// Deliveries the chat's burst makes at least (it is a hundred times cheaper than the
    /// handler, and CPU time is read in 10 ms ticks: 500,000 at 2 µs is a second).
    pub chat_deliveries: usize,
    /// The targets, in this order.
    pub targets: Vec<Target>,
    /// Where serverless-offline is installed and the service written.
    pub cache: PathBuf,
    /// Where the handler finds the AWS SDK when serverless-offline is not measured (no
    /// install then); none: the cache's.
    pub node_path: Option<PathBuf>,
    /// The bench executable (it serves the gateway in a child process).
    pub exe: PathBuf,
}

/// The result of `bench peer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerReport {
    /// Where it ran.
    pub machine: Machine,
    /// The command.
    pub command: String,
    /// What ran the peer and the handler.
    pub versions: Versions,
    /// One row per room size and target.
    pub rows: Vec<PeerRow>,
}

/// The versions of what the benchmark did not write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// `node --version`.
    pub node: String,
    /// serverless (the framework), if installed.
    pub serverless: Option<String>,
    /// serverless-offline, if installed.
    pub serverless_offline: Option<String>,
    /// `@aws-sdk/client-apigatewaymanagementapi`, as the handler loads it.
    pub aws_sdk: Option<String>,
}

/// One target at one room size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRow {
    /// Clients in the room.
    pub clients: usize,
    /// `gateway-chat`, `gateway-http` or `serverless-offline`.
    pub target: String,
    /// Server CPU (user + sys) per delivery over the burst, µs: the gateway's process,
    /// with the Node runner's for `gateway-http`; the emulator's process.
    pub cpu_us_per_delivery: f64,
    /// Deliveries per second over the burst.
    pub deliveries_per_sec: f64,
    /// Send → the last of the others received it, median, ms.
    pub p50_ms: f64,
    /// The same, 99th percentile, ms.
    pub p99_ms: f64,
    /// The server processes' resident memory with every client connected, MiB.
    pub rss_mib: f64,
    /// CPU per delivery over the peer's at the same size (absent when the peer was not
    /// measured).
    pub ratio_to_peer: Option<f64>,
}

/// Runs the benchmark; `None` when serverless-offline was asked for and npm is missing.
pub async fn run(args: &PeerArgs) -> Result<Option<PeerReport>, BoxError> {
    if args.clients.iter().any(|&n| n < 2) {
        return Err("a room needs at least 2 clients (a sender and a receiver)".into());
    }
    let with_peer = args.targets.contains(&Target::ServerlessOffline);
    if with_peer && !install(&args.cache).await? {
        return Ok(None);
    }
    let service = args.cache.join("service");
    std::fs::create_dir_all(&service)?;
    for (name, text) in [
        ("handler.js", HANDLER),
        ("http-runner.mjs", RUNNER),
        ("serverless.yml", SERVICE),
    ] {
        std::fs::write(service.join(name), text)?;
    }
    let node_modules = match (&args.node_path, with_peer) {
        (Some(path), false) => path.clone(),
        _ => args.cache.join("node_modules"),
    };
    let runs = Runs {
        messages: args.messages,
        burst: args.burst,
        settle_secs: 0,
    };
    let mut rows = Vec::new();
    for &n in &args.clients {
        let mut measured = Vec::new();
        for &target in &args.targets {
            eprintln!("peer: {n} clients, {}", target.name());
            let side = measure(target, n, runs, args, &service, &node_modules).await?;
            eprintln!(
                "peer: {n} clients, {}: {:.1} µs/delivery, {:.0} deliveries/s, p50 {:.2} ms",
                target.name(),
                side.cpu_us_per_delivery.unwrap_or(f64::NAN),
                side.deliveries_per_sec,
                side.latency.p50_ms
            );
            measured.push((target, side));
        }
        let peer_cpu = measured
            .iter()
            .find(|(t, _)| *t == Target::ServerlessOffline)
            .and_then(|(_, side)| side.cpu_us_per_delivery);
        for (target, side) in measured {
            let cpu = side.cpu_us_per_delivery.unwrap_or(f64::NAN);
            rows.push(PeerRow {
                clients: n,
                target: target.name().to_owned(),
                cpu_us_per_delivery: cpu,
                deliveries_per_sec: side.deliveries_per_sec,
                p50_ms: side.latency.p50_ms,
                p99_ms: side.latency.p99_ms,
                rss_mib: side.rss_connected_mib.unwrap_or(f64::NAN),
                ratio_to_peer: peer_cpu.map(|peer| cpu / peer),
            });
        }
    }
    let names: Vec<&str> = args.targets.iter().map(|t| t.name()).collect();
    let sizes: Vec<String> = args.clients.iter().map(ToString::to_string).collect();
    Ok(Some(PeerReport {
        machine: Machine::current(),
        command: format!(
            "cargo run --release -p bench -- peer --clients {} --messages {} --burst {} \
             --chat-deliveries {} --targets {}",
            sizes.join(","),
            args.messages,
            args.burst,
            args.chat_deliveries,
            names.join(",")
        ),
        versions: Versions {
            node: command_output("node", &["--version"]).await,
            serverless: package_version(&node_modules, "serverless").filter(|_| with_peer),
            serverless_offline: package_version(&node_modules, "serverless-offline")
                .filter(|_| with_peer),
            aws_sdk: package_version(&node_modules, "@aws-sdk/client-apigatewaymanagementapi"),
        },
        rows,
    }))
}

/// Installs the peer into `cache` unless it is there; false when npm is missing.
async fn install(cache: &Path) -> Result<bool, BoxError> {
    let installed = ["serverless", "serverless-offline"]
        .iter()
        .all(|p| package_version(&cache.join("node_modules"), p).is_some());
    if installed {
        return Ok(true);
    }
    if Command::new("npm").arg("--version").output().await.is_err() {
        eprintln!(
            "bench peer: skipped: npm is not installed (it installs serverless-offline into {})",
            cache.display()
        );
        return Ok(false);
    }
    std::fs::create_dir_all(cache)?;
    std::fs::write(cache.join("package.json"), PACKAGES)?;
    eprintln!(
        "peer: installing serverless-offline into {}",
        cache.display()
    );
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(cache)
        .status()
        .await?;
    if !status.success() {
        return Err(format!("npm install in {} failed: {status}", cache.display()).into());
    }
    Ok(true)
}

/// One target with `n` clients.
async fn measure(
    target: Target,
    n: usize,
    runs: Runs,
    args: &PeerArgs,
    service: &Path,
    node_modules: &Path,
) -> Result<Side, BoxError> {
    let exe = args.exe.as_path();
    // The chat's store (unused by the HTTP function's node), for the run only.
    let data = tempfile::tempdir()?;
    let store = format!("sqlite://{}", data.path().join("peer.db").display());
    let handler_joins = Joining {
        path: "/ws",
        hello: Some(HELLO),
        presence: false,
    };
    match target {
        Target::GatewayChat => {
            let chat_deliveries = args.chat_deliveries;
            let node_args = ["serve-gateway", "--store", &store];
            let node = ServerProcess::start(exe, &node_args).await?;
            // The chat spends ~2 µs a delivery: a burst the handler's size would be a tick
            // or two of CPU time (10 ms each).
            let runs = Runs {
                burst: runs.burst.max(chat_deliveries / (n - 1)),
                ..runs
            };
            measure_with(vec![node], &[], n, runs, Joining::CHAT).await
        }
        Target::GatewayHttp => {
            let mut command = Command::new("node");
            command
                .arg(service.join("http-runner.mjs"))
                .arg(service.join("handler.js"))
                .env("NODE_PATH", node_modules)
                .envs(ENV);
            let ready = |line: &str| line.strip_prefix("ready ").map(str::to_owned);
            let runner = ServerProcess::start_command(command, ready, false).await?;
            let url = format!("http://{}", runner.addr);
            let node_args = ["serve-gateway", "--store", &store, "--functions-url", &url];
            let node = ServerProcess::start(exe, &node_args).await?;
            measure_with(vec![node], &[runner], n, runs, handler_joins).await
        }
        Target::ServerlessOffline => {
            let [websocket, http, lambda] = free_ports()?;
            let cli = args.cache.join("node_modules/serverless/bin/serverless.js");
            let mut command = Command::new("sh");
            // exec: the emulator is the child itself (its CPU is the child's); its log
            // (on stderr) read with its stdout for the ready line.
            command
                .args(["-c", "exec \"$@\" 2>&1", "sh", "node"])
                .arg(cli)
                .args(["offline", "start", "--useInProcess", "--host", "127.0.0.1"])
                .args(["--websocketPort", &websocket.to_string()])
                .args(["--httpPort", &http.to_string()])
                .args(["--lambdaPort", &lambda.to_string()])
                .current_dir(service)
                .env("PUSH_ENDPOINT", format!("http://127.0.0.1:{websocket}"))
                .env("SLS_TELEMETRY_DISABLED", "1")
                .env("SLS_NOTIFICATIONS_MODE", "off")
                .env("SLS_DEPRECATION_DISABLE", "*")
                .envs(ENV);
            let ready = |line: &str| {
                line.split_once("[http for websocket] listening on http://")
                    .map(|(_, addr)| addr.trim().to_owned())
            };
            let peer = ServerProcess::start_command(command, ready, false).await?;
            let joins = Joining {
                path: "/",
                ..handler_joins
            };
            measure_with(vec![peer], &[], n, runs, joins).await
        }
    }
}

/// Three loopback ports free a moment ago (the emulator takes ports, not a listener).
fn free_ports() -> Result<[u16; 3], BoxError> {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut ports = [0; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// The version in `node_modules/<name>/package.json`, if installed.
fn package_version(node_modules: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(node_modules.join(name).join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("version")?.as_str().map(str::to_owned)
}

async fn command_output(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(_) => "unknown".to_owned(),
    }
}
