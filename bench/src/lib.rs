//! Benchmarks: what a broadcast's room walk costs on each store backend, and how fast the
//! gateway fans a message out to real WebSocket clients — each figure beside its *floor*,
//! the same work done with no store logic (raw client) or no gateway (bare broadcast
//! server), measured in the same run.
//!
//! ```text
//! cargo run --release -p bench -- list --store sled:///tmp/b --n 100,1000,10000,100000
//! cargo run --release -p bench -- fanout --clients 100,1000,5000
//! cargo run --release -p bench -- hostile --clients 200
//! cargo run --release -p bench -- functions       # Runtime-API vs HTTP function calls
//! cargo run --release -p bench -- push            # PostToConnection beside a bare handler
//! cargo run --release -p bench -- peer            # beside serverless-offline (npm install)
//! cargo run --release -p bench -- hammer --store sqlite:///tmp/h.db --secs 1800
//! cargo run --release -p bench -- report          # BENCHMARKS.md + PNG plots
//! ```
//!
//! These are benchmarks, not timed tests: the test suite runs each once on tiny sizes to
//! prove it works (`tests/smoke.rs`), and asserts nothing about speed.
//!
//! # Layout
//! - `list`: the listing benchmark (stores, floors, prices).
//! - `fanout`: the broadcast benchmark (servers in child processes, clients).
//! - `churn`: a node under connect/disconnect churn, its memory sampled over a long run.
//! - `hammer`: the workload that hung sled, against any store, every call on a deadline.
//! - `hostile`: the most memory one hostile client of each kind pins on a node.
//! - `push`: what one `PostToConnection` costs the node (no credential, bearer, SigV4)
//!   beside a bare handler on the same hub.
//! - `peer`: the fan-out beside serverless-offline, the same Node.js handler on both.
//! - `functions`: a function call on the Runtime-API path beside the HTTP path, and a
//!   cold start.
//! - `report`: results → `BENCHMARKS.md` and plots.
//! - `ws`: the WebSocket clients (a library one with a bounded handshake, a raw one).
//! - `stats`: percentiles. `machine`: where a run happened.

pub mod churn;
pub mod fanout;
pub mod functions;
pub mod hammer;
pub mod hostile;
pub mod list;
pub mod machine;
pub mod peer;
pub mod push;
pub mod report;
pub mod stats;
pub mod ws;
