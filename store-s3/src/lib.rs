//! [`ConnectionStore`](store_core::ConnectionStore) on S3 and S3-compatible object storage
//! (AWS S3, MinIO, Garage, Cloudflare R2, Tencent COS, Alibaba OSS's S3 endpoint), through
//! `aws-sdk-s3`.
//!
//! The key layout, the reasoning for deciding liveness from listings alone, and the
//! behaviour under races are in `store-object`, which this crate plugs an S3 client into.
//!
//! # Configuration
//! `S3Store::open(config).await` opens the store an [`S3Config`] describes (on the system
//! clock unless [`S3Config::with_clock`] sets another); no request is made until the first
//! call.
//! - Builder: [`S3Config::new`] + `with_*`.
//! - Environment: [`S3Config::from_env`] reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or
//!   `AWS_ENDPOINT_URL`), `AWS_BUCKET` and `AWS_S3_FORCE_PATH_STYLE`.
//! - URL: [`S3Config::with_url`]:
//!   `s3://bucket/prefix?region=…&endpoint=http://127.0.0.1:3900&path_style=true`
//!   (`conditional_writes=false` for servers that reject `If-Match`; `namespace=` adds a
//!   prefix segment). Credentials never go in the URL: they come from the environment.
//! - `cos://bucket-appid/prefix?region=ap-guangzhou`: Tencent COS through its S3-compatible
//!   endpoint `https://cos.<region>.myqcloud.com`, virtual-hosted style (COS serves only
//!   that), credentials from `COS_SECRET_ID` / `COS_SECRET_KEY` (or the `AWS_*` pair).
//!
//! ## Tencent COS and Alibaba OSS through this crate
//! | | endpoint | region | addressing |
//! |---|---|---|---|
//! | COS | `https://cos.<region>.myqcloud.com` | e.g. `ap-guangzhou` | virtual-hosted only |
//! | OSS (S3 API) | `https://oss-<region>.aliyuncs.com` (or `s3.oss-<region>.aliyuncs.com`) | e.g. `cn-hangzhou` | virtual-hosted only |
//!
//! Both reject the SDK's default CRC32 request checksums; this crate sets request checksum
//! calculation and response checksum validation to *when required*, as both need. For OSS's
//! own protocol and signing use `store-oss` instead.
//!
//! # Requests
//! SDK retries are off; `store-object` retries temporary errors (429, 5xx, connection
//! failures) itself, a bounded number of times with backoff, so every attempt is counted
//! in [`ObjectStore::request_counts`](store_object::ObjectStore::request_counts). Each
//! attempt times out after 10 s and each connect after 3 s.
//!
//! # Layout
//! - `config`: [`S3Config`] (builder, `from_env`, `with_url`; `Debug` hides secrets), and
//!   how it opens its store.
//! - `client`: the S3 [`ObjectClient`](store_object::ObjectClient).
//! - `error`: `parse_error`, the one place SDK errors become `StoreError`s.

mod client;
mod config;
mod error;

pub use client::S3Client;
pub use config::S3Config;
pub use store_object::{ObjectStore, RequestCounts, RequestSnapshot};

/// The store this crate opens, `S3Store::open(config)`: an [`ObjectStore`] on an
/// [`S3Client`] (see [`ObjectStore::open`]).
pub type S3Store = ObjectStore;
