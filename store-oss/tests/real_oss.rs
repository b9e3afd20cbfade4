//! Opt-in: the whole conformance suite against a REAL Alibaba OSS bucket, which verifies
//! OSS signatures (moto does not). Run with
//! `OSS_TEST_URL='oss://bucket/prefix?endpoint=https://oss-cn-hangzhou.aliyuncs.com'
//!  OSS_ACCESS_KEY_ID=… OSS_ACCESS_KEY_SECRET=…
//!  cargo test -p store-oss --test real_oss -- --ignored`.

use std::sync::Arc;

use store_core::ManualClock;
use store_oss::{OssConfig, OssStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real OSS bucket: set OSS_TEST_URL and OSS_ACCESS_KEY_*; run with --ignored"]
async fn conformance_against_a_real_oss_bucket() {
    let url = std::env::var("OSS_TEST_URL").expect("OSS_TEST_URL");

    #[derive(Clone)]
    struct RealOss(String);

    #[async_trait::async_trait]
    impl conformance::Harness for RealOss {
        async fn open(
            &self,
            namespace: &str,
            clock: store_core::SharedClock,
        ) -> store_core::Result<Arc<dyn store_core::ConnectionStore>> {
            let config = OssConfig::with_url(&self.0)?
                .with_namespace(namespace)?
                .with_clock(clock);
            Ok(Arc::new(OssStore::open(config).await?))
        }
    }

    let _ = ManualClock::starting_now();
    let report = conformance::run_all(Arc::new(RealOss(url)), 32).await;
    println!("{report}");
    assert!(report.passed(), "{report}");
}
