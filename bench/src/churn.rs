//! `bench churn`: a gateway node under connect/disconnect churn for a long, bounded time,
//! its resident memory sampled throughout — the long run the churn soak test
//! (`chat/tests/soak.rs`, 30 s in CI) stands for, to tell memory that settles at a
//! plateau from memory that keeps growing with every connection.
//!
//! The node runs in a child process (the fan-out benchmark's `serve-gateway`, with the
//! in-process chat functions and its metrics), so its RSS is its own. A warm-up round at
//! the same load comes first: pools, caches and the allocator's high-water mark settle
//! there, and the measured run starts from its end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::fanout::server::ServerProcess;
use crate::machine::Machine;
use crate::ws::connect;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rooms the clients spread over.
const ROOMS: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct ChurnArgs {
    /// The node's store URL.
    pub store: String,
    /// Whether the user named the store (else it is a scratch SQLite file, left out
    /// of the command line the report shows).
    pub store_given: bool,
    /// Clients churning at once.
    pub clients: usize,
    /// The measured run, after the warm-up.
    pub secs: u64,
    /// The warm-up round.
    pub warmup_secs: u64,
    /// Between two samples.
    pub sample_secs: u64,
    /// The bench binary (it starts the node as its own child).
    pub exe: std::path::PathBuf,
}

/// One sample of the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// Since the measured run started.
    pub at_secs: f64,
    /// Connections opened so far in the measured run.
    pub connections: u64,
    /// The node's resident set.
    pub rss_kib: u64,
    /// `wsgw_connections_open`.
    pub open: f64,
    /// `wsgw_tasks_alive`.
    pub tasks: f64,
}

/// The result file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnReport {
    /// Where and when.
    pub machine: Machine,
    /// How to run it again.
    pub command: String,
    /// The store's backend (the URL's scheme).
    pub backend: String,
    /// The node's allocator (results from before the bench used jemalloc say glibc).
    #[serde(default = "glibc")]
    pub allocator: String,
    /// Clients churning at once.
    pub clients: usize,
    /// Connections the warm-up made.
    pub warmup_connections: u64,
    /// Connections the measured run made.
    pub connections: u64,
    /// The measured run's length.
    pub secs: f64,
    /// Samples, the first at the start of the measured run and the last after every
    /// client left and the node settled.
    pub samples: Vec<Sample>,
    /// RSS growth per 1,000 connections over the first half of the measured run, KiB.
    pub growth_first_half: f64,
    /// The same over the second half: near 0 for a plateau, like the first for a leak.
    pub growth_second_half: f64,
}

fn glibc() -> String {
    "glibc malloc".to_owned()
}

/// Runs the churn.
pub async fn run(args: &ChurnArgs) -> Result<ChurnReport, BoxError> {
    let backend = args.store.split(':').next().unwrap_or_default().to_owned();
    let node = ServerProcess::start(
        &args.exe,
        &["serve-gateway", "--store", &args.store, "--metrics"],
    )
    .await?;
    let push = node
        .push
        .ok_or("the node did not say where its push API (and /metrics) listens")?;
    let metrics = format!("http://{push}/metrics");
    let chat = format!("ws://{}", node.addr);

    let warmed = churn_for(&chat, args.clients, Duration::from_secs(args.warmup_secs)).await?;
    settle(&metrics).await?;
    eprintln!("churn: warm-up made {warmed} connections");

    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);
    let counter = Arc::new(AtomicU64::new(0));
    let clients = spawn_clients(&chat, args.clients, until, counter.clone());
    let mut samples = Vec::new();
    // Bounded by `until`: one sample per interval.
    loop {
        samples.push(sample(&node, &metrics, started, &counter).await?);
        let next = Instant::now() + Duration::from_secs(args.sample_secs.max(1));
        if next >= until {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
    }
    for client in clients {
        client.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    settle(&metrics).await?;
    samples.push(sample(&node, &metrics, started, &counter).await?);
    node.stop().await;

    let connections = counter.load(Ordering::Relaxed);
    let (first, second) = halves(&samples);
    Ok(ChurnReport {
        machine: Machine::current(),
        command: format!(
            "{}cargo run --release -p bench -- churn{} --clients {} --secs {} --warmup-secs {}",
            match std::env::var(JEMALLOC_CONF) {
                Ok(conf) if !conf.is_empty() => format!("{JEMALLOC_CONF}={conf} "),
                _ => String::new(),
            },
            if args.store_given {
                format!(" --store '{}'", store::redact(&args.store))
            } else {
                String::new()
            },
            args.clients,
            args.secs,
            args.warmup_secs
        ),
        backend,
        // The node inherits jemalloc's options from the environment, if any were given.
        allocator: match std::env::var(JEMALLOC_CONF) {
            Ok(conf) if !conf.is_empty() => format!("jemalloc, {JEMALLOC_CONF}={conf}"),
            _ => "jemalloc".to_owned(),
        },
        clients: args.clients,
        warmup_connections: warmed,
        connections,
        secs,
        samples,
        growth_first_half: first,
        growth_second_half: second,
    })
}

/// RSS growth per 1,000 connections between the first sample and the middle one, and
/// between the middle one and the last sample taken while the clients still churned.
fn halves(samples: &[Sample]) -> (f64, f64) {
    let during = &samples[..samples.len().saturating_sub(1).max(1)];
    let (Some(first), Some(last)) = (during.first(), during.last()) else {
        return (0.0, 0.0);
    };
    let middle = &during[during.len() / 2];
    let per_thousand = |a: &Sample, b: &Sample| {
        let made = b.connections.saturating_sub(a.connections) as f64;
        if made == 0.0 {
            0.0
        } else {
            (b.rss_kib as f64 - a.rss_kib as f64) * 1000.0 / made
        }
    };
    (per_thousand(first, middle), per_thousand(middle, last))
}

async fn sample(
    node: &ServerProcess,
    metrics: &str,
    started: Instant,
    counter: &AtomicU64,
) -> Result<Sample, BoxError> {
    let (open, tasks) = gauges(metrics).await?;
    Ok(Sample {
        at_secs: started.elapsed().as_secs_f64(),
        connections: counter.load(Ordering::Relaxed),
        rss_kib: node.rss_bytes()? / 1024,
        open,
        tasks,
    })
}

/// `wsgw_connections_open` and `wsgw_tasks_alive` from the node's `/metrics`.
async fn gauges(metrics: &str) -> Result<(f64, f64), BoxError> {
    let text = reqwest::get(metrics)
        .await?
        .error_for_status()?
        .text()
        .await?;
    let read = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Ok((read("wsgw_connections_open"), read("wsgw_tasks_alive")))
}

/// Waits (at most 30 s) until the node holds no connection: every client's cleanup ran.
async fn settle(metrics: &str) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if gauges(metrics).await?.0 == 0.0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("the node still held connections 30 s after every client left".into())
}

/// Churns `clients` clients for `time`; answers how many connections they made.
async fn churn_for(chat: &str, clients: usize, time: Duration) -> Result<u64, BoxError> {
    let counter = Arc::new(AtomicU64::new(0));
    for client in spawn_clients(chat, clients, Instant::now() + time, counter.clone()) {
        client.await??;
    }
    Ok(counter.load(Ordering::Relaxed))
}

fn spawn_clients(
    chat: &str,
    clients: usize,
    until: Instant,
    counter: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<Result<(), BoxError>>> {
    (0..clients)
        .map(|_| tokio::spawn(client(chat.to_owned(), until, counter.clone())))
        .collect()
}

/// The variable jemalloc (as built by `tikv-jemallocator`, prefixed) reads its options
/// from.
const JEMALLOC_CONF: &str = "_RJEM_MALLOC_CONF";

/// One client's life until `until`, as in the soak test: join a random room, stay up to
/// 0.8 s reading what comes, sometimes say something, leave with a close frame or by
/// dropping the socket, pause up to 1.5 s (about 1,000 connections a second from 2,000
/// clients), again.
async fn client(chat: String, until: Instant, counter: Arc<AtomicU64>) -> Result<(), BoxError> {
    use rand::Rng;
    while Instant::now() < until {
        let (room, stay, talk, abrupt, pause) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..ROOMS),
                Duration::from_millis(rng.random_range(0..800)),
                rng.random_bool(0.1),
                rng.random_bool(0.3),
                Duration::from_millis(rng.random_range(0..1500)),
            )
        };
        let url = format!("{chat}/ws?room=churn{room}");
        let mut ws = connect(&url, None, Duration::from_secs(10)).await?;
        counter.fetch_add(1, Ordering::Relaxed);
        if talk {
            let _ = ws.send(Message::text("churn")).await;
        }
        let _ = tokio::time::timeout(stay, async { while ws.next().await.is_some() {} }).await;
        if !abrupt {
            let _ = ws.close(None).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while ws.next().await.is_some() {}
            })
            .await;
        }
        drop(ws);
        tokio::time::sleep(pause).await;
    }
    Ok(())
}
