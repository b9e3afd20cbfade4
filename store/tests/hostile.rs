//! Arbitrary text where a store reads text from outside: store URLs (a flag, an
//! environment variable) and page tokens (a client's `after`). Each gets a typed error or a
//! value, never a panic; a token that parses never breaks a walk.

use std::sync::Arc;

use proptest::prelude::*;
use store_core::{ConnectionStore, ErrorKind, PageToken, RoomName};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

/// A known scheme (or none) and arbitrary rest, often URL-ish.
fn urls() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just(""),
        Just("memory:"),
        Just("sled://"),
        Just("sqlite://"),
        Just("sqlite::"),
        Just("postgres://"),
        Just("postgresql://"),
        Just("mysql://"),
        Just("mariadb://"),
        Just("s3://"),
        Just("cos://"),
        Just("oss://"),
        Just("ftp://"),
    ];
    let rest = prop_oneof![
        "\\PC{0,80}",
        "([a-z0-9:@%./_-]{0,20})(\\?([a-z_]{0,12}=[a-zA-Z0-9%:/._-]{0,20}&?){0,4})?",
    ];
    (scheme, rest).prop_map(|(scheme, rest)| format!("{scheme}{rest}"))
}

proptest! {
    #![proptest_config(config())]

    /// Every backend's URL parser answers a config or a `Config` error.
    #[test]
    fn store_urls_parse_or_fail_typed(url in urls()) {
        let _ = store::redact(&url);
        #[cfg(feature = "sled")]
        if let Err(err) = store_sled::SledConfig::with_url(&url) {
            prop_assert_eq!(err.kind(), ErrorKind::Config, "{}", err);
        }
        #[cfg(feature = "sqlite")]
        if let Err(err) = store_sql::SqliteConfig::with_url(&url) {
            prop_assert_eq!(err.kind(), ErrorKind::Config, "{}", err);
        }
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        if let Err(err) = store_sql::SqlxConfig::with_url(&url) {
            prop_assert_eq!(err.kind(), ErrorKind::Config, "{}", err);
        }
        #[cfg(feature = "s3")]
        if let Err(err) = store_s3::S3Config::with_url(&url) {
            prop_assert_eq!(err.kind(), ErrorKind::Config, "{}", err);
        }
        #[cfg(feature = "oss")]
        if let Err(err) = store_oss::OssConfig::with_url(&url) {
            prop_assert_eq!(err.kind(), ErrorKind::Config, "{}", err);
        }
    }
}

/// The memory model and the embedded stores, fresh.
async fn stores(dir: &std::path::Path) -> Vec<Arc<dyn ConnectionStore>> {
    let mut stores = vec![store::open("memory:").await.unwrap()];
    #[cfg(feature = "sled")]
    stores.push(
        store::open(&format!("sled://{}", dir.join("sled").display()))
            .await
            .unwrap(),
    );
    #[cfg(feature = "sqlite")]
    stores.push(
        store::open(&format!("sqlite://{}", dir.join("s.db").display()))
            .await
            .unwrap(),
    );
    let _ = dir;
    stores
}

/// A page token from a client: refused as `InvalidInput`, or a walk that goes on (here an
/// empty room's).
#[test]
fn page_tokens_from_anywhere_are_refused_typed_or_walk() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stores = runtime.block_on(stores(dir.path()));
    let room = RoomName::new("r").unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&"\\PC{0,300}", |text| {
            match PageToken::parse(&text) {
                Err(err) => prop_assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err),
                Ok(token) => {
                    for store in &stores {
                        match runtime.block_on(store.list(&room, Some(&token), 10)) {
                            Ok(page) => prop_assert!(page.members.is_empty()),
                            Err(err) => prop_assert_eq!(
                                err.kind(),
                                ErrorKind::InvalidInput,
                                "{}: {}",
                                store.backend(),
                                err
                            ),
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
