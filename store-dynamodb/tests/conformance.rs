//! The shared conformance suite on a DynamoDB-compatible server: moto's, which
//! `scripts/test` starts and names in `TEST_DYNAMODB_URL`; without it these tests FAIL,
//! they do not skip. Every scenario gets its own table (`<table>_<namespace>`), dropped
//! afterwards.

use std::{sync::Arc, time::Duration};

use store_core::{ConnectionStore, Result, SharedClock};
use store_dynamodb::{DynamoConfig, DynamoStore};

fn url() -> String {
    std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    )
}

/// How long one request to moto may take. moto's server answers one request at a time in
/// Python, and a scan of a scenario's table beside the other scenarios on a loaded 2-core
/// CI machine has taken over the store's default 3 s attempt (10 s in all): the suite
/// checks the contract, not moto's speed. A server that hangs still fails the test.
const MOTO_ATTEMPT: Duration = Duration::from_secs(30);
const MOTO_OPERATION: Duration = Duration::from_secs(90);

/// The URL's table in `namespace`, with the environment's credentials or moto's
/// placeholders (moto checks none), and moto's timeouts.
fn config(namespace: &str) -> Result<DynamoConfig> {
    let mut config = DynamoConfig::with_url(&url())?.with_namespace(namespace)?;
    config.attempt_timeout = MOTO_ATTEMPT;
    config.operation_timeout = MOTO_OPERATION;
    Ok(match config.access_key_id {
        Some(_) => config,
        None => config.with_credentials("moto-key", "moto-secret"),
    })
}

struct Moto;

#[conformance::async_trait]
impl conformance::Harness for Moto {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        Ok(Arc::new(
            DynamoStore::open(config(namespace)?.with_clock(clock)).await?,
        ))
    }

    async fn cleanup(&self, namespace: &str) -> Result<()> {
        DynamoStore::open(config(namespace)?)
            .await?
            .drop_table()
            .await
    }
}

conformance::conformance_tests!(Moto);
