//! AWS's own Rust SDK for the push API (`aws-sdk-apigatewaymanagement`), as a function's
//! code would build it: a static key, an endpoint, a region, no retries (a test sees each
//! answer as it is).

use aws_sdk_apigatewaymanagement as apigw;

/// A management API client for `endpoint`, signing with `key_id` / `secret` in `region`.
pub fn client(endpoint: String, key_id: &str, secret: &str, region: &'static str) -> apigw::Client {
    let credentials = apigw::config::Credentials::new(key_id, secret, None, None, "test");
    let config = apigw::Config::builder()
        .behavior_version(apigw::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(apigw::config::Region::new(region))
        .credentials_provider(credentials)
        .retry_config(apigw::config::retry::RetryConfig::disabled())
        .build();
    apigw::Client::from_conf(config)
}
