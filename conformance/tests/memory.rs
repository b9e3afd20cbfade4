//! The suite against the reference store itself, and a check that the test macro covers
//! every scenario.

use std::sync::Arc;

use async_trait::async_trait;
use conformance::Harness;
use store_core::{ConnectionStore, MemoryStore, Result, SharedClock};

#[derive(Clone)]
struct MemoryHarness;

#[async_trait]
impl Harness for MemoryHarness {
    async fn open(&self, _namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        Ok(Arc::new(MemoryStore::with_clock(clock)))
    }
}

conformance::conformance_tests!(MemoryHarness);

#[test]
fn the_macro_covers_every_scenario() {
    let listed: Vec<&str> = conformance::SCENARIOS.iter().map(|s| s.name).collect();
    assert_eq!(COVERED, listed.as_slice());
}
