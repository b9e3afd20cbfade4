//! `bench fanout`: N real WebSocket clients in one room, one sender; the time from a send
//! until the last of the other N-1 clients received it, deliveries per second when the
//! sender bursts, and the server's resident memory per idle connection, for the gateway on
//! the embedded default store (SQLite) and for the floor (a bare tokio broadcast server),
//! on the same clients in the same run.
//!
//! # Layout
//! - `server`: the gateway and the floors, each in a child process.
//! - `raw`: the raw floor (the frame encoded once, one write per socket per batch).
//! - `line`: the line every floor sends (the chat's own, so the bytes match the gateway's).
//! - `clients`: the connections and the delivery tracker.

pub mod clients;
pub mod line;
pub mod raw;
pub mod server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::stats::Summary;
use clients::{Tracker, connect_all};
use server::ServerProcess;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The tuned floor's socket settings: the gateway's read buffer, and its gather size as
/// the write buffer (the most the gateway writes at once).
pub fn socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    let limits = gateway::Limits::default();
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(limits.write_buffer_bytes)
}

/// The benchmark's clients' socket settings: 4 KiB buffers, fixed so that a change to the
/// gateway's defaults does not change the clients' cost. tungstenite's defaults (128 KiB)
/// zero-fill that much before every read, which made the clients, not the servers, the
/// largest CPU cost of a run.
pub fn client_socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
}

/// What `bench fanout` was asked.
#[derive(Debug, Clone)]
pub struct FanoutArgs {
    /// Room sizes (clients, the sender included).
    pub clients: Vec<usize>,
    /// Timed messages, sent one at a time.
    pub messages: usize,
    /// Messages for the throughput figure, sent with a window of 16 in flight.
    pub burst: usize,
    /// The chat's presence window, ms.
    pub presence_window_ms: u64,
    /// The gateway nodes' shared store (default: a fresh SQLite file, one node only).
    pub store: Option<String>,
    /// Gateway nodes, each its own process over the one store; clients split evenly.
    pub nodes: usize,
    /// Seconds the servers are left idle with every client connected before their memory
    /// is read again (0: not read again).
    pub settle_secs: u64,
    /// The chat's functions behind HTTP in a process of their own (the gateway's
    /// HTTP-function path), instead of linked into the node.
    pub http_functions: bool,
    /// Rounds of every server at each size (one node only); each server's figures are
    /// its median round by CPU per delivery.
    pub repeat: usize,
    /// The nodes' link: NATS at this URL, else HTTP (their push API).
    pub node_link: Option<String>,
    /// Over NATS, chat lines go to their room's group subject (not ids per node).
    pub node_link_groups: bool,
    /// With several nodes: each node gets the CPUs ÷ the nodes as worker threads, so they
    /// run as many workers together as the one node alone (see [`node_workers`]).
    pub split_cores: bool,
    /// The bench executable (it serves both servers in child processes).
    pub exe: PathBuf,
}

/// The result of `bench fanout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutReport {
    /// Where it ran.
    pub machine: Machine,
    /// The command.
    pub command: String,
    /// Gateway nodes (1 unless measured with `--nodes`).
    #[serde(default = "one")]
    pub nodes: usize,
    /// The gateways' store: its scheme (`sled`, `postgres`, …).
    #[serde(default = "sled")]
    pub store: String,
    /// Where the chat's functions ran: `linked` (in the node) or `http` (an HTTP function
    /// server beside it, AWS Lambda proxy events, pushes through the push API).
    #[serde(default = "linked")]
    pub functions: String,
    /// Rounds each server ran at each size; its figures are from the round with its median
    /// CPU per delivery (1 in results from before rounds were repeated).
    #[serde(default = "one")]
    pub repeat: usize,
    /// With several nodes and `--split-cores`: each node's tokio worker threads (the one
    /// node alone keeps tokio's default, one a CPU). Absent: every node had the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_workers: Option<usize>,
    /// One row per room size.
    pub rows: Vec<FanoutRow>,
}

fn linked() -> String {
    "linked".to_owned()
}

fn one() -> usize {
    1
}

fn sled() -> String {
    "sled".to_owned()
}

/// Gateway and floor at one room size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutRow {
    /// Clients in the room.
    pub clients: usize,
    /// The gateway with the chat functions on sled.
    pub gateway: Side,
    /// The bare broadcast server, as written first (library defaults).
    pub floor: Side,
    /// The same server with the gateway's read buffer and write batching (absent in
    /// results from before it was measured).
    #[serde(default)]
    pub tuned_floor: Option<Side>,
    /// The raw floor: each frame encoded once and written to each socket with one write
    /// per batch, no WebSocket library (absent in results from before it was measured).
    #[serde(default)]
    pub floor_raw: Option<Side>,
    /// With several nodes: how they reached one another (`http` or `nats`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// With several nodes: one node alone on the same store, measured in the same run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_node: Option<Side>,
    /// With several nodes: their deliveries per second ÷ one node's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_to_one_node: Option<f64>,
}

/// One server's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// Send → last receive, over the timed messages.
    pub latency: Summary,
    /// Deliveries per second during the burst.
    pub deliveries_per_sec: f64,
    /// The server's CPU time (user + system; with `--http-functions` the function server's
    /// too) during the burst ÷ its deliveries, µs (absent in results from before it was
    /// measured).
    #[serde(default)]
    pub cpu_us_per_delivery: Option<f64>,
    /// (RSS with the clients connected − RSS before) / clients, KiB.
    pub rss_per_connection_kib: f64,
    /// The same after the server sat idle for `settle_secs` with every client still
    /// connected: what an idle connection keeps once the join's transient memory (freed
    /// pages the allocator returns after its ~10 s decay, blocking threads that end after
    /// 10 s idle) is gone. Absent when not measured.
    #[serde(default)]
    pub rss_settled_per_connection_kib: Option<f64>,
    /// Seconds idle before that reading (0 when not measured).
    #[serde(default)]
    pub settle_secs: u64,
    /// RSS before any client, MiB.
    pub rss_base_mib: f64,
    /// RSS with every client connected, MiB: the servers' and their helpers' (a function
    /// server) together (absent in results from before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_connected_mib: Option<f64>,
    /// The join storm: seconds from the first connect until every client was welcomed
    /// and (the gateway) a notice reported all of them online.
    #[serde(default)]
    pub join_secs: f64,
    /// The longest chat line a client received, payload bytes: the gateway and the floors
    /// send the chat's own line, so this matches across a row (absent in results from
    /// before the floors did: theirs were the client's 30-byte frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_bytes: Option<u64>,
}

/// Runs the fan-out benchmark.
pub async fn run(args: &FanoutArgs) -> Result<FanoutReport, BoxError> {
    if args.repeat > 1 && args.nodes > 1 {
        return Err("--repeat is for one node".into());
    }
    let mut rows = Vec::new();
    for &n in &args.clients {
        if n < 2 {
            return Err("a room needs at least 2 clients (a sender and a receiver)".into());
        }
        let mut rounds = Vec::new();
        for round in 1..=args.repeat.max(1) {
            if args.repeat > 1 {
                eprintln!("fanout: {n} clients, round {round} of {}", args.repeat);
            }
            rounds.push(one_round(n, args).await?);
        }
        rows.push(median_row(rounds));
    }
    let sizes: Vec<String> = args.clients.iter().map(ToString::to_string).collect();
    Ok(FanoutReport {
        machine: Machine::current(),
        command: format!(
            "cargo run --release -p bench -- fanout --clients {} --messages {} --burst {} \
             --presence-window-ms {} --settle-secs {}{}{}{}",
            sizes.join(","),
            args.messages,
            args.burst,
            args.presence_window_ms,
            args.settle_secs,
            if args.repeat > 1 {
                format!(" --repeat {}", args.repeat)
            } else {
                String::new()
            },
            if args.http_functions {
                " --http-functions"
            } else {
                ""
            },
            match &args.store {
                Some(url) => format!(" --nodes {} --store '{}'", args.nodes, store::redact(url)),
                None => String::new(),
            } + &args
                .node_link
                .as_ref()
                .map(|url| format!(" --node-link {}", store::redact(url)))
                .unwrap_or_default()
                + if args.node_link_groups {
                    " --node-link-groups"
                } else {
                    ""
                }
                + if node_workers(args).is_some() {
                    " --split-cores"
                } else {
                    ""
                }
        ),
        nodes: args.nodes.max(1),
        store: args
            .store
            .as_deref()
            .and_then(|url| url.split_once("://"))
            .map_or_else(|| "sqlite".to_owned(), |(scheme, _)| scheme.to_owned()),
        functions: if args.http_functions {
            "http"
        } else {
            "linked"
        }
        .to_owned(),
        repeat: args.repeat.max(1),
        node_workers: node_workers(args),
        rows,
    })
}

/// Each of several nodes' worker threads with `--split-cores`: the CPUs shared out, at
/// least one a node. `None`: tokio's default (one a CPU), and always for one node.
pub fn node_workers(args: &FanoutArgs) -> Option<usize> {
    (args.split_cores && args.nodes > 1).then(|| (Machine::current().cpus / args.nodes).max(1))
}

/// One round at `n` clients: the gateway (and, with several nodes, one node alone), then
/// each floor, one after another.
async fn one_round(n: usize, args: &FanoutArgs) -> Result<FanoutRow, BoxError> {
    let data = tempfile::tempdir()?;
    let store_url = match &args.store {
        Some(url) => url.clone(),
        None if args.nodes == 1 => {
            format!("sqlite://{}", data.path().join("connections.db").display())
        }
        None => return Err("several nodes need a shared store: pass --store".into()),
    };
    eprintln!("fanout: {n} clients, gateway ({} node(s))", args.nodes);
    let window = args.presence_window_ms.to_string();
    // The function server is not the gateway: its memory stays out of the figures.
    let function_server = if args.http_functions {
        let exe = args.exe.as_ref();
        let args = [
            "serve-functions",
            "--store",
            &store_url,
            "--presence-window-ms",
            &window,
        ];
        Some(ServerProcess::start(exe, &args).await?)
    } else {
        None
    };
    let functions_url = function_server
        .as_ref()
        .map(|server| format!("http://{}", server.addr));
    let mut gateway_args = vec![
        "serve-gateway",
        "--store",
        &store_url,
        "--presence-window-ms",
        &window,
    ];
    if let Some(url) = &functions_url {
        gateway_args.extend(["--functions-url", url]);
    }
    if let Some(url) = &args.node_link {
        gateway_args.extend(["--node-link", url]);
        if args.node_link_groups {
            gateway_args.push("--node-link-groups");
        }
    }
    let mut nodes = Vec::new();
    // tokio's own knob for the worker count of a runtime built without one, as the bench's
    // `serve-gateway` is (the gateway binary's `--worker-threads` sets the same).
    let workers = node_workers(args).map(|n| n.to_string());
    let env: Vec<(&str, &str)> = workers
        .iter()
        .map(|n| ("TOKIO_WORKER_THREADS", n.as_str()))
        .collect();
    for _ in 0..args.nodes.max(1) {
        nodes.push(ServerProcess::start_with_env(args.exe.as_ref(), &gateway_args, &env).await?);
    }
    let gateway = measure(nodes, function_server.as_slice(), n, args).await?;
    // Several nodes: one alone on the same store (a room of its own), for the ratio.
    let one_node = if args.nodes > 1 {
        eprintln!("fanout: {n} clients, gateway (one node alone)");
        let alone = ServerProcess::start(args.exe.as_ref(), &gateway_args).await?;
        Some(measure(vec![alone], function_server.as_slice(), n, args).await?)
    } else {
        None
    };
    if let Some(server) = function_server {
        server.stop().await;
    }
    eprintln!("fanout: {n} clients, floor");
    let floor = ServerProcess::start(args.exe.as_ref(), &["serve-floor"]).await?;
    let floor = measure(vec![floor], &[], n, args).await?;
    eprintln!("fanout: {n} clients, tuned floor");
    let tuned = ServerProcess::start(args.exe.as_ref(), &["serve-floor", "--tuned"]).await?;
    let tuned = measure(vec![tuned], &[], n, args).await?;
    eprintln!("fanout: {n} clients, raw floor");
    let raw = ServerProcess::start(args.exe.as_ref(), &["serve-floor-raw"]).await?;
    let raw = measure(vec![raw], &[], n, args).await?;
    let cpu = |side: &Side| side.cpu_us_per_delivery.unwrap_or(f64::NAN);
    eprintln!(
        "fanout: {n} clients (gateway / floor / tuned / raw): p50 ms {:.2} / {:.2} / {:.2} / \
         {:.2}; deliveries/s {:.0} / {:.0} / {:.0} / {:.0}; CPU µs/delivery {:.2} / {:.2} / \
         {:.2} / {:.2}; RSS/conn KiB {:.1} / {:.1} / {:.1} / {:.1}; join s {:.2} / {:.2} / \
         {:.2} / {:.2}; line bytes {:?} / {:?} / {:?} / {:?}",
        gateway.latency.p50_ms,
        floor.latency.p50_ms,
        tuned.latency.p50_ms,
        raw.latency.p50_ms,
        gateway.deliveries_per_sec,
        floor.deliveries_per_sec,
        tuned.deliveries_per_sec,
        raw.deliveries_per_sec,
        cpu(&gateway),
        cpu(&floor),
        cpu(&tuned),
        cpu(&raw),
        gateway.rss_per_connection_kib,
        floor.rss_per_connection_kib,
        tuned.rss_per_connection_kib,
        raw.rss_per_connection_kib,
        gateway.join_secs,
        floor.join_secs,
        tuned.join_secs,
        raw.join_secs,
        gateway.line_bytes,
        floor.line_bytes,
        tuned.line_bytes,
        raw.line_bytes,
    );
    Ok(FanoutRow {
        clients: n,
        gateway,
        floor,
        tuned_floor: Some(tuned),
        floor_raw: Some(raw),
        link: (args.nodes > 1).then(|| link_name(args).to_owned()),
        ratio_to_one_node: one_node
            .as_ref()
            .map(|one| gateway.deliveries_per_sec / one.deliveries_per_sec.max(1e-6)),
        one_node,
    })
}

/// Each server's round with the median CPU per delivery among `rounds` (the lower middle
/// of an even count), so one disturbed round does not make a ratio. With one round, that
/// round.
fn median_row(rounds: Vec<FanoutRow>) -> FanoutRow {
    fn median(mut sides: Vec<Side>) -> Side {
        let cpu = |side: &Side| side.cpu_us_per_delivery.unwrap_or(f64::INFINITY);
        sides.sort_by(|a, b| cpu(a).total_cmp(&cpu(b)));
        sides[(sides.len() - 1) / 2]
    }
    let pick = |side: fn(&FanoutRow) -> Option<Side>| -> Option<Side> {
        let sides: Vec<Side> = rounds.iter().filter_map(side).collect();
        (!sides.is_empty()).then(|| median(sides))
    };
    let gateway = pick(|row| Some(row.gateway));
    let floor = pick(|row| Some(row.floor));
    let tuned_floor = pick(|row| row.tuned_floor);
    let floor_raw = pick(|row| row.floor_raw);
    let mut row = rounds.into_iter().next().expect("at least one round");
    row.gateway = gateway.unwrap_or(row.gateway);
    row.floor = floor.unwrap_or(row.floor);
    row.tuned_floor = tuned_floor;
    row.floor_raw = floor_raw;
    row
}

/// `http`, `nats` or `nats-groups`: how the nodes reach one another.
fn link_name(args: &FanoutArgs) -> &'static str {
    match (&args.node_link, args.node_link_groups) {
        (Some(_), true) => "nats-groups",
        (Some(_), false) => "nats",
        (None, _) => "http",
    }
}

/// Messages in flight during the saturation phase.
const WINDOW: usize = 16;

/// How long one message may take to reach everyone before the run fails.
const DELIVERY_LIMIT: Duration = Duration::from_secs(120);

/// The servers' resident memory together, bytes.
fn rss_of(servers: &[ServerProcess]) -> Result<u64, BoxError> {
    servers.iter().map(ServerProcess::rss_bytes).sum()
}

/// The CPU time of the servers and their helpers together, µs.
fn cpu_of(servers: &[ServerProcess], helpers: &[ServerProcess]) -> Result<u64, BoxError> {
    servers
        .iter()
        .chain(helpers)
        .map(ServerProcess::cpu_us)
        .sum()
}

/// How the clients join the servers a measurement drives.
#[derive(Debug, Clone, Copy)]
pub struct Joining {
    /// The WebSocket path (the room goes in `?room=`).
    pub path: &'static str,
    /// A frame each client sends once connected, which the server answers with its
    /// welcome (a Lambda handler cannot post to a connection during its `$connect`).
    pub hello: Option<&'static str>,
    /// The server announces who is online (the chat): the join ends when a notice counts
    /// every client.
    pub presence: bool,
}

impl Joining {
    /// The chat: `/ws`, welcomed on connect, presence notices.
    pub const CHAT: Joining = Joining {
        path: "/ws",
        hello: None,
        presence: true,
    };
    /// The floors: welcomed on connect, no notices.
    pub const FLOOR: Joining = Joining {
        path: "/ws",
        hello: None,
        presence: false,
    };
}

/// What a measurement runs: the fan-out's sizes of message runs.
#[derive(Debug, Clone, Copy)]
pub struct Runs {
    /// Timed messages, one at a time.
    pub messages: usize,
    /// Messages for deliveries per second (16 in flight).
    pub burst: usize,
    /// Seconds idle before memory is read again (0: not).
    pub settle_secs: u64,
}

/// Measures `servers` with `n` clients; `helpers` (a function server) count in the CPU
/// figure, not in memory.
async fn measure(
    servers: Vec<ServerProcess>,
    helpers: &[ServerProcess],
    n: usize,
    args: &FanoutArgs,
) -> Result<Side, BoxError> {
    let joining = if servers[0].is_floor {
        Joining::FLOOR
    } else {
        Joining::CHAT
    };
    let runs = Runs {
        messages: args.messages,
        burst: args.burst,
        settle_secs: args.settle_secs,
    };
    measure_with(servers, helpers, n, runs, joining).await
}

/// Measures `servers` with `n` clients joining as `joining` says, over `runs`; `helpers`
/// (a function server) count in the CPU figure, not in memory.
pub async fn measure_with(
    servers: Vec<ServerProcess>,
    helpers: &[ServerProcess],
    n: usize,
    args: Runs,
    joining: Joining,
) -> Result<Side, BoxError> {
    // Message 0 warms up; 1..=messages are timed one at a time; then the burst.
    let total = 1 + args.messages + args.burst;
    let tracker = Tracker::new(total, n - 1);
    let rss_before = rss_of(&servers)?;
    // A room of its own, so a shared store's earlier runs are never in it.
    let room = format!(
        "fanout-{n}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let join_started = Instant::now();
    let mut clients = connect_all(&addrs, &room, n, 64, &tracker, joining).await?;
    if joining.presence {
        tracker.online_reached(n as u64, DELIVERY_LIMIT).await?;
    }
    let join_secs = join_started.elapsed().as_secs_f64();
    let sender = &mut clients[0];
    sender.send(0).await?;
    tracker.completed(0, DELIVERY_LIMIT).await?;
    let rss_connected = rss_of(&servers)?;
    let rss_all_connected = rss_connected + rss_of(helpers)?;
    let per_connection = |rss: u64| rss.saturating_sub(rss_before) as f64 / 1024.0 / n as f64;
    let rss_settled = if args.settle_secs > 0 {
        tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
        Some(per_connection(rss_of(&servers)?))
    } else {
        None
    };

    let mut latencies = Vec::with_capacity(args.messages);
    for index in 1..=args.messages {
        let sent = Instant::now();
        sender.send(index).await?;
        let done = tracker.completed(index, DELIVERY_LIMIT).await?;
        latencies.push(done.saturating_duration_since(sent));
    }

    // Saturation: keep WINDOW messages in flight (send the next as soon as the oldest
    // outstanding one has reached everybody), so the server is never idle and never past
    // its per-connection inbound queue (the gateway closes a client with 32 messages in
    // flight: backpressure, which is not what this measures).
    let first = 1 + args.messages;
    let cpu_before = cpu_of(&servers, helpers)?;
    let started = Instant::now();
    let mut last = started;
    for index in first..total {
        if index >= first + WINDOW {
            last = last.max(tracker.completed(index - WINDOW, DELIVERY_LIMIT).await?);
        }
        sender.send(index).await?;
    }
    for index in total.saturating_sub(WINDOW).max(first)..total {
        last = last.max(tracker.completed(index, DELIVERY_LIMIT).await?);
    }
    let burst_secs = last.saturating_duration_since(started).as_secs_f64();
    let cpu_us = cpu_of(&servers, helpers)?.saturating_sub(cpu_before);
    let deliveries = (args.burst * (n - 1)) as f64;
    drop(clients);
    for server in servers {
        server.stop().await;
    }
    Ok(Side {
        latency: Summary::of(&latencies),
        deliveries_per_sec: if burst_secs > 0.0 {
            deliveries / burst_secs
        } else {
            0.0
        },
        cpu_us_per_delivery: Some(cpu_us as f64 / deliveries),
        rss_per_connection_kib: per_connection(rss_connected),
        rss_settled_per_connection_kib: rss_settled,
        settle_secs: args.settle_secs,
        rss_base_mib: rss_before as f64 / 1024.0 / 1024.0,
        rss_connected_mib: Some(rss_all_connected as f64 / 1024.0 / 1024.0),
        join_secs,
        line_bytes: Some(tracker.line_bytes() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(cpu: f64) -> Side {
        Side {
            latency: crate::stats::Summary::of(&[Duration::from_millis(1)]),
            deliveries_per_sec: 1000.0 / cpu,
            cpu_us_per_delivery: Some(cpu),
            rss_per_connection_kib: 1.0,
            rss_settled_per_connection_kib: None,
            settle_secs: 0,
            rss_base_mib: 1.0,
            rss_connected_mib: None,
            join_secs: 0.0,
            line_bytes: None,
        }
    }

    fn row(gateway: f64, floor: f64, raw: Option<f64>) -> FanoutRow {
        FanoutRow {
            clients: 10,
            gateway: side(gateway),
            floor: side(floor),
            tuned_floor: None,
            floor_raw: raw.map(side),
            link: None,
            one_node: None,
            ratio_to_one_node: None,
        }
    }

    #[test]
    fn each_server_keeps_its_own_median_round() {
        let rounds = vec![
            row(3.0, 10.0, Some(0.9)),
            row(1.0, 30.0, Some(0.3)),
            row(2.0, 20.0, Some(0.6)),
        ];
        let median = median_row(rounds);
        assert_eq!(median.gateway, side(2.0));
        assert_eq!(median.floor, side(20.0));
        assert_eq!(median.floor_raw, Some(side(0.6)));
        assert_eq!(median.tuned_floor, None);
        // Of two, the lower; of one, that one.
        let two = median_row(vec![row(5.0, 1.0, None), row(4.0, 2.0, None)]);
        assert_eq!((two.gateway, two.floor), (side(4.0), side(1.0)));
        assert_eq!(median_row(vec![row(7.0, 8.0, None)]), row(7.0, 8.0, None));
    }
}
