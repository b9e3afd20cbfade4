//! One conformance suite for every [`ConnectionStore`](store_core::ConnectionStore) backend.
//!
//! The suite is written once here; each backend runs it from its own `tests/` with a
//! [`Harness`] (how to open a fresh store) and one macro call:
//!
//! ```text
//! conformance::conformance_tests!(MyHarness::new());
//! ```
//!
//! which expands to one `#[tokio::test]` per scenario plus the proptest model check. The
//! same scenarios back the `conformance` CLI, which checks a user's own storage URL and
//! prints a pass/fail table per contract clause.
//!
//! # Layout
//! - `harness`: the [`Harness`] trait, [`Ctx`] (a fresh store on a manual clock) and the
//!   runner that gives each scenario its own random namespace.
//! - `scenarios`: one async function per contract clause, listed in [`SCENARIOS`].
//! - `model`: the proptest state-machine check against [`MemoryStore`](store_core::MemoryStore).
//! - `report`: runs everything and renders the table.
//! - `tests_macro`: [`conformance_tests!`].

mod harness;
mod model;
mod report;
mod scenarios;
mod tests_macro;

#[doc(hidden)]
pub use tests_macro::__run_named;

pub use harness::{Ctx, Failure, Harness, Outcome, fresh_namespace, run_scenario};
pub use model::{DEFAULT_CASES, cases_from_env, model_check};
pub use report::{Report, Row, run_all};
pub use scenarios::{SCENARIOS, Scenario};
