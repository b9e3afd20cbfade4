//! The shared conformance suite on a DynamoDB-compatible server: moto's, which
//! `scripts/test` starts and names in `TEST_DYNAMODB_URL`; without it these tests FAIL,
//! they do not skip. Every scenario gets its own table (`<table>_<namespace>`), dropped
//! afterwards.

use std::sync::Arc;

use store_core::{ConnectionStore, Result, SharedClock};
use store_dynamodb::{DynamoConfig, DynamoStore};

fn url() -> String {
    std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    )
}

/// The URL's table in `namespace`, with the environment's credentials or moto's
/// placeholders (moto checks none).
fn config(namespace: &str) -> Result<DynamoConfig> {
    let config = DynamoConfig::with_url(&url())?.with_namespace(namespace)?;
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
