//! [`ConnectionStore`](store_core::ConnectionStore) on Alibaba Cloud OSS, speaking OSS's
//! own protocol and signing.
//!
//! # Why OpenDAL
//! The backend needs put, get, delete and — above all — one-page object listing with a
//! start key, since every broadcast lists a room. `aliyun-oss-rust-sdk` 0.2 has no object
//! listing and only virtual-hosted addressing, so it cannot carry this. OpenDAL's OSS
//! service (`services-oss`) is a well-kept client that lists with ListObjectsV2
//! (`start-after`, `max-keys`), signs requests the OSS way, and supports path or
//! virtual-hosted addressing; we write no signing of our own.
//!
//! The key layout, liveness-from-listing reasoning and race behaviour are in `store-object`.
//!
//! # What OSS cannot do here
//! OSS has no `If-Match` on PUT, so `renew` cannot make its write conditional: the store
//! verifies instead (re-read before the write, list the id's room keys after; see
//! `store-object`), which costs two more requests per renew and one per remove, and keeps
//! the guarantee that a renew racing a `remove` from another process never brings the
//! connection back.
//!
//! # Configuration
//! `OssStore::open(config).await` opens the store an [`OssConfig`] describes (on the system
//! clock unless [`OssConfig::with_clock`] sets another); no request is made until the first
//! call.
//! - Builder: [`OssConfig::new`] + `with_*`.
//! - Environment: [`OssConfig::from_env`] reads `OSS_ACCESS_KEY_ID`,
//!   `OSS_ACCESS_KEY_SECRET`, `OSS_SECURITY_TOKEN`, `OSS_ENDPOINT`
//!   (e.g. `https://oss-cn-hangzhou.aliyuncs.com`) and `OSS_BUCKET`.
//! - URL: `oss://bucket/prefix?endpoint=https://oss-cn-hangzhou.aliyuncs.com` (plus
//!   `path_style=true` for test servers and `namespace=`); credentials come from the
//!   environment, never the URL.
//!
//! # Testing against a real bucket (opt-in)
//! `cargo test -p store-oss --test real_oss -- --ignored` with `OSS_TEST_URL`
//! (`oss://bucket/prefix?endpoint=…`), `OSS_ACCESS_KEY_ID` and `OSS_ACCESS_KEY_SECRET` set
//! runs the whole conformance suite against it; CI runs it against moto's server, which
//! accepts OSS-style requests but does not verify OSS signatures.
//!
//! # Layout
//! - `config`: [`OssConfig`] (`Debug` hides secrets), and how it opens its store.
//! - `client`: the OpenDAL-backed [`ObjectClient`](store_object::ObjectClient).
//! - `error`: `parse_error`.

mod client;
mod config;
mod error;

pub use client::OssClient;
pub use config::OssConfig;
pub use store_object::{ObjectStore, RequestCounts, RequestSnapshot};

/// The store this crate opens, `OssStore::open(config)`: an [`ObjectStore`] on an
/// [`OssClient`] (see [`ObjectStore::open`]).
pub type OssStore = ObjectStore;
