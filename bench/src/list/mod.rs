//! `bench list`: what a full walk of one room's live connections costs on a backend, beside
//! the same listing done with the backend's raw client (the floor).
//!
//! For each N the room holds N live connections and N/2 expired ones spread among them (so
//! the walk must skip them in the middle, not just at an end), and another room holds N more
//! (isolation must cost nothing). Leases are set by a manual clock that is then moved past
//! the short ones, so "expired" is exact, not a race with the wall clock.
//!
//! # Layout
//! - `target`: opens the store and its floor from a URL, cleans up after.
//! - `floor`: the raw listings.
//! - `price`: list prices per request.
//! - `sweep`: `bench sweep`, a churned room's walk before and after one sweep.

pub mod floor;
pub mod price;
pub mod sweep;
pub mod target;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use store_core::{
    Clock, ConnectionId, ConnectionStore, Endpoint, ManualClock, Metadata, Registration, Result,
    RoomName, StoreError,
};

use crate::machine::Machine;
use crate::stats::Summary;
use target::Target;

/// What `bench list` was asked.
#[derive(Debug, Clone)]
pub struct ListArgs {
    /// The store URL.
    pub store: String,
    /// Room sizes (live connections).
    pub sizes: Vec<usize>,
    /// Timed walks per size (`None`: more for small rooms, fewer for big ones).
    pub walks: Option<usize>,
    /// Registrations in flight while filling.
    pub fill_concurrency: usize,
}

/// The result of `bench list` on one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListReport {
    /// Where it ran.
    pub machine: Machine,
    /// The command, with secrets removed from the URL.
    pub command: String,
    /// The backend's name.
    pub backend: String,
    /// The provider price applied, if any, with its date.
    pub price: Option<PriceNote>,
    /// One row per room size.
    pub rows: Vec<ListRow>,
}

/// The price a report used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceNote {
    /// Provider, class, region.
    pub provider: String,
    /// Per 1,000 of `unit`.
    pub per_thousand: f64,
    /// Currency code.
    pub currency: String,
    /// What is priced: requests, or read request units (DynamoDB). Reports written
    /// before DynamoDB joined priced requests.
    #[serde(default = "requests")]
    pub unit: String,
    /// When the price was read.
    pub as_of: String,
}

fn requests() -> String {
    "requests".to_owned()
}

impl PriceNote {
    /// The note of `price`, dated [`price::PRICES_AS_OF`].
    pub fn of(price: price::Price) -> Self {
        PriceNote {
            provider: price.provider.to_owned(),
            per_thousand: price.per_thousand,
            currency: price.currency.to_owned(),
            unit: price.unit.to_owned(),
            as_of: price::PRICES_AS_OF.to_owned(),
        }
    }
}

/// The figures for one room size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListRow {
    /// Live connections in the room (also listed by every walk: checked).
    pub n: usize,
    /// Time of one full walk through the store.
    pub store: Summary,
    /// Time of one floor walk.
    pub floor: Summary,
    /// store p50 / floor p50.
    pub ratio: f64,
    /// Requests per store walk (object stores).
    pub store_requests: Option<u64>,
    /// Read capacity units per store walk, as the server reported them (DynamoDB).
    #[serde(default)]
    pub store_read_units: Option<f64>,
    /// Read capacity units of one eventually consistent `Scan` of the whole table: what
    /// "scan the table on every message" (AWS's WebSocket chat sample) pays (DynamoDB).
    #[serde(default)]
    pub scan_read_units: Option<f64>,
    /// Requests or statements per floor walk.
    pub floor_requests: u64,
    /// Bytes of members the store walk returned (ids, endpoints, expiries).
    pub store_bytes: u64,
    /// Rows/keys the floor read.
    pub floor_rows: u64,
    /// Bytes the floor read.
    pub floor_bytes: u64,
    /// Cost of one million broadcasts (one walk each) at the list price.
    pub cost_per_million: Option<f64>,
    /// Time to fill the rooms (N + N/2 + N registrations).
    pub fill_secs: f64,
    /// Seconds the backend took to come to rest after the fill, before the timed walks
    /// (sled: flushing its log); 0 where there is nothing to wait for.
    #[serde(default)]
    pub settle_secs: f64,
}

/// Runs the listing benchmark.
pub async fn run(args: &ListArgs) -> Result<ListReport> {
    let mut rows = Vec::new();
    let mut backend = String::new();
    let mut price = None;
    for &n in &args.sizes {
        let clock = Arc::new(ManualClock::starting_now());
        let namespace = format!("bench_{}_{n}", std::process::id());
        let target = Target::open(&args.store, &namespace, clock.clone()).await?;
        backend = target.backend.to_owned();
        price = target.price.map(PriceNote::of);
        eprintln!("list {backend}: filling N = {n}");
        let measured = measure(&target, &clock, n, args).await;
        // Clean up even when measuring failed, then report the failure.
        let cleaned = target.cleanup().await;
        let row = measured?;
        cleaned?;
        eprintln!(
            "list {backend}: N = {n}: store p50 {:.3} ms, floor p50 {:.3} ms, ratio {:.2}",
            row.store.p50_ms, row.floor.p50_ms, row.ratio
        );
        rows.push(row);
    }
    Ok(ListReport {
        machine: Machine::current(),
        command: command_line(args),
        backend,
        price,
        rows,
    })
}

fn command_line(args: &ListArgs) -> String {
    let sizes: Vec<String> = args.sizes.iter().map(ToString::to_string).collect();
    let mut line = format!(
        "cargo run --release -p bench -- list --store '{}' --n {}",
        store::redact(&args.store),
        sizes.join(",")
    );
    if let Some(walks) = args.walks {
        line.push_str(&format!(" --walks {walks}"));
    }
    line
}

/// The default number of timed walks: enough for a stable p95 without hours at N = 100k.
fn default_walks(n: usize) -> usize {
    match n {
        0..=1_000 => 50,
        1_001..=10_000 => 20,
        _ => 10,
    }
}

async fn measure(
    target: &Target,
    clock: &ManualClock,
    n: usize,
    args: &ListArgs,
) -> Result<ListRow> {
    let room = RoomName::new("bench").expect("valid");
    let other = RoomName::new("other").expect("valid");
    let started = Instant::now();
    fill(&*target.store, &room, &other, n, args.fill_concurrency).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    let settle_secs = settle(target).await?;
    // Past every short lease, long before the long ones.
    clock.advance(Duration::from_secs(2));
    let now = clock.now_ms();

    // One untimed walk each: warms caches and connection pools, and checks the answer.
    let warm = store_walk(&*target.store, &room).await?;
    if warm.members != n as u64 {
        return Err(StoreError::config(format!(
            "the store listed {} live connections, expected {n}",
            warm.members
        )));
    }
    target.floor.walk(&room, now).await?;

    let walks = args.walks.unwrap_or_else(|| default_walks(n)).max(1);
    let (mut store_times, mut floor_times) = (Vec::new(), Vec::new());
    let (mut store_requests, mut floor_walk, mut store_bytes) = (None, Default::default(), 0);
    let mut store_read_units = None;
    // Alternate the two so that both see the same machine noise.
    for _ in 0..walks {
        let before = target.requests();
        let units_before = target.read_units();
        let started = Instant::now();
        let walk = store_walk(&*target.store, &room).await?;
        store_times.push(started.elapsed());
        store_requests = target.requests().zip(before).map(|(a, b)| a - b);
        store_read_units = target.read_units().zip(units_before).map(|(a, b)| a - b);
        store_bytes = walk.bytes;
        if walk.members != n as u64 {
            return Err(StoreError::config(format!(
                "a walk listed {} live connections, expected {n}",
                walk.members
            )));
        }
        let started = Instant::now();
        floor_walk = target.floor.walk(&room, now).await?;
        floor_times.push(started.elapsed());
    }
    let (store, floor) = (Summary::of(&store_times), Summary::of(&floor_times));
    // Priced by read units where the backend bills them, else by requests.
    let priced = store_read_units.or(store_requests.map(|r| r as f64));
    let scan_read_units = match &target.scan {
        Some(scan) => Some(scan().await?),
        None => None,
    };
    Ok(ListRow {
        n,
        store,
        floor,
        ratio: store.p50_ms / floor.p50_ms.max(1e-6),
        store_requests,
        store_read_units,
        scan_read_units,
        floor_requests: floor_walk.requests,
        store_bytes,
        floor_rows: floor_walk.rows,
        floor_bytes: floor_walk.bytes,
        cost_per_million: target
            .price
            .zip(priced)
            .map(|(price, units)| price.per_million_broadcasts(units)),
        fill_secs,
        settle_secs,
    })
}

/// N live in `room` with N/2 expired-to-be interleaved (`m00000004x` sorts between
/// `m00000004` and `m00000005`), N live in `other`.
async fn fill(
    store: &dyn ConnectionStore,
    room: &RoomName,
    other: &RoomName,
    n: usize,
    concurrency: usize,
) -> Result<()> {
    let endpoint = Endpoint::new("http://10.0.0.1:8081").expect("valid");
    let registration = |room: &RoomName, ttl: Duration| Registration {
        room: room.clone(),
        endpoint: endpoint.clone(),
        metadata: Metadata::default(),
        ttl,
    };
    let long = Duration::from_secs(24 * 3600);
    let short = Duration::from_secs(1);
    let mut work: Vec<(String, Registration)> = Vec::with_capacity(n * 5 / 2);
    for i in 0..n {
        work.push((format!("m{i:08}"), registration(room, long)));
        work.push((format!("o{i:08}"), registration(other, long)));
    }
    for i in 0..n / 2 {
        work.push((format!("m{:08}x", 2 * i), registration(room, short)));
    }
    futures::stream::iter(work)
        .map(|(id, registration)| async move {
            let id = ConnectionId::new(id).expect("valid id");
            store.register(&id, &registration).await.map(drop)
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// What one store walk returned.
#[derive(Debug, Clone, Copy, Default)]
struct StoreWalk {
    /// Live members listed.
    members: u64,
    /// Bytes of their ids, endpoints and expiries.
    bytes: u64,
}

/// Lets the backend finish the fill's writes (see [`Target::settle`]); answers the seconds
/// it took.
pub(crate) async fn settle(target: &Target) -> Result<f64> {
    let started = Instant::now();
    if let Some(settle) = &target.settle {
        settle().await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Reads every live member of `room` as a broadcast does (`list_room`: one call where the
/// store can, else pages of 1,000).
async fn store_walk(store: &dyn ConnectionStore, room: &RoomName) -> Result<StoreWalk> {
    let members = store.list_room(room).await?;
    Ok(StoreWalk {
        members: members.len() as u64,
        bytes: members
            .iter()
            .map(|m| (m.id.as_str().len() + m.endpoint.as_str().len() + 8) as u64)
            .sum(),
    })
}
