//! The shared conformance suite against Garage, a real distributed S3 engine (the one users
//! scale out to). `scripts/test` starts a single-node Garage and exports `TEST_GARAGE_URL`
//! (an `s3://` URL) and the `AWS_*` credentials; without them this test FAILS, it does not
//! skip.

use std::sync::Arc;

use async_trait::async_trait;
use conformance::{Harness, fresh_namespace};
use store_core::{ConnectionStore, Result, SharedClock};
use store_object::ObjectClient;
use store_object::test_util::check_renew_remove_interleavings;
use store_s3::{S3Client, S3Config, S3Store};

#[derive(Clone)]
struct GarageHarness;

fn garage_url() -> String {
    std::env::var("TEST_GARAGE_URL")
        .expect("TEST_GARAGE_URL is not set: run ./scripts/test, which starts Garage and sets it")
}

#[async_trait]
impl Harness for GarageHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        let config = S3Config::with_url(&garage_url())?
            .with_namespace(namespace)?
            .with_clock(clock);
        Ok(Arc::new(S3Store::open(config).await?))
    }
}

conformance::conformance_tests!(GarageHarness);

/// Garage's `If-Match` on PUT must hold the store's renew-vs-remove guarantee: a remove by
/// another process in any gap of a renew (and the reverse) never resurrects a connection.
#[tokio::test]
async fn renew_and_remove_in_every_gap_of_each_other_never_resurrect() {
    let config = S3Config::with_url(&garage_url())
        .unwrap()
        .with_namespace(&fresh_namespace())
        .unwrap();
    let client = || -> Arc<dyn ObjectClient> { Arc::new(S3Client::new(&config).unwrap()) };
    check_renew_remove_interleavings(&client, &config.full_prefix()).await;
}

/// Garage 2.5 accepts `If-Match` on PUT and writes anyway (checked by hand with curl too):
/// the store's probe must see that, so renew verifies by re-reading. If a Garage release
/// starts honouring it, this fails and the docs' list of such servers needs updating.
#[tokio::test]
async fn the_probe_finds_that_garage_ignores_if_match() {
    let config = S3Config::with_url(&garage_url())
        .unwrap()
        .with_namespace(&fresh_namespace())
        .unwrap();
    let store = S3Store::open(config).await.unwrap();
    assert!(!store.conditional_writes_honoured().await.unwrap());
}
