//! The S3 [`ObjectClient`]: one SDK request per call.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    retry::RetryConfig, timeout::TimeoutConfig,
};
use aws_sdk_s3::primitives::ByteStream;
use store_core::{ErrorKind, Result, StoreError};
use store_object::{ListPage, ObjectClient, PutCondition, StoredObject};

use crate::config::S3Config;
use crate::error::parse_error;

/// Talks to one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    /// The SDK client (retries off: the store retries and counts).
    client: Client,
    /// The bucket every call addresses.
    bucket: String,
}

impl S3Client {
    /// Builds the SDK client from `config`. Needs static credentials (config or env).
    pub fn new(config: &S3Config) -> Result<Self> {
        config.validate()?;
        let (Some(key_id), Some(secret)) = (&config.access_key_id, &config.secret_access_key)
        else {
            return Err(StoreError::config(
                "s3: no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ));
        };
        let credentials = Credentials::new(
            key_id,
            secret,
            config.session_token.clone(),
            None,
            "store-s3",
        );
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(
                config.region.clone().unwrap_or_else(|| "us-east-1".into()),
            ))
            .credentials_provider(credentials)
            .force_path_style(config.path_style)
            // OSS, COS and many S3-compatible servers reject the SDK's default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(S3Client {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
        })
    }
}

#[async_trait]
impl ObjectClient for S3Client {
    fn backend(&self) -> &'static str {
        "s3"
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let response = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) => {
                let err = parse_error(err);
                return if err.kind() == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let etag = response.e_tag().map(str::to_owned);
        let body = response
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                store: "s3",
                source: Box::new(e),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(StoredObject { body, etag }))
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: PutCondition) -> Result<()> {
        let if_match = match condition {
            PutCondition::None => None,
            PutCondition::IfMatch(etag) => Some(etag),
        };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .set_if_match(if_match)
            .send()
            .await
            .map_err(parse_error)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match parse_error(err) {
                err if err.kind() == ErrorKind::NotFound => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage> {
        let response = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(max_keys.min(1000) as i32)
            .send()
            .await
            .map_err(parse_error)?;
        let keys = response
            .contents()
            .iter()
            .filter_map(|object| object.key().map(str::to_owned))
            .collect();
        Ok(ListPage {
            keys,
            truncated: response.is_truncated().unwrap_or(false),
        })
    }
}
