//! The shared conformance suite over OSS's protocol, against moto's server on loopback
//! (it accepts OSS-style path-addressed requests; it does not verify OSS signatures — the
//! `real_oss` test does that against a real bucket, opt-in). `scripts/test` starts moto and
//! sets `TEST_OSS_URL`; without it this test FAILS, it does not skip.

use std::sync::Arc;

use async_trait::async_trait;
use conformance::{Harness, fresh_namespace};
use store_core::{ConnectionStore, Result, SharedClock};
use store_object::ObjectClient;
use store_object::test_util::check_renew_remove_interleavings;
use store_oss::{OssClient, OssConfig, OssStore};

#[derive(Clone)]
struct MotoHarness;

fn oss_url() -> String {
    std::env::var("TEST_OSS_URL")
        .expect("TEST_OSS_URL is not set: run ./scripts/test, which starts moto and sets it")
}

#[async_trait]
impl Harness for MotoHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        let config = OssConfig::with_url(&oss_url())?
            .with_namespace(namespace)?
            .with_clock(clock);
        Ok(Arc::new(OssStore::open(config).await?))
    }
}

conformance::conformance_tests!(MotoHarness);

/// OSS has no conditional PUT: the store verifies by re-reading, and a remove by another
/// process in any gap of a renew (and the reverse) still never resurrects a connection.
#[tokio::test]
async fn renew_and_remove_in_every_gap_of_each_other_never_resurrect() {
    let config = OssConfig::with_url(&oss_url())
        .unwrap()
        .with_namespace(&fresh_namespace())
        .unwrap();
    let client = || -> Arc<dyn ObjectClient> { Arc::new(OssClient::new(&config).unwrap()) };
    check_renew_remove_interleavings(&client, &config.full_prefix()).await;
}
