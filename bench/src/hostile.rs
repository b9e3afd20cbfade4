//! `bench hostile`: the most memory one hostile client can pin on a node that runs with the
//! default limits. For each kind, a fresh gateway node (the chat in process, the binary's
//! default limits, a SQLite store of its own) in a child process takes N clients of that
//! kind at once. Its resident memory is read before they come; its peak (`VmHWM`) once
//! every one of them has done its worst and the node has closed it (or, for a kind the
//! limits let stay, after it held its state for a while). (peak − before) / N is what one
//! such client pins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::SinkExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::fanout::server::ServerProcess;
use crate::machine::Machine;
use crate::ws::{CONTINUATION, PING, TEXT_FIRST, connect, frame, upgrade};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What `bench hostile` needs.
#[derive(Debug)]
pub struct HostileArgs {
    /// Clients of each kind at once.
    pub clients: usize,
    /// This binary (it serves the node).
    pub exe: PathBuf,
}

/// The JSON result: a row per kind.
#[derive(Debug, Serialize, Deserialize)]
pub struct HostileReport {
    /// Where and when.
    pub machine: Machine,
    /// How to run it again.
    pub command: String,
    /// One row per kind of client.
    pub rows: Vec<HostileRow>,
}

/// One kind of client, N at once.
#[derive(Debug, Serialize, Deserialize)]
pub struct HostileRow {
    /// The kind.
    pub kind: String,
    /// What it does.
    pub does: String,
    /// How many at once.
    pub clients: usize,
    /// The node's resident memory before they came, KiB.
    pub before_kib: u64,
    /// The node's peak resident memory, KiB.
    pub peak_kib: u64,
    /// (peak − before) / clients, KiB.
    pub kib_per_client: f64,
}

/// The kinds, in the report's order: what each does.
const KINDS: [(&str, &str); 6] = [
    (
        "idle",
        "joins the room and reads (the reference: what any connection costs)",
    ),
    (
        "ping-flood",
        "floods 125-byte pings and never reads (4 KiB receive buffer), until closed",
    ),
    (
        "non-reader",
        "joins a room where a member chats (1 KB lines, 10 a second) and never reads, until closed",
    ),
    (
        "non-reader-pushed",
        "never reads while a caller pushes it 128 KiB frames (the outbound queue's worst), until closed",
    ),
    (
        "big-fragments",
        "sends a message of the size limit in fragments, all but the last, and waits",
    ),
    (
        "slowloris",
        "trickles a request head a byte every 100 ms, until cut off",
    ),
];

/// Runs every kind.
pub async fn run(args: &HostileArgs) -> Result<HostileReport, BoxError> {
    let mut rows = Vec::new();
    for (kind, does) in KINDS {
        // Each pushed client may pin the whole queue of 128 KiB frames: fewer of them.
        let clients = if kind == "non-reader-pushed" {
            args.clients.min(20)
        } else {
            args.clients
        };
        let scratch = tempfile::tempdir()?;
        // SQLite, so this process can list the node's connections while it runs.
        let store = format!("sqlite://{}", scratch.path().join("hostile.db").display());
        let node = ServerProcess::start(
            &args.exe,
            &["serve-gateway", "--store", &store, "--default-limits"],
        )
        .await?;
        let before_kib = node.rss_bytes()? / 1024;
        drive(kind, &node, &store, clients).await?;
        let peak_kib = node.peak_rss_bytes()? / 1024;
        node.stop().await;
        let row = HostileRow {
            kind: kind.to_owned(),
            does: does.to_owned(),
            clients,
            before_kib,
            peak_kib,
            kib_per_client: peak_kib.saturating_sub(before_kib) as f64 / clients as f64,
        };
        eprintln!(
            "{kind}: {clients} clients, {before_kib} -> {peak_kib} KiB, {:.1} KiB each",
            row.kib_per_client
        );
        rows.push(row);
    }
    Ok(HostileReport {
        machine: Machine::current(),
        command: format!(
            "cargo run --release -p bench -- hostile --clients {}",
            args.clients
        ),
        rows,
    })
}

/// `clients` of `kind` against `node`, until each has done its worst.
async fn drive(
    kind: &str,
    node: &ServerProcess,
    store_url: &str,
    clients: usize,
) -> Result<(), BoxError> {
    let addr = node.addr;
    let mut held = Vec::new();
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        match kind {
            "idle" => held.push(upgrade(addr, None).await?),
            "ping-flood" => {
                let mut socket = upgrade(addr, Some(4096)).await?;
                tasks.spawn(async move {
                    let pings: Vec<u8> = (0..100).flat_map(|_| frame(PING, &[b'p'; 125])).collect();
                    while socket.write_all(&pings).await.is_ok() {}
                });
            }
            "non-reader" | "non-reader-pushed" => held.push(upgrade(addr, Some(4096)).await?),
            "big-fragments" => {
                let mut socket = upgrade(addr, None).await?;
                let limit = gateway::Limits::default().max_message_bytes;
                let piece = vec![b'a'; 4096];
                socket.write_all(&frame(TEXT_FIRST, &piece)).await?;
                for _ in 1..(limit / piece.len()) {
                    socket.write_all(&frame(CONTINUATION, &piece)).await?;
                }
                held.push(socket);
            }
            "slowloris" => {
                tasks.spawn(async move {
                    let Ok(mut socket) = TcpStream::connect(addr).await else {
                        return;
                    };
                    for byte in b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
                        if socket.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            }
            other => return Err(format!("unknown kind {other}").into()),
        }
    }
    match kind {
        "non-reader" => chat_into_the_room(addr, Duration::from_secs(15)).await?,
        "non-reader-pushed" => push_until_closed(node, store_url, clients).await?,
        // What they hold, held a while (the idle timeout would end it after 120 s).
        "idle" | "big-fragments" => tokio::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    // Every flooder and trickler is cut off by the node: bounded by its limits.
    tokio::time::timeout(Duration::from_secs(60), async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .map_err(|_| format!("{kind}: a client was still served after 60 s"))?;
    drop(held);
    Ok(())
}

/// A member of the room sends 1 KB lines, ten a second, for `secs` (the non-readers fall
/// behind and are closed as too slow).
async fn chat_into_the_room(addr: SocketAddr, secs: Duration) -> Result<(), BoxError> {
    let mut ws = connect(&format!("ws://{addr}/ws"), None, Duration::from_secs(10)).await?;
    let line = "x".repeat(1000);
    let started = tokio::time::Instant::now();
    while started.elapsed() < secs {
        ws.send(Message::text(line.clone())).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Pushes 128 KiB frames to every connection of the node until the node has closed each
/// (410), 300 rounds at most.
async fn push_until_closed(
    node: &ServerProcess,
    store_url: &str,
    clients: usize,
) -> Result<(), BoxError> {
    let push = node.push.ok_or("the node has no push API")?;
    let http = reqwest::Client::new();
    let frame = vec![b'x'; gateway::Limits::default().max_message_bytes];
    let ids = connection_ids(store_url, clients).await?;
    for _ in 0..300 {
        let mut open = 0;
        for id in &ids {
            let url = format!("http://{push}/@connections/{id}");
            let status = http.post(url).body(frame.clone()).send().await?.status();
            if status.as_u16() != 410 {
                open += 1;
            }
        }
        if open == 0 {
            return Ok(());
        }
    }
    Err("the pushed non-readers were never closed".into())
}

/// The ids of the node's connections in the chat's room, as its store lists them.
async fn connection_ids(store_url: &str, clients: usize) -> Result<Vec<String>, BoxError> {
    let store = store::open(store_url).await?;
    let room = store_core::RoomName::new("lobby")?;
    let ids: Vec<String> = store
        .list_room(&room)
        .await?
        .into_iter()
        .map(|member| member.id.as_str().to_owned())
        .collect();
    if ids.len() != clients {
        return Err(format!("{} connections in the room, not {clients}", ids.len()).into());
    }
    Ok(ids)
}
