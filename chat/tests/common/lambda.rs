//! What the tests of functions the node runs share: moto's DynamoDB endpoint and a table
//! on it, the credentials a function needs to reach it, and the processes the node
//! started (found by a marker in their environment).

use std::collections::BTreeSet;
use std::process::Command;

use super::binary::Binary;
use super::output::succeeds;
use super::python::python;

/// moto's DynamoDB endpoint (`scripts/services.sh ensure_moto_dynamodb`).
pub fn dynamodb_endpoint() -> String {
    let url = std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    );
    let (_, query) = url.split_once('?').expect("a query in TEST_DYNAMODB_URL");
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("endpoint="))
        .expect("an endpoint in TEST_DYNAMODB_URL")
        .to_owned()
}

/// A fresh token (a table name, a marker for the functions' processes).
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

/// Makes a connection table keyed by `key`, as a chat's template would.
pub fn create_table(endpoint: &str, table: &str, key: &str) {
    let mut command = Command::new(python());
    command
        .args([
            "-c",
            "import sys, boto3; boto3.client('dynamodb').create_table(TableName=sys.argv[1], \
             KeySchema=[{'AttributeName': sys.argv[2], 'KeyType': 'HASH'}], \
             AttributeDefinitions=[{'AttributeName': sys.argv[2], 'AttributeType': 'S'}], \
             BillingMode='PAY_PER_REQUEST')",
            table,
            key,
        ])
        .envs(aws_env(endpoint));
    succeeds(command, "creating the chat's DynamoDB table");
}

/// What a function needs to reach DynamoDB: a local endpoint and any credentials.
pub fn aws_env(endpoint: &str) -> [(&'static str, String); 4] {
    [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
}

/// The processes whose environment holds `FUNCTION_MARK=<mark>`: the node's functions.
pub fn processes_marked(mark: &str) -> BTreeSet<u32> {
    let needle = format!("FUNCTION_MARK={mark}");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            found.insert(pid);
        }
    }
    found
}

/// Stops `node` (SIGTERM) and checks that it stopped every function process it started
/// (those marked `mark`).
pub async fn stop_leaves_no_function(node: &mut Binary, mark: &str) {
    node.terminate(std::time::Duration::from_secs(15)).await;
    let left = processes_marked(mark);
    assert!(
        left.is_empty(),
        "function processes outlived the node: {left:?}"
    );
}
