//! One conformance suite for every [`ConnectionStore`](store_core::ConnectionStore) backend.
//!
//! The suite is written once here; each backend runs it from its own `tests/` with a
//! [`Harness`] (how to open a fresh store) and one macro call:
//!
//! ```text
//! conformance::conformance_tests!(MyHarness::new());
//! ```
//!
//! which expands to one `#[test]` per scenario plus the proptest model check. The same
//! scenarios back the `conformance` CLI, which checks a user's own storage URL and prints
//! a pass/fail table per contract clause; a store the CLI cannot open by URL (one of the
//! user's own) gets the same table from [`run_all`] in a few lines of its own `main`:
//!
//! ```text
//! let report = conformance::run_all(Arc::new(MyHarness::new()), conformance::DEFAULT_CASES).await;
//! println!("{report}");
//! std::process::exit(if report.passed() { 0 } else { 1 });
//! ```
//!
//! The library has no default features: a backend's tests depend on it as
//! `conformance = { …, default-features = false }` or plainly, and build no backend but
//! their own. The features (`sled`, `sqlite`, `postgres`, …) choose which URL schemes
//! the CLI opens.
//!
//! # Layout
//! - `harness`: the [`Harness`] trait, [`Ctx`] (a fresh store on a manual clock) and the
//!   runner that gives each scenario its own random namespace.
//! - `scenarios`: one async function per contract clause, and their one list,
//!   [`with_scenarios!`], from which [`SCENARIOS`] and [`conformance_tests!`]'s tests are
//!   generated.
//! - `model`: the proptest state-machine check against [`MemoryStore`](store_core::MemoryStore).
//! - `report`: runs everything and renders the table.
//! - `tests_macro`: [`conformance_tests!`].

mod harness;
mod model;
mod report;
mod scenarios;
mod tests_macro;

#[doc(hidden)]
pub use tests_macro::{__block_on, __run_named};

/// Re-exported so that a backend's tests implement [`Harness`] as
/// `#[conformance::async_trait]` without an `async-trait` dependency of their own.
pub use store_core::async_trait;

pub use harness::{Ctx, Failure, Harness, Outcome, fresh_namespace, run_scenario};
pub use model::{DEFAULT_CASES, cases_from_env, model_check};
pub use report::{Report, Row, run_all};
pub use scenarios::{SCENARIOS, Scenario};
