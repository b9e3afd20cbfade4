//! What the store answers when DynamoDB fails: each failure mapped to the error kind a
//! caller acts on, within a bounded time. The SDK parses every answer here, from moto
//! (`TEST_DYNAMODB_URL`, started by `scripts/test`) or from a socket that answers a canned
//! DynamoDB error the way AWS words it.

use std::time::{Duration, Instant};

use store_core::{ErrorKind, StoreError};
use store_dynamodb::{DynamoConfig, DynamoStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn moto_url() -> String {
    std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    )
}

fn with_credentials(config: DynamoConfig) -> DynamoConfig {
    config.with_credentials("test-key", "test-secret")
}

/// A config for `table` at `endpoint` with short timeouts.
fn at(endpoint: &str, table: &str) -> DynamoConfig {
    let url = format!(
        "dynamodb://{table}?endpoint={endpoint}&attempt_timeout_ms=300&operation_timeout_ms=1500"
    );
    with_credentials(DynamoConfig::with_url(&url).unwrap())
}

async fn open_error(config: DynamoConfig) -> StoreError {
    DynamoStore::open(config)
        .await
        .expect_err("opening should have failed")
}

/// Serves every request with HTTP `status` and a DynamoDB error body of `code`.
async fn canned(status: u16, code: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                // One request per connection: its head and small body arrive at once.
                if socket.read(&mut request).await.unwrap_or(0) == 0 {
                    return;
                }
                let body = format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"canned {code}"}}"#
                );
                let response = format!(
                    "HTTP/1.1 {status} Error\r\ncontent-type: application/x-amz-json-1.0\r\n\
                     x-amzn-requestid: canned\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (endpoint, server)
}

#[tokio::test]
async fn each_dynamodb_error_code_maps_to_its_kind() {
    for (status, code, kind) in [
        (
            400,
            "ProvisionedThroughputExceededException",
            ErrorKind::Unavailable,
        ),
        (400, "ThrottlingException", ErrorKind::Unavailable),
        (500, "InternalServerError", ErrorKind::Unavailable),
        (400, "AccessDeniedException", ErrorKind::PermissionDenied),
        (
            400,
            "UnrecognizedClientException",
            ErrorKind::PermissionDenied,
        ),
        (400, "ResourceNotFoundException", ErrorKind::Config),
        (400, "ValidationException", ErrorKind::Backend),
    ] {
        let (endpoint, server) = canned(status, code).await;
        // Room for the SDK's retries of throttling (jittered backoff of up to 1 s, then
        // 2 s) before the last answer decides.
        let url = format!("dynamodb://conns?endpoint={endpoint}&create=false");
        let config = with_credentials(DynamoConfig::with_url(&url).unwrap());
        let error = open_error(config).await;
        assert_eq!(error.kind(), kind, "{code}: {error}");
        assert!(error.to_string().contains(code), "{code}: {error}");
        server.abort();
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    // Bound, then closed: nothing listens on the port.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = open_error(at(&format!("http://127.0.0.1:{port}"), "conns")).await;
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(error.is_temporary());
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable_within_the_operation_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accepts and reads, never answers.
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let error = open_error(at(&endpoint, "conns")).await;
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    // The operation timeout is 1.5 s; a generous margin for a loaded machine, far below
    // "hangs".
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn a_missing_table_is_a_config_error_when_the_store_may_not_create_it() {
    let mut config = with_credentials(DynamoConfig::with_url(&moto_url()).unwrap())
        .with_namespace(&conformance::fresh_namespace())
        .unwrap();
    config.create_table = false;
    let error = open_error(config).await;
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.to_string().contains("create=true"), "{error}");
}

#[tokio::test]
async fn a_table_of_another_key_schema_is_refused_at_open() {
    let config = with_credentials(DynamoConfig::with_url(&moto_url()).unwrap())
        .with_namespace(&conformance::fresh_namespace())
        .unwrap();
    // Somebody else's table under the same name: keyed by `id` alone.
    let store = DynamoStore::open(config.clone()).await.unwrap();
    store.drop_table().await.unwrap();
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    store
        .raw_client()
        .create_table()
        .table_name(&config.table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let error = open_error(config).await;
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(error.to_string().contains("sort key `sk`"), "{error}");
    store.drop_table().await.unwrap();
}
