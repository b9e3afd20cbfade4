//! Runs the whole suite against one harness and renders a pass/fail table.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Harness, run_scenario};
use crate::model::model_check;
use crate::scenarios::SCENARIOS;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The contract clause.
    pub clause: &'static str,
    /// The scenario (or `model_check`).
    pub name: &'static str,
    /// `None` when it passed, else why it failed.
    pub failure: Option<String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One row per scenario, then the model check.
    pub rows: Vec<Row>,
}

impl Report {
    /// True when every row passed.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|row| row.failure.is_none())
    }

    /// How many rows failed.
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|row| row.failure.is_some()).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(8);
        writeln!(
            f,
            "{:<12} {:<width$} {:>6} {:>9}",
            "clause", "scenario", "result", "ms"
        )?;
        for row in &self.rows {
            let result = if row.failure.is_none() {
                "pass"
            } else {
                "FAIL"
            };
            writeln!(
                f,
                "{:<12} {:<width$} {:>6} {:>9}",
                row.clause,
                row.name,
                result,
                row.elapsed.as_millis()
            )?;
            if let Some(why) = &row.failure {
                writeln!(f, "    -> {why}")?;
            }
        }
        let passed = self.rows.len() - self.failures();
        write!(f, "{passed} passed, {} failed", self.failures())
    }
}

/// Runs every scenario (one after another, each in its own namespace) and then, when
/// `model_cases > 0`, the model check with that many cases.
pub async fn run_all(harness: Arc<dyn Harness>, model_cases: u32) -> Report {
    let mut report = Report::default();
    for scenario in SCENARIOS {
        let started = Instant::now();
        let outcome = run_scenario(harness.as_ref(), scenario.run).await;
        report.rows.push(Row {
            clause: scenario.clause,
            name: scenario.name,
            failure: outcome.err().map(|f| f.0),
            elapsed: started.elapsed(),
        });
    }
    if model_cases > 0 {
        let started = Instant::now();
        // The model check drives its own runtime (proptest is synchronous), so it runs on a
        // blocking thread rather than inside this one.
        let outcome = tokio::task::spawn_blocking(move || model_check(harness, model_cases))
            .await
            .unwrap_or_else(|e| Err(format!("model check panicked: {e}")));
        report.rows.push(Row {
            clause: "model",
            name: "model_check",
            failure: outcome.err(),
            elapsed: started.elapsed(),
        });
    }
    report
}
