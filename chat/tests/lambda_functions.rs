//! Functions as functions: the gateway binary runs unmodified Lambda handlers itself
//! (`--function ROUTE=COMMAND`), each under AWS's own Python runtime interface client
//! (`awslambdaric`, in the test venv) talking to the node's Lambda Runtime API. The chat
//! is written as AWS's documentation writes one (`clouds/lambda_chat.py`: a DynamoDB
//! connection table on moto's server, boto3's management client posting to the others);
//! beside it, handlers that raise, sleep past the timeout, report their process
//! (`clouds/lambda_checks.py`), and one that cannot start (`clouds/lambda_broken.py`).
//! Tencent's SCF handlers (`main_handler(event, context)`-style) run under the same client.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

mod common;

use common::binary::Binary;
use common::lambda::{
    aws_env, create_table, dynamodb_endpoint, fresh, processes_marked, stop_leaves_no_function,
};
use common::python::{python, script};
use common::ws::{Ws, close_frame, connect, next_text, send_text, try_connect};

/// `ROUTE=cd <clouds> && exec <python> -m awslambdaric HANDLER`.
fn function(route: &str, handler: &str) -> String {
    format!(
        "{route}=cd '{}' && exec '{}' -m awslambdaric {handler}",
        script("").display(),
        python()
    )
}

/// The next frame, as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn members(ws: &mut Ws) -> u64 {
    send_text(ws, r#"{"action":"members"}"#).await;
    next_json(ws).await["members"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_documented_chat_runs_under_awslambdaric() {
    let endpoint = dynamodb_endpoint();
    let table = fresh("chat-");
    create_table(&endpoint, &table, "connection_id");
    let mark = fresh("");
    let mut node = Binary::launch()
        .args([
            "--dialect",
            "aws",
            "--route-selection",
            "$request.body.action",
        ])
        .args(["--route-responses", "--function-timeout-ms", "1500"])
        .args(["--function-concurrency", "2"])
        .args([
            "--function",
            &function("$connect", "lambda_chat.lambda_handler"),
        ])
        .args([
            "--function",
            &function("$disconnect", "lambda_chat.lambda_handler"),
        ])
        .args([
            "--function",
            &function("sendmessage", "lambda_chat.lambda_handler"),
        ])
        .args(["--function", &function("members", "lambda_checks.members")])
        .args(["--function", &function("fail", "lambda_checks.fail")])
        .args(["--function", &function("slow", "lambda_checks.slow")])
        .env("table_name", &table)
        .env("FUNCTION_MARK", &mark)
        .envs(aws_env(&endpoint))
        .start();
    let url = |name: &str| format!("ws://{}/production?name={name}", node.app);
    let mut ann = connect(&url("ann")).await;
    let mut bob = connect(&url("bob")).await;
    assert_eq!(members(&mut ann).await, 2);

    // A chat line reaches the other once (the sender is not posted to).
    send_text(&mut ann, r#"{"action":"sendmessage","msg":"hello"}"#).await;
    assert_eq!(next_text(&mut bob).await, "ann: hello");
    send_text(&mut ann, r#"{"action":"sendmessage","msg":"again"}"#).await;
    assert_eq!(next_text(&mut bob).await, "ann: again");

    // A handler that raises: AWS's error frame.
    send_text(&mut ann, r#"{"action":"fail"}"#).await;
    let error = next_json(&mut ann).await;
    assert_eq!(error["message"], "Internal server error", "{error}");

    // Past the timeout the instance is killed; a fresh one serves the next message.
    send_text(&mut ann, r#"{"action":"slow","secs":0}"#).await;
    let first = next_json(&mut ann).await["pid"].as_u64().unwrap();
    send_text(&mut ann, r#"{"action":"slow","secs":30}"#).await;
    let error = next_json(&mut ann).await;
    assert!(error["message"].is_string(), "{error}");
    send_text(&mut ann, r#"{"action":"slow","secs":0}"#).await;
    let second = next_json(&mut ann).await["pid"].as_u64().unwrap();
    assert_ne!(first, second, "the timed-out instance served again");

    // Concurrency: four at once on two instances at most, every one served.
    for _ in 0..4 {
        send_text(&mut ann, r#"{"action":"slow","secs":0.3}"#).await;
    }
    let mut pids = BTreeSet::new();
    for _ in 0..4 {
        pids.insert(next_json(&mut ann).await["pid"].as_u64().unwrap());
    }
    assert!(
        pids.len() <= 2,
        "more instances than the concurrency: {pids:?}"
    );

    // `$disconnect` runs: bob's record leaves the table.
    drop(bob);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while members(&mut ann).await != 1 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "$disconnect did not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The node's stop stops its functions: none is left behind.
    let running = processes_marked(&mark);
    assert!(running.len() >= 5, "the functions' processes: {running:?}");
    stop_leaves_no_function(&mut node, &mark).await;
    let _ = close_frame(&mut ann).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_refuses_the_handshake() {
    let mut node = Binary::launch()
        .args(["--dialect", "aws"])
        .args([
            "--function",
            &function("$connect", "lambda_broken.lambda_handler"),
        ])
        .start();
    let url = format!("ws://{}/production", node.app);
    assert_eq!(try_connect(url.as_str()).await.err(), Some(502));
    // Tried again after a backoff, it fails the same way (and the node stays up).
    assert_eq!(try_connect(url.as_str()).await.err(), Some(502));
    node.terminate(Duration::from_secs(15)).await;
}

/// Tencent's SCF handlers (`scf_handlers.py`, as Tencent documents them: `register`,
/// `transport`, `cleanup` taking `(event, context)`) run under the same runtime client,
/// each in processes of its own, with the Tencent dialect's events and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_scf_handlers_run_under_the_same_runtime_client() {
    // The handlers are configured with the reverse push address: a port chosen first.
    let push = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let push_addr = push.local_addr().unwrap();
    drop(push);
    let db = tempfile::tempdir().unwrap();
    let mark = fresh("");
    let mut node = Binary::launch()
        .push_listen(push_addr)
        .args(["--dialect", "tencent", "--function-timeout-ms", "2000"])
        .args(["--function", &function("register", "scf_handlers.register")])
        .args([
            "--function",
            &function("transport", "scf_handlers.transport"),
        ])
        .args(["--function", &function("cleanup", "scf_handlers.cleanup")])
        .env("SENDBACK_HOST", format!("http://{push_addr}/"))
        .env("CONNECTIONS_DB", db.path().join("connections.db"))
        .env("FUNCTION_MARK", &mark)
        .start();
    let url = |query: &str| format!("ws://{}/ws{query}", node.app);
    // errNo ≠ 0 refuses with 403.
    assert_eq!(try_connect(url("?deny=1").as_str()).await.err(), Some(403));
    // register's pushes arrive before anything else; transport reaches the other.
    let mut a = connect(&url("?greet=1")).await;
    for n in 0..3 {
        assert_eq!(next_text(&mut a).await, format!("welcome {n}"));
    }
    let mut b = connect(&url("")).await;
    send_text(&mut a, "hi from a").await;
    assert_eq!(next_text(&mut b).await, "hi from a");
    // A transport that raises drops its client (Tencent's 1011); cleanup tells the other.
    send_text(&mut a, "crash").await;
    assert_eq!(u16::from(close_frame(&mut a).await.0), 1011);
    assert!(next_text(&mut b).await.ends_with(" left"));
    assert!(!processes_marked(&mark).is_empty());
    stop_leaves_no_function(&mut node, &mark).await;
}

/// A function built with AWS's Rust runtime (`lambda_runtime`; `examples/lambda-rust-fn`,
/// which `./scripts/test` builds: `TEST_RUST_FUNCTION`) runs under the same Runtime API,
/// beside a route whose function is an HTTP URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_lambda_runtime_function_runs_too() {
    let binary = std::env::var("TEST_RUST_FUNCTION").expect(
        "TEST_RUST_FUNCTION names the lambda_runtime fixture (./scripts/test builds examples/lambda-rust-fn)",
    );
    // An HTTP function beside it, answering as a Lambda proxy does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/plain",
        axum::routing::post(|| async {
            axum::Json(serde_json::json!({"statusCode": 200, "body": "{\"from\":\"http\"}"}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut node = Binary::launch()
        .args([
            "--dialect",
            "aws",
            "--route-selection",
            "$request.body.action",
        ])
        .args(["--route-responses"])
        .args(["--function", &format!("rusty=exec '{binary}'")])
        .args(["--route", &format!("plain=http://{http}/plain")])
        .start();
    let mut ws = connect(&format!("ws://{}/production", node.app)).await;
    send_text(&mut ws, r#"{"action":"rusty","n":7}"#).await;
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["route"], "rusty", "{answer}");
    assert_eq!(answer["function"], "rusty");
    assert_eq!(answer["handler"], binary.rsplit('/').next().unwrap());
    assert_eq!(answer["got"]["n"], 7);
    assert_eq!(answer["request_id"].as_str().unwrap().len(), 36, "{answer}");
    send_text(&mut ws, r#"{"action":"plain"}"#).await;
    assert_eq!(next_json(&mut ws).await["from"], "http");
    send_text(&mut ws, r#"{"action":"rusty","fail":true}"#).await;
    let error = next_json(&mut ws).await;
    assert_eq!(error["message"], "Internal server error", "{error}");
    node.terminate(Duration::from_secs(15)).await;
}
