//! `bench sweep`: what expired records cost a broadcast until a sweep deletes them, and what
//! the sweep itself costs. The room is filled as `bench list` fills it (N live, N/2 expired
//! among them, N live in another room); walks are timed and their requests counted before
//! one sweep and after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store_core::{ManualClock, Result, RoomName, StoreError};

use super::target::Target;
use super::{PriceNote, fill, store_walk};
use crate::machine::Machine;
use crate::stats::Summary;

/// What `bench sweep` was asked.
#[derive(Debug, Clone)]
pub struct SweepArgs {
    /// The store URL.
    pub store: String,
    /// Room sizes (live connections; half as many expired among them).
    pub sizes: Vec<usize>,
    /// Timed walks before and after the sweep.
    pub walks: usize,
    /// Registrations in flight while filling.
    pub fill_concurrency: usize,
}

/// The result of `bench sweep` on one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Where it ran.
    pub machine: Machine,
    /// The command, with secrets removed from the URL.
    pub command: String,
    /// The backend's name.
    pub backend: String,
    /// The provider price applied, if any.
    pub price: Option<PriceNote>,
    /// One row per room size.
    pub rows: Vec<SweepRow>,
}

/// One room size, before and after a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Live connections in the room.
    pub n: usize,
    /// Expired records among them before the sweep.
    pub expired: usize,
    /// A walk with the expired records still there.
    pub before: WalkCost,
    /// The sweep.
    pub sweep: SweepCost,
    /// A walk after it.
    pub after: WalkCost,
}

/// What one walk costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkCost {
    /// Time of one walk.
    pub time: Summary,
    /// Requests per walk (object stores).
    pub requests: Option<u64>,
    /// One million walks at the list price.
    pub cost_per_million: Option<f64>,
}

/// What the sweep cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepCost {
    /// Its duration, ms.
    pub ms: f64,
    /// Requests it made (object stores).
    pub requests: Option<u64>,
    /// Records it deleted (checked: exactly the expired ones).
    pub deleted: u64,
}

/// Runs the sweep benchmark.
pub async fn run(args: &SweepArgs) -> Result<SweepReport> {
    let mut rows = Vec::new();
    let (mut backend, mut note) = (String::new(), None);
    for &n in &args.sizes {
        let clock = Arc::new(ManualClock::starting_now());
        let namespace = format!("sweep_{}_{n}", std::process::id());
        let target = Target::open(&args.store, &namespace, clock.clone()).await?;
        backend = target.backend.to_owned();
        note = target.price.map(PriceNote::of);
        eprintln!("sweep {backend}: filling N = {n}");
        let measured = measure(&target, &clock, n, args).await;
        let cleaned = target.cleanup().await;
        let row = measured?;
        cleaned?;
        eprintln!(
            "sweep {backend}: N = {n}: walk {:.3} → {:.3} ms, requests {:?} → {:?}; sweep {:.1} ms, {:?} requests",
            row.before.time.p50_ms,
            row.after.time.p50_ms,
            row.before.requests,
            row.after.requests,
            row.sweep.ms,
            row.sweep.requests
        );
        rows.push(row);
    }
    let sizes: Vec<String> = args.sizes.iter().map(ToString::to_string).collect();
    Ok(SweepReport {
        machine: Machine::current(),
        command: format!(
            "cargo run --release -p bench -- sweep --store '{}' --n {} --walks {}",
            store::redact(&args.store),
            sizes.join(","),
            args.walks
        ),
        backend,
        price: note,
        rows,
    })
}

async fn measure(
    target: &Target,
    clock: &ManualClock,
    n: usize,
    args: &SweepArgs,
) -> Result<SweepRow> {
    let room = RoomName::new("bench").expect("valid");
    let other = RoomName::new("other").expect("valid");
    fill(&*target.store, &room, &other, n, args.fill_concurrency).await?;
    super::settle(target).await?;
    // Past every short lease, long before the long ones.
    clock.advance(Duration::from_secs(2));
    let before = walks(target, &room, n, args.walks).await?;
    let requests = target.requests();
    let started = Instant::now();
    let deleted = target.store.sweep().await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let sweep_requests = target.requests().zip(requests).map(|(a, b)| a - b);
    if deleted != (n / 2) as u64 {
        return Err(StoreError::config(format!(
            "the sweep deleted {deleted} records, expected the {} expired",
            n / 2
        )));
    }
    let after = walks(target, &room, n, args.walks).await?;
    Ok(SweepRow {
        n,
        expired: n / 2,
        before,
        sweep: SweepCost {
            ms,
            requests: sweep_requests,
            deleted,
        },
        after,
    })
}

/// `count` timed walks of `room` (after one untimed), each checked to list `n` members.
async fn walks(target: &Target, room: &RoomName, n: usize, count: usize) -> Result<WalkCost> {
    store_walk(&*target.store, room).await?;
    let (mut times, mut requests) = (Vec::new(), None);
    for _ in 0..count.max(1) {
        let before = target.requests();
        let started = Instant::now();
        let walk = store_walk(&*target.store, room).await?;
        times.push(started.elapsed());
        requests = target.requests().zip(before).map(|(a, b)| a - b);
        if walk.members != n as u64 {
            return Err(StoreError::config(format!(
                "a walk listed {} live connections, expected {n}",
                walk.members
            )));
        }
    }
    Ok(WalkCost {
        time: Summary::of(&times),
        requests,
        cost_per_million: target
            .price
            .zip(requests)
            .map(|(price, requests)| price.per_million_broadcasts(requests as f64)),
    })
}
