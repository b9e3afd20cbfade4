//! `bench push`: what one `PostToConnection` costs the node, beside a floor. Keep-alive
//! callers post to connections of real WebSocket clients through the node's push API
//! (no credential, a bearer token, or SigV4 from AWS's SDK), and the same calls to the
//! floor in the same process (a bare hyper handler: the same request parsed, the frame
//! handed to the same hub, then written by the same sockets; no routing, no credential
//! check, no request metrics). Server CPU per push (user +
//! sys of the server process over the phase, every push delivered, ÷ pushes) and pushes
//! per second, the two sides alternating, per credential kind.
//!
//! # Layout
//! - `server`: the node with its floor, in a child process.
//! - `callers`: the HTTP callers and the WebSocket recipients.

pub mod callers;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::fanout::server::ServerProcess;
use crate::machine::Machine;
use crate::stats::Summary;
use callers::{Caller, Received, connect_recipients, drive};
use server::AuthKind;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The frame every push carries (a chat line's size).
const DATA: &[u8] = br#"{"type":"chat","from":"Quiet Otter","text":"a line of about a hundred bytes, as a chat sends"}"#;

/// What `bench push` was asked.
#[derive(Debug, Clone)]
pub struct PushArgs {
    /// The credential kinds, one row each.
    pub auths: Vec<AuthKind>,
    /// WebSocket clients the pushes go to (round robin).
    pub recipients: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Timed pushes per side per round.
    pub pushes: usize,
    /// Rounds, the gateway and the floor alternating.
    pub rounds: usize,
    /// The bench executable (it serves the node in a child process).
    pub exe: PathBuf,
}

/// The result of `bench push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushReport {
    /// Where it ran.
    pub machine: Machine,
    /// The command.
    pub command: String,
    /// WebSocket clients pushed to.
    pub recipients: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Timed pushes per side per round.
    pub pushes_per_round: usize,
    /// Rounds per side.
    pub rounds: usize,
    /// Bytes of each pushed frame.
    pub frame_bytes: usize,
    /// One row per credential kind.
    pub rows: Vec<PushRow>,
}

/// One credential kind: the node's push API beside the floor, same callers, same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRow {
    /// `none`, `bearer` or `sigv4`.
    pub auth: String,
    /// What made the calls.
    pub client: String,
    /// Through the node's push API.
    pub gateway: PushSide,
    /// Through the bare handler.
    pub floor: PushSide,
    /// The gateway's CPU per push over the floor's; `None` when the floor's CPU read zero
    /// (a short run, under the clock's tick): no ratio, rather than an infinite one, which
    /// JSON cannot hold.
    pub cpu_ratio_to_floor: Option<f64>,
}

/// One side's figures, over all its rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSide {
    /// Pushes timed (every one delivered).
    pub pushes: usize,
    /// Server CPU (user + sys) per push, µs, the WebSocket writes included.
    pub cpu_us_per_push: f64,
    /// Pushes answered and delivered per second.
    pub pushes_per_sec: f64,
    /// One call, sent → answered.
    pub per_call: Summary,
}

/// Accumulates one side's rounds.
#[derive(Debug, Default)]
struct Tally {
    pushes: usize,
    cpu_us: u64,
    elapsed: Duration,
    times: Vec<Duration>,
}

impl Tally {
    fn side(&self) -> PushSide {
        PushSide {
            pushes: self.pushes,
            cpu_us_per_push: self.cpu_us as f64 / self.pushes as f64,
            pushes_per_sec: self.pushes as f64 / self.elapsed.as_secs_f64(),
            per_call: Summary::of(&self.times),
        }
    }
}

/// Runs the benchmark.
pub async fn run(args: &PushArgs) -> Result<PushReport, BoxError> {
    if args.recipients == 0 || args.pushes == 0 || args.rounds == 0 {
        return Err("recipients, pushes and rounds must be at least 1".into());
    }
    let mut rows = Vec::new();
    for &auth in &args.auths {
        rows.push(measure(args, auth).await?);
    }
    Ok(PushReport {
        machine: Machine::current(),
        command: format!(
            "cargo run --release -p bench -- push --auth {} --recipients {} --concurrency {} \
             --pushes {} --rounds {}",
            args.auths
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(","),
            args.recipients,
            args.concurrency,
            args.pushes,
            args.rounds
        ),
        recipients: args.recipients,
        concurrency: args.concurrency,
        pushes_per_round: args.pushes,
        rounds: args.rounds,
        frame_bytes: DATA.len(),
        rows,
    })
}

/// One credential kind: a fresh node, its recipients, a warm-up on each side, then the
/// rounds.
async fn measure(args: &PushArgs, auth: AuthKind) -> Result<PushRow, BoxError> {
    let exe_args = ["serve-push", "--auth", auth.name()];
    let server = ServerProcess::start(&args.exe, &exe_args).await?;
    let push = server.push.ok_or("the node named no push listener")?;
    let floor = server
        .push_floor
        .ok_or("the node named no floor listener")?;
    let received = Arc::new(Received::default());
    let ids = Arc::new(connect_recipients(server.addr, args.recipients, &received).await?);
    // The node's stage, as a function's SDK is given it.
    let stage = gateway::Naming::default().stage;
    let sides = [
        Arc::new(Caller::new(auth, &format!("http://{push}/{stage}"))?),
        Arc::new(Caller::new(auth, &format!("http://{floor}/{stage}"))?),
    ];
    let mut tallies = [Tally::default(), Tally::default()];
    let mut expected = 0u64;
    // Warm-up: connections opened, allocator and caches settled, on both sides.
    for caller in &sides {
        let warm = args.pushes.min(2_000);
        drive(caller, &ids, warm, args.concurrency, DATA).await?;
        expected += warm as u64;
    }
    received.reached(expected, Duration::from_secs(60)).await?;
    for _ in 0..args.rounds {
        for (caller, tally) in sides.iter().zip(tallies.iter_mut()) {
            let cpu_before = server.cpu_us()?;
            let started = Instant::now();
            let times = drive(caller, &ids, args.pushes, args.concurrency, DATA).await?;
            expected += args.pushes as u64;
            received.reached(expected, Duration::from_secs(60)).await?;
            tally.elapsed += started.elapsed();
            tally.cpu_us += server.cpu_us()? - cpu_before;
            tally.pushes += args.pushes;
            tally.times.extend(times);
        }
    }
    let client = sides[0].describe().to_owned();
    server.stop().await;
    let (gateway, floor) = (tallies[0].side(), tallies[1].side());
    eprintln!(
        "push auth={}: gateway {:.1} µs/push {:.0}/s, floor {:.1} µs/push {:.0}/s",
        auth.name(),
        gateway.cpu_us_per_push,
        gateway.pushes_per_sec,
        floor.cpu_us_per_push,
        floor.pushes_per_sec
    );
    Ok(PushRow {
        auth: auth.name().to_owned(),
        client,
        cpu_ratio_to_floor: cpu_ratio(gateway.cpu_us_per_push, floor.cpu_us_per_push),
        gateway,
        floor,
    })
}

/// `gateway` over `floor`, when the floor's CPU read more than zero.
fn cpu_ratio(gateway: f64, floor: f64) -> Option<f64> {
    (floor > 0.0).then(|| gateway / floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A floor whose CPU read zero (the smoke test's short runs, under the clock's tick)
    /// gives no ratio: an infinite one was written as `null`, and the report could not
    /// read its own JSON back.
    #[test]
    fn a_floor_that_read_no_cpu_gives_no_ratio_and_its_json_reads_back() {
        assert_eq!(cpu_ratio(125.0, 0.0), None);
        assert_eq!(cpu_ratio(150.0, 100.0), Some(1.5));
        let json = serde_json::json!({ "ratio": cpu_ratio(125.0, 0.0) }).to_string();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(back["ratio"].is_null());
    }
}
