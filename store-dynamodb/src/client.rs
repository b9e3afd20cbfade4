//! The SDK client, built from a [`DynamoConfig`].

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, retry::RetryConfig, timeout::TimeoutConfig,
};
use store_core::{Result, StoreError};

use crate::config::DynamoConfig;

/// Attempts per request, the first included: the SDK retries throttling, server errors
/// and dropped connections with jittered backoff, all within the operation timeout.
const ATTEMPTS: u32 = 3;

/// Builds the client. Needs static credentials (config or environment).
pub(crate) fn build(config: &DynamoConfig) -> Result<Client> {
    config.validate()?;
    let (Some(key_id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) else {
        return Err(StoreError::config(
            "dynamodb: no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ));
    };
    let credentials = Credentials::new(
        key_id,
        secret,
        config.session_token.clone(),
        None,
        "store-dynamodb",
    );
    let mut builder = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(
            config.region.clone().unwrap_or_else(|| "us-east-1".into()),
        ))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.attempt_timeout)
                .operation_attempt_timeout(config.attempt_timeout)
                .operation_timeout(config.operation_timeout)
                .build(),
        );
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(builder.build()))
}
