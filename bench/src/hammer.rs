//! `bench hammer`: the workload that hung sled 0.34 in `bench list` (spacejam/sled#1412),
//! replayed against a store for a bounded time with every call watched against a deadline.
//!
//! A round opens the store in a fresh namespace (as `bench list` does per room size), fills
//! one room of 10,000, 30,000 or 100,000 members from many tasks while other tasks register
//! and remove connections of a second room (a chat's churn), lists the room whole, and drops
//! the namespace (sled: its trees; SQL: its table). A call that has not answered within the
//! deadline is a *hang*: the stuck calls are written down (with `--gdb`, a `gdb` thread dump
//! of this process beside the result), and the round gets a grace time: if its calls then
//! answer, the hang was a stall (how long it took is kept); if not, the instance is
//! abandoned (its stuck threads stay stuck; an embedded store moves to a fresh file next to
//! the URL's), and the run goes on.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store_core::{
    ConnectionId, Endpoint, Metadata, Registration, RoomName, StoreError, system_clock,
};

use crate::list::target::Target;
use crate::machine::Machine;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The room sizes rounds cycle through.
const SIZES: [usize; 3] = [10_000, 30_000, 100_000];

/// Stuck calls written down per hang at most.
const STUCK_LISTED: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct HammerArgs {
    /// The store URL.
    pub store: String,
    /// How long to hammer (a round under way finishes).
    pub secs: u64,
    /// A call unanswered this long is a hang.
    pub deadline: Duration,
    /// Tasks filling the room, and as many churning the other.
    pub tasks: usize,
    /// Dump this process's threads with `gdb` on a hang.
    pub gdb: bool,
    /// Stop after this many hangs that never answered (each leaves threads stuck for good:
    /// past a few, the blocking pool is theirs and every later round would hang for that
    /// alone).
    pub max_hangs: usize,
    /// How long a stalled round may still take before it counts as never answering.
    pub grace: Duration,
    /// The result file (a thread dump goes beside it).
    pub out: PathBuf,
}

/// A hang: what was stuck, when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stall {
    /// Since the start of the run.
    pub at_secs: f64,
    /// The round it happened in.
    pub round: u64,
    /// Calls past the deadline then (operation, ms), the oldest first.
    pub stuck: Vec<(String, u64)>,
    /// Calls in flight then, stuck or not.
    pub in_flight: usize,
    /// The thread dump's file, with `--gdb`.
    pub gdb: Option<String>,
    /// When the oldest stuck call answered after all, ms after it began; none if it had not
    /// within the grace time.
    #[serde(default)]
    pub answered_after_ms: Option<u64>,
}

/// The result file, `bench/results/hammer-<store>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HammerReport {
    /// Where and when.
    pub machine: Machine,
    /// How to run it again.
    pub command: String,
    /// The URL's scheme.
    pub store: String,
    /// How long it ran.
    pub secs: f64,
    /// Store calls answered.
    pub calls: u64,
    /// Calls that answered with an error (any kind).
    pub errors: u64,
    /// Hangs: calls unanswered past the deadline (one per round at most).
    pub hangs: u64,
    /// Hangs whose calls had still not answered after the grace time (the instance was
    /// abandoned); the rest were slow, not stuck.
    #[serde(default)]
    pub unanswered: u64,
    /// The slowest answered call, ms.
    pub max_call_ms: f64,
    /// The deadline, ms.
    pub deadline_ms: u64,
    /// Rounds run (completed, failed or hung).
    pub rounds: u64,
    /// Rounds ended by a failed call (an error answer, not a hang).
    pub failed_rounds: u64,
    /// Members registered, in all rounds.
    pub registered: u64,
    /// Each hang.
    pub stalls: Vec<Stall>,
}

/// The calls in flight and what the answered ones took.
#[derive(Debug, Default)]
struct Watch {
    /// Key of the next call.
    next: AtomicU64,
    /// In flight: operation and start, by key. Locked briefly, never across `.await`.
    in_flight: Mutex<HashMap<u64, (&'static str, Instant)>>,
    /// Calls answered.
    calls: AtomicU64,
    /// Answers that were errors.
    errors: AtomicU64,
    /// The slowest answer, µs.
    max_us: AtomicU64,
}

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (&'static str, Instant)>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `call` as `op`, in flight until it answers.
    async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        self.lock().insert(key, (op, started));
        let result = call.await;
        self.lock().remove(&key);
        self.calls.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.max_us
            .fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        result
    }

    /// Calls in flight longer than `deadline`, the oldest first, and all in flight.
    fn stuck(&self, deadline: Duration) -> (Vec<(String, u64)>, usize) {
        let in_flight = self.lock();
        let mut stuck: Vec<(String, u64)> = in_flight
            .values()
            .map(|(op, started)| ((*op).to_owned(), started.elapsed().as_millis() as u64))
            .filter(|(_, ms)| *ms >= deadline.as_millis() as u64)
            .collect();
        stuck.sort_by_key(|call| std::cmp::Reverse(call.1));
        stuck.truncate(STUCK_LISTED);
        (stuck, in_flight.len())
    }
}

/// Runs the hammer.
pub async fn run(args: &HammerArgs) -> Result<HammerReport, BoxError> {
    store::Scheme::of(&args.store)?;
    let name = args.store.split(':').next().unwrap_or_default().to_owned();
    // Read at the start: the commit measured is the one checked out when the run began.
    let machine = Machine::current();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);
    let mut stalls = Vec::new();
    let mut totals = (0u64, 0u64, 0u64, 0u64); // calls, errors, max µs, registered
    let (mut failed_rounds, mut unrecovered) = (0u64, 0usize);
    let (mut round, mut instance) = (0u64, 0u64);
    // Bounded by `until`: each pass is one round, or one abandoned after a hang.
    while Instant::now() < until && unrecovered < args.max_hangs {
        let url = instance_url(&args.store, instance);
        let watch = Arc::new(Watch::default());
        let size = SIZES[(round % SIZES.len() as u64) as usize];
        let work = one_round(url, round, size, args.tasks, watch.clone());
        let on_stall = |stuck: Vec<(String, u64)>, in_flight: usize| {
            let n = stalls.len() + 1;
            eprintln!(
                "hammer {name}: STALL {n} in round {round} at {:.0} s: {in_flight} call(s) in flight, stuck: {stuck:?}",
                started.elapsed().as_secs_f64()
            );
            let gdb = args.gdb.then(|| dump_threads(&args.out, n)).flatten();
            stalls.push(Stall {
                at_secs: started.elapsed().as_secs_f64(),
                round,
                stuck,
                in_flight,
                gdb,
                answered_after_ms: None,
            });
        };
        let outcome = watch_round(work, &watch, args.deadline, args.grace, on_stall).await;
        totals.0 += watch.calls.load(Ordering::Relaxed);
        totals.1 += watch.errors.load(Ordering::Relaxed);
        totals.2 = totals.2.max(watch.max_us.load(Ordering::Relaxed));
        match outcome {
            RoundOutcome::Done { result, stalled } => {
                // The stall (if any) ended: its oldest call answered this long after it began.
                if let (Some(since), Some(stall)) = (stalled, stalls.last_mut()) {
                    let oldest = stall.stuck.first().map_or(0, |(_, ms)| *ms);
                    stall.answered_after_ms = Some(oldest + since.elapsed().as_millis() as u64);
                }
                match result {
                    Ok(registered) => {
                        totals.3 += registered;
                        eprintln!(
                            "hammer {name}: round {round} ({size}) done at {:.0} s",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    // A failed call is no hang: counted, and the next round goes on.
                    Err(err) => {
                        failed_rounds += 1;
                        eprintln!("hammer {name}: round {round} ({size}) failed: {err}");
                    }
                }
            }
            RoundOutcome::Hung => {
                unrecovered += 1;
                eprintln!(
                    "hammer {name}: HANG in round {round}: no answer {} s after the stall; instance abandoned",
                    args.grace.as_secs()
                );
                // The stuck instance keeps its files locked: the next one gets fresh ones.
                instance += 1;
            }
        }
        round += 1;
    }
    Ok(HammerReport {
        machine,
        command: format!(
            "cargo run --release -p bench -- hammer --store '{}' --secs {} --deadline-ms {} --grace-secs {} --tasks {} --max-hangs {}{}",
            store::redact(&args.store),
            args.secs,
            args.deadline.as_millis(),
            args.grace.as_secs(),
            args.tasks,
            args.max_hangs,
            if args.gdb { " --gdb" } else { "" }
        ),
        store: name,
        secs: started.elapsed().as_secs_f64(),
        calls: totals.0,
        errors: totals.1,
        hangs: stalls.len() as u64,
        unanswered: unrecovered as u64,
        max_call_ms: totals.2 as f64 / 1000.0,
        deadline_ms: args.deadline.as_millis() as u64,
        rounds: round,
        failed_rounds,
        registered: totals.3,
        stalls,
    })
}

/// How a round ended.
enum RoundOutcome {
    /// It finished: members registered, or the error that ended it.
    Done {
        /// What it answered.
        result: Result<u64, BoxError>,
        /// When a stall was seen in it, if one was.
        stalled: Option<Instant>,
    },
    /// A call passed the deadline and had not answered after the grace time: the round
    /// was abandoned.
    Hung,
}

/// Waits for `work`, checking twice a second for a call past `deadline` (then telling
/// `on_stall` once, and giving the round `grace` more before abandoning it).
async fn watch_round(
    work: impl Future<Output = Result<u64, BoxError>>,
    watch: &Watch,
    deadline: Duration,
    grace: Duration,
    mut on_stall: impl FnMut(Vec<(String, u64)>, usize),
) -> RoundOutcome {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut stalled: Option<Instant> = None;
    loop {
        tokio::select! {
            result = &mut work => return RoundOutcome::Done { result, stalled },
            _ = tick.tick() => match stalled {
                None => {
                    let (stuck, in_flight) = watch.stuck(deadline);
                    if !stuck.is_empty() {
                        on_stall(stuck, in_flight);
                        stalled = Some(Instant::now());
                    }
                }
                // Dropped, the round aborts its tasks (their `JoinSet`s); a call stuck on
                // a blocking thread stays stuck there.
                Some(since) if since.elapsed() >= grace => return RoundOutcome::Hung,
                Some(_) => {}
            },
        }
    }
}

/// One round: open, fill and churn, list, drop. Answers the members registered.
async fn one_round(
    url: String,
    round: u64,
    size: usize,
    tasks: usize,
    watch: Arc<Watch>,
) -> Result<u64, BoxError> {
    let namespace = format!("hammer{round}");
    let target = watch
        .call("open", Target::open(&url, &namespace, system_clock()))
        .await?;
    let store = target.store.clone();
    let room = RoomName::new(format!("big{round}"))?;
    let side = RoomName::new(format!("side{round}"))?;
    let filling = Arc::new(AtomicBool::new(true));
    let tasks = tasks.max(1);
    let mut fillers = tokio::task::JoinSet::new();
    let mut churners = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let (filler_store, filler_watch) = (store.clone(), watch.clone());
        let room = room.clone();
        fillers.spawn(async move {
            let (store, watch) = (filler_store, filler_watch);
            let mut done = 0u64;
            for i in (task..size).step_by(tasks) {
                let id = ConnectionId::new(format!("m{i:08}"))?;
                watch
                    .call("register", store.register(&id, &registration(&room)))
                    .await?;
                done += 1;
            }
            Ok::<u64, BoxError>(done)
        });
        let (store, watch, side, filling) =
            (store.clone(), watch.clone(), side.clone(), filling.clone());
        churners.spawn(async move {
            let mut done = 0u64;
            // Bounded by the fill: it stops when the fillers are done.
            while filling.load(Ordering::Relaxed) {
                let id = ConnectionId::new(format!("c{task:04}-{}", done % 64))?;
                watch
                    .call("register", store.register(&id, &registration(&side)))
                    .await?;
                watch.call("remove", store.remove(&id)).await?;
                done += 1;
            }
            Ok::<u64, BoxError>(done)
        });
    }
    let mut registered = 0;
    while let Some(filled) = fillers.join_next().await {
        registered += filled??;
    }
    filling.store(false, Ordering::Relaxed);
    while let Some(churned) = churners.join_next().await {
        registered += churned??;
    }
    let listed = watch.call("list_room", store.list_room(&room)).await?;
    if listed.len() != size {
        return Err(format!("listed {} of {size} members", listed.len()).into());
    }
    drop(store);
    watch.call("drop", target.cleanup()).await?;
    Ok(registered)
}

fn registration(room: &RoomName) -> Registration {
    Registration {
        room: room.clone(),
        endpoint: Endpoint::new("http://10.0.0.1:8081").expect("a valid endpoint"),
        metadata: Metadata::default(),
        ttl: Duration::from_secs(3600),
    }
}

/// The URL of instance `n`: the URL itself first; after a hang, an embedded store's file
/// or folder with `-n` appended (the stuck one keeps its lock), a server's the same URL.
fn instance_url(url: &str, n: u64) -> String {
    if n == 0
        || !(url.starts_with("sled:") || url.starts_with("sqlite:"))
        || url.contains(":memory:")
    {
        return url.to_owned();
    }
    let (path, query) = url
        .split_once('?')
        .map_or((url, None), |(p, q)| (p, Some(q)));
    let path = format!("{}-{n}", path.trim_end_matches('/'));
    match query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    }
}

/// `gdb`'s backtrace of every thread of this process, written beside `out`; its file name.
fn dump_threads(out: &Path, n: usize) -> Option<String> {
    let file = out.with_file_name(format!(
        "{}-stall-{n}.txt",
        out.file_stem()?.to_string_lossy()
    ));
    let dump = std::process::Command::new("gdb")
        .args([
            "-p",
            &std::process::id().to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .output();
    match dump {
        Ok(output) => {
            let mut text = output.stdout;
            text.extend_from_slice(&output.stderr);
            std::fs::write(&file, text).ok()?;
            Some(file.display().to_string())
        }
        Err(err) => {
            eprintln!("hammer: gdb could not run: {err}");
            None
        }
    }
}

/// Calls per operation, for a summary line.
pub fn summary(report: &HammerReport) -> String {
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for stall in &report.stalls {
        for (op, _) in &stall.stuck {
            *ops.entry(op.as_str()).or_default() += 1;
        }
    }
    format!(
        "hammer {}: {:.0} s, {} calls, {} errors, {} hang(s) (stuck: {ops:?}), slowest {:.1} ms, {} rounds ({} failed)",
        report.store,
        report.secs,
        report.calls,
        report.errors,
        report.hangs,
        report.max_call_ms,
        report.rounds,
        report.failed_rounds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_after_a_hang_get_fresh_files() {
        assert_eq!(instance_url("sled:///tmp/h", 0), "sled:///tmp/h");
        assert_eq!(instance_url("sled:///tmp/h/", 2), "sled:///tmp/h-2");
        assert_eq!(
            instance_url("sqlite:///tmp/h.db?table=t", 1),
            "sqlite:///tmp/h.db-1?table=t"
        );
        assert_eq!(instance_url("postgres://x/y", 3), "postgres://x/y");
        assert_eq!(instance_url("sqlite::memory:", 3), "sqlite::memory:");
    }
}
