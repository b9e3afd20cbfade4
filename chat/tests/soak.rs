//! Churn soak on the real binary: 2,000 clients connect and leave at random (closing
//! cleanly or just dropping the socket) for a bounded time, on the default SQLite and on
//! PostgreSQL.
//! After all have left: no live record, nothing for a sweep to delete once the leases have
//! passed but what the node said it could not clean up in time (no cleanup lost unsaid,
//! none failed), no connection left in the node, its tasks back to where they were, its
//! memory back near where a first round at the same load left it. The node's warnings are
//! kept in a file and summed up in any failure.
//! `SOAK_SECS` sets the measured churn's time (default 30; the first round takes half).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rand::Rng;
use store_core::{ConnectionStore, RoomName};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::binary::Binary;

const CLIENTS: usize = 2_000;

/// Held by the soak that runs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const ROOMS: usize = 20;
/// Short, so that a record whose cleanup was lost would have expired by the final sweep.
const LEASE_SECS: u64 = 2;

/// The binary on `store`, with short leases and room for the churn; its warnings go to
/// `log`, shown when a check fails (a lost cleanup says why there).
fn start(store: &str, log: std::fs::File) -> Binary {
    Binary::launch()
        .args(["--store", store, "--sweep-interval-secs", "0"])
        .args([
            "--lease-secs",
            &LEASE_SECS.to_string(),
            "--aliyun-keepalive-ms",
            "500",
        ])
        .args(["--max-connections", "10000", "--rate", "1000"])
        .env("RUST_LOG", "warn")
        .stderr(log)
        .start()
}

async fn gauges(push: &str) -> HashMap<String, f64> {
    let text = common::metrics_text(push).await;
    text.lines()
        .filter(|l| l.starts_with("wsgw_connections_open") || l.starts_with("wsgw_tasks_alive"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The longest a handshake may take during the soak: a stalled node fails it, a debug build
/// on two cores shared with moto and the other soak does not (10 s failed there once while
/// nothing was stalled).
const HANDSHAKE: Duration = Duration::from_secs(30);

/// One client's life until `until`: join a random room, stay a little, maybe say
/// something, leave (a close frame, or the socket just dropped); again.
async fn churn(chat: String, until: Instant, cycles: Arc<AtomicU64>, handshake: Duration) {
    while Instant::now() < until {
        let (room, stay, talk, abrupt) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..ROOMS),
                Duration::from_millis(rng.random_range(0..800)),
                rng.random_bool(0.1),
                rng.random_bool(0.3),
            )
        };
        let url = format!("{chat}ws?room=soak{room}");
        let mut ws =
            match tokio::time::timeout(handshake, tokio_tungstenite::connect_async(url)).await {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(err)) => panic!("a client could not connect during the soak: {err}"),
                Err(_) => panic!("a client's handshake took over {handshake:?} during the soak"),
            };
        if talk {
            let _ = ws.send(Message::text("churn")).await;
        }
        // Read what comes (welcome, notices) while staying.
        let _ = tokio::time::timeout(stay, async { while ws.next().await.is_some() {} }).await;
        if !abrupt {
            let _ = ws.close(None).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while ws.next().await.is_some() {}
            })
            .await;
        }
        drop(ws);
        cycles.fetch_add(1, Ordering::Relaxed);
        // A pause before coming back: the offered load stays about 1,000 connections a
        // second instead of as many as the node can take.
        let pause = Duration::from_millis(rand::rng().random_range(0..1500));
        tokio::time::sleep(pause).await;
    }
}

async fn soak<F, Fut>(store_url: &str, allowed_per_connection: u64, handshake: Duration, open: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn ConnectionStore>>,
{
    // One soak at a time: two would share the machine's cores and measure each other.
    let _alone = ONE_AT_A_TIME.lock().await;
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut node = start(store_url, log.reopen().unwrap());
    let warned = || warnings(log.path());
    let (chat, push) = (format!("ws://{}/", node.app), node.push_url());
    // A first round at full load sets the baseline: pools, caches, lazily started tasks,
    // and the allocator's own high-water mark (glibc's malloc keeps a peak's pages
    // resident; what must not happen is growth beyond it, round after round).
    let warm = Instant::now() + Duration::from_secs(secs.div_ceil(2));
    let warmed = Arc::new(AtomicU64::new(0));
    let warmers: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(churn(chat.clone(), warm, warmed.clone(), handshake)))
        .collect();
    for w in warmers {
        w.await.unwrap();
    }
    let before = settled(&push).await;
    let rss_before = node.memory_kib("VmRSS");

    let until = Instant::now() + Duration::from_secs(secs);
    let cycles = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(churn(chat.clone(), until, cycles.clone(), handshake)))
        .collect();
    let mut rss_peak = rss_before;
    while Instant::now() < until {
        rss_peak = rss_peak.max(node.memory_kib("VmRSS"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for client in clients {
        client.await.unwrap();
    }
    let took = started.elapsed();
    let after = settled(&push).await;
    let rss_after = node.memory_kib("VmRSS");
    let total = cycles.load(Ordering::Relaxed);
    let tasks = |g: &HashMap<String, f64>| g.get("wsgw_tasks_alive").copied().unwrap_or(-1.0);
    eprintln!(
        "soak on {store_url}: {total} connections by {CLIENTS} clients in {took:?}; RSS {rss_before} KiB before, \
         {rss_peak} KiB peak, {rss_after} KiB after; tasks {} before, {} after; {}",
        tasks(&before),
        tasks(&after),
        warned()
    );
    assert!(total >= CLIENTS as u64, "the clients churned: {total}");
    // The node's tasks are back (a few of its own come and go: presence flushers, pooled
    // connections).
    assert!(
        tasks(&after) >= 0.0 && tasks(&after) <= tasks(&before) + 20.0,
        "tasks went from {} to {}; {}",
        tasks(&before),
        tasks(&after),
        warned()
    );
    // Memory back near where the first round left it: no growth per connection served
    // beyond `allowed_per_connection` bytes (what the store in the process may keep).
    let grown = rss_after.saturating_sub(rss_before);
    let allowed = rss_before / 10 + 4 * 1024 + total * allowed_per_connection / 1024;
    assert!(
        grown <= allowed,
        "RSS grew by {grown} KiB over {total} connections (from {rss_before} KiB; {allowed} KiB allowed); {}",
        warned()
    );

    // Stop the node (SIGTERM, by its PID): it has nothing left to clean up.
    node.signal("-TERM");
    let status = node.wait();
    assert!(
        status.success(),
        "the node stopped cleanly: {status}; {}",
        warned()
    );

    let store = open().await;
    for room in 0..ROOMS {
        let room = RoomName::new(format!("soak{room}")).unwrap();
        assert_eq!(
            store.count(&room).await.unwrap(),
            0,
            "{room} has live records; {}",
            warned()
        );
    }
    // Once the leases are past, a sweep finds at most the records of cleanups the node
    // said it could not finish: none is lost unsaid. A cleanup can only miss its deadline:
    // the clients leave together at the end, and 2,000 cleanups queue for the store's
    // pool (1,483 missed it once, a debug build on a machine shared with other suites).
    // Its store calls run on to their answer all the same (`Metered`), so the records go
    // anyway, but only a timeout is excused: a cleanup that failed is a bug.
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 1)).await;
    let left = store.sweep().await.unwrap();
    let (timed_out, failed) = failed_cleanups(log.path());
    eprintln!("{left} records left for the sweep; {timed_out} cleanups timed out");
    assert_eq!(failed, 0, "cleanups failed; {}", warned());
    assert!(
        left <= timed_out,
        "{left} records left by cleanups, {timed_out} said to have timed out: some were \
         lost unsaid; {}",
        warned()
    );
}

/// The cleanups the node said it could not finish: those that timed out (with the
/// sessions its shutdown left still ending), and those that failed otherwise.
fn failed_cleanups(log: &std::path::Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cleanup failed"))
        .collect();
    // The function's deadline, the store's (the same 5 s: either may fire first), or the
    // store's pool's.
    let timeouts = [
        "function timed out",
        "did not answer within",
        "pool timed out",
    ];
    let timed_out = said
        .iter()
        .filter(|l| timeouts.iter().any(|t| l.contains(t)))
        .count() as u64;
    let cut_short: u64 = text
        .lines()
        .filter(|l| l.contains("sessions still registering or cleaning up"))
        .filter_map(|l| {
            l.split_once("left=")?
                .1
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    (timed_out + cut_short, said.len() as u64 - timed_out)
}

/// What the node warned of, for a failed check: how many lines, and the first few of each
/// kind (a warning's message, its fields left out), so that a cause shows without the whole
/// log.
fn warnings(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut kinds: Vec<(String, usize, &str)> = Vec::new();
    for line in text.lines() {
        // tracing's line: the time, the level, where, the message, then `key=value`s.
        let kind: String = line
            .split_whitespace()
            .skip(1)
            .take_while(|word| !word.contains('='))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some((_, seen, _)) = kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            *seen += 1;
        } else if kinds.len() < 20 {
            kinds.push((kind, 1, line));
        }
    }
    let mut said = format!("the node logged {} lines", text.lines().count());
    for (_, seen, first) in kinds {
        said.push_str(&format!("\n  {seen} like: {first}"));
    }
    said
}

/// Waits until the node holds no connection; its gauges then.
async fn settled(push: &str) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let gauges = gauges(push).await;
        if gauges.get("wsgw_connections_open") == Some(&0.0) {
            return gauges;
        }
        assert!(
            Instant::now() < deadline,
            "connections still open: {gauges:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_nothing_behind_on_the_default_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("soak.db").display());
    // Opened again once the node has stopped, as an operator's tool would.
    let reopen = url.clone();
    // SQLite, in the node's process, keeps a page cache per connection (2 MiB at most
    // each, five of them), filled in the first round: half a KiB per connection allowed
    // (measured: none over 50,000 connections), so that a leak of the node's own (a task,
    // a connection's facts: 1–3 KiB each) still shows.
    soak(&url, 512, HANDSHAKE, || async move {
        store::open(&reopen).await.unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "postgres"),
    ignore = "the node is the binary on PostgreSQL: build with --features postgres (./scripts/test does)"
)]
async fn churn_leaves_nothing_behind_on_postgres() {
    let base = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let url = format!("{base}?namespace=soak_{}", std::process::id());
    let reopen = url.clone();
    // Half a KiB per connection for the allocator's drift (glibc's arenas; measured
    // 0.4 KiB over 24,000 connections): a leaked task or connection costs more.
    soak(&url, 512, HANDSHAKE, || async move {
        store::open(&reopen).await.unwrap()
    })
    .await;
}
