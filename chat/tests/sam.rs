//! A SAM template run as it is: `gateway --sam template.yaml` starts a chat laid out as
//! AWS's sample chat is (`tests/sam-chat/`: a WebSocket API, `$connect`, `$disconnect` and
//! `sendmessage` routes, three Node.js functions on a DynamoDB table through the AWS SDK v3,
//! which `--node-path` puts on their module path as Lambda's runtime does), its table on
//! moto's DynamoDB server, the push API over TLS with a certificate the node makes
//! (`--make-tls`: `sendmessage` builds `https://` + `domainName`, as AWS's does); the
//! functions under AWS's Node.js runtime interface client
//! (`aws-lambda-ric`, `--node-ric`: `TEST_NODE_RIC`), and under the node's own loop; and a
//! custom runtime (`provided.al2023`: the `bootstrap` in `CodeUri`) behind a two-way route.

use std::process::Command;
use std::time::Duration;

mod common;

use common::binary::Binary;
use common::lambda::{
    aws_env, create_table, dynamodb_endpoint, fresh, processes_marked, stop_leaves_no_function,
};
use common::output::succeeds;
use common::python::python;
use common::ws::{close_frame, connect, next_json, next_text, send_text};

/// The connections in `table` (a scan, as the sample's `sendmessage` does).
fn table_size(endpoint: &str, table: &str) -> usize {
    let mut command = Command::new(python());
    command
        .args([
            "-c",
            "import sys, boto3; print(boto3.client('dynamodb').scan(TableName=sys.argv[1])['Count'])",
            table,
        ])
        .envs(aws_env(endpoint));
    succeeds(command, "scanning the table")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_template_runs_as_it_is_under_aws_lambda_ric() {
    let ric = std::env::var("TEST_NODE_RIC").expect(
        "TEST_NODE_RIC names aws-lambda-ric's package folder (scripts/services.sh ensure_node_ric)",
    );
    chat_template_runs(&["--node-ric", &ric]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_template_runs_as_it_is_under_the_nodes_own_runtime_loop() {
    chat_template_runs(&[]).await;
}

/// Starts the template chat with `runtime` flags; two clients chat; one leaves.
async fn chat_template_runs(runtime: &[&str]) {
    let node_path = std::env::var("TEST_NODE_PATH").expect(
        "TEST_NODE_PATH (scripts/services.sh ensure_node_packages installs the AWS SDK v3 there)",
    );
    let endpoint = dynamodb_endpoint();
    let table = fresh("chat_");
    create_table(&endpoint, &table, "connectionId");
    let mark = fresh("");
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sam-chat/template.yaml");
    let mut node = Binary::launch()
        .args([
            "--sam",
            template,
            "--parameter",
            &format!("TableName={table}"),
        ])
        .args(["--node-path", &node_path, "--make-tls"])
        .args(runtime)
        .env("FUNCTION_MARK", &mark)
        .envs(aws_env(&endpoint))
        .start();
    // The template's stage is the WebSocket's path.
    let url = format!("ws://{}/Prod", node.app);
    let mut ann = connect(&url).await;
    let mut bob = connect(&url).await;
    assert_eq!(table_size(&endpoint, &table), 2);

    // sendmessage posts to every connection in the table, the sender's included.
    send_text(&mut ann, r#"{"action":"sendmessage","data":"hello"}"#).await;
    assert_eq!(next_text(&mut bob).await, "hello");
    assert_eq!(next_text(&mut ann).await, "hello");
    send_text(&mut bob, r#"{"action":"sendmessage","data":"hi ann"}"#).await;
    assert_eq!(next_text(&mut ann).await, "hi ann");
    assert_eq!(next_text(&mut bob).await, "hi ann");

    // $disconnect forgets bob.
    drop(bob);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while table_size(&endpoint, &table) != 1 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "$disconnect did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The node's stop stops its functions.
    let running = processes_marked(&mark);
    assert!(
        running.len() >= 3,
        "an instance per function at least: {running:?}"
    );
    stop_leaves_no_function(&mut node, &mark).await;
    let _ = close_frame(&mut ann).await;
}

/// A custom runtime (`provided.al2023`): the node runs the `bootstrap` in the function's
/// `CodeUri` — here the `lambda_runtime` fixture (`TEST_RUST_FUNCTION`) copied there, as
/// `cargo lambda` packages one — with the template's `Handler` as `_HANDLER`; a route with
/// a route response answers its caller, one without answers nothing, as on AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provided_runtime_runs_the_bootstrap_in_its_code_folder() {
    let binary = std::env::var("TEST_RUST_FUNCTION").expect(
        "TEST_RUST_FUNCTION names the lambda_runtime fixture (./scripts/test builds examples/lambda-rust-fn)",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("echo")).unwrap();
    std::fs::copy(&binary, dir.path().join("echo/bootstrap")).unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, PROVIDED_TEMPLATE).unwrap();
    let mark = fresh("");
    let mut node = Binary::launch()
        .args(["--sam", template.to_str().unwrap()])
        .env("FUNCTION_MARK", &mark)
        .start();
    let mut ws = connect(&format!("ws://{}/dev", node.app)).await;
    // `$default` has no route response: its answer is dropped; `echo`'s comes back, and
    // is the first frame the client sees.
    send_text(&mut ws, r#"{"action":"nothing-here","n":1}"#).await;
    send_text(&mut ws, r#"{"action":"echo","n":2}"#).await;
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["route"], "echo", "{answer}");
    assert_eq!(answer["got"]["n"], 2);
    assert_eq!(answer["function"], "EchoFunction");
    assert_eq!(answer["handler"], "echo.handler");
    send_text(&mut ws, r#"{"action":"echo","fail":true}"#).await;
    assert_eq!(next_json(&mut ws).await["message"], "Internal server error");
    stop_leaves_no_function(&mut node, &mark).await;
}

/// One custom-runtime function behind a two-way named route and a one-way `$default`.
const PROVIDED_TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  EchoApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: EchoApi
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: "$request.body.action"
  EchoRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref EchoApi
      RouteKey: echo
      RouteResponseSelectionExpression: $default
      Target: !Join ['/', ['integrations', !Ref EchoInteg]]
  EchoRouteResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref EchoApi
      RouteId: !Ref EchoRoute
      RouteResponseKey: $default
  DefaultRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref EchoApi
      RouteKey: $default
      Target: !Join ['/', ['integrations', !Ref EchoInteg]]
  EchoInteg:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref EchoApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${EchoFunction.Arn}/invocations
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref EchoApi
      StageName: dev
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: echo.handler
      Runtime: provided.al2023
      Architectures: [x86_64]
"#;
