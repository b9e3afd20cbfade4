//! The host runs Python handlers under AWS's own runtime interface client (`awslambdaric`
//! from PyPI, in the test venv that `scripts/services.sh` makes: `TEST_PYTHON`), as
//! Lambda runs them: answers, context and environment, warm reuse, a raising handler, a
//! timeout that kills its instance, an init failure, the concurrency limit, the idle stop,
//! and a stop that leaves no process behind. A second runtime, a few lines of the Python
//! standard library, checks the Runtime API's refusals.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use function_host::{Failure, FunctionSpec, Host, HostSettings};
use serde_json::{Value, json};

/// The venv's Python, which has awslambdaric; the test fails loudly without it.
fn python() -> String {
    let python = std::env::var("TEST_PYTHON")
        .expect("TEST_PYTHON must name a Python with awslambdaric (source scripts/services.sh; ensure_python)");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import awslambdaric"])
        .status()
        .expect("TEST_PYTHON runs");
    assert!(ok.success(), "{python} has no awslambdaric");
    python
}

const HANDLERS: &str = r#"
import os, time

def echo(event, context):
    return {
        "event": event,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "env": {k: os.environ.get(k) for k in [
            "AWS_REGION", "AWS_LAMBDA_FUNCTION_VERSION", "LAMBDA_TASK_ROOT", "_HANDLER",
            "AWS_LAMBDA_LOG_GROUP_NAME", "GREETING"]},
    }

def fail(event, context):
    raise ValueError("no such thing")

def slow(event, context):
    time.sleep(event.get("secs", 30))
    return {"pid": os.getpid()}
"#;

fn code_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), HANDLERS).unwrap();
    std::fs::write(
        dir.path().join("broken.py"),
        "raise RuntimeError('broken at import')\n",
    )
    .unwrap();
    dir
}

fn function(name: &str, handler: &str, dir: &Path) -> FunctionSpec {
    let mut spec = FunctionSpec::new(
        name,
        &format!("exec {} -m awslambdaric {handler}", python()),
    );
    spec.dir = Some(dir.to_owned());
    spec.handler = Some(handler.to_owned());
    spec.env = vec![("GREETING".into(), "hello".into())];
    spec
}

fn settings() -> HostSettings {
    HostSettings {
        region: "eu-west-1".into(),
        account: "123456789012".into(),
        stop_grace: Duration::from_millis(500),
        ..HostSettings::default()
    }
}

async fn invoke(host: &Host, name: &str, event: Value) -> Result<Value, Failure> {
    let answer = host.invoke(name, Bytes::from(event.to_string())).await?;
    Ok(serde_json::from_slice(&answer).expect("a JSON answer"))
}

fn alive(pid: i64) -> bool {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    nix::sys::signal::kill(pid, None).is_ok()
}

/// Polls `done` every 20 ms until it holds, failing after `limit`.
async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < give_up, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_answer_with_lambdas_context_and_stay_warm() {
    let dir = code_dir();
    let host = Host::new(settings(), vec![function("echo", "app.echo", dir.path())]).unwrap();
    let first = invoke(&host, "echo", json!({"n": 1})).await.unwrap();
    assert_eq!(first["event"], json!({"n": 1}));
    assert_eq!(first["function_name"], "echo");
    assert_eq!(first["memory"], "128");
    assert_eq!(
        first["arn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:echo"
    );
    let remaining = first["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "{first}");
    assert_eq!(first["request_id"].as_str().unwrap().len(), 36, "{first}");
    let env = &first["env"];
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["_HANDLER"], "app.echo");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/echo");
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(env["LAMBDA_TASK_ROOT"], dir.path().to_str().unwrap());
    // Warm: the same instance serves the next one, under a new request id.
    let second = invoke(&host, "echo", json!({"n": 2})).await.unwrap();
    assert_eq!(second["pid"], first["pid"]);
    assert_ne!(second["request_id"], first["request_id"]);
    assert_eq!(host.instances("echo"), 1);
    let pid = first["pid"].as_i64().unwrap();
    host.shutdown().await;
    assert_eq!(host.instances("echo"), 0);
    assert!(!alive(pid), "the instance outlived the host's stop");
    assert_eq!(
        invoke(&host, "echo", json!({})).await.unwrap_err(),
        Failure::Stopped
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raising_handler_fails_its_invocation_and_its_instance_lives_on() {
    let dir = code_dir();
    let host = Host::new(
        settings(),
        vec![
            function("fail", "app.fail", dir.path()),
            function("echo", "app.echo", dir.path()),
        ],
    )
    .unwrap();
    match invoke(&host, "fail", json!({})).await {
        Err(Failure::Function {
            error_type,
            message,
        }) => {
            assert_eq!(error_type, "ValueError");
            assert_eq!(message, "no such thing");
        }
        other => panic!("expected the handler's error, got {other:?}"),
    }
    assert_eq!(
        host.instances("fail"),
        1,
        "a handler's exception is not a crash"
    );
    assert!(matches!(
        invoke(&host, "nope", json!({})).await,
        Err(Failure::NotFound(_))
    ));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_the_instance_and_a_fresh_one_serves_the_next() {
    let dir = code_dir();
    let mut slow = function("slow", "app.slow", dir.path());
    slow.timeout = Duration::from_millis(700);
    let host = Host::new(settings(), vec![slow]).unwrap();
    let quick = invoke(&host, "slow", json!({"secs": 0})).await.unwrap();
    let first_pid = quick["pid"].as_i64().unwrap();
    let timed_out = invoke(&host, "slow", json!({"secs": 30})).await;
    assert_eq!(
        timed_out.unwrap_err(),
        Failure::TimedOut(Duration::from_millis(700))
    );
    eventually(
        Duration::from_secs(5),
        "the timed-out instance is killed",
        || !alive(first_pid),
    )
    .await;
    let next = invoke(&host, "slow", json!({"secs": 0})).await.unwrap();
    assert_ne!(next["pid"].as_i64().unwrap(), first_pid);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_failure_fails_the_invocation_with_its_error() {
    let dir = code_dir();
    let host = Host::new(
        settings(),
        vec![function("broken", "broken.handler", dir.path())],
    )
    .unwrap();
    for _ in 0..2 {
        match invoke(&host, "broken", json!({})).await {
            Err(Failure::Init(why)) => assert!(why.contains("broken at import"), "{why}"),
            other => panic!("expected an init failure, got {other:?}"),
        }
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_stop_at_the_concurrency_limit_and_when_idle() {
    let dir = code_dir();
    let mut slow = function("slow", "app.slow", dir.path());
    slow.concurrency = 2;
    slow.idle = Duration::from_millis(800);
    let host = std::sync::Arc::new(Host::new(settings(), vec![slow]).unwrap());
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { invoke(&host, "slow", json!({"secs": 0.3})).await })
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for call in calls {
        let answer = call.await.unwrap().expect("queued invocations are served");
        pids.insert(answer["pid"].as_i64().unwrap());
        assert!(host.instances("slow") <= 2);
    }
    assert!(pids.len() <= 2, "{pids:?}");
    eventually(Duration::from_secs(10), "idle instances stop", || {
        host.instances("slow") == 0
    })
    .await;
    for pid in pids {
        assert!(!alive(pid), "an idle instance's process lives on");
    }
    host.shutdown().await;
}

/// A runtime of a few lines that probes the Runtime API's refusals around one
/// invocation, and writes what it was answered to `probe.json`.
const PROBE: &str = r#"
import json, os, urllib.request, urllib.error
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
def call(method, path, body=None):
    req = urllib.request.Request(api + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()
seen = {}
status, headers, event = call("GET", "/invocation/next")
rid = headers["Lambda-Runtime-Aws-Request-Id"]
seen["next"] = [status, headers.get("Content-Type"), headers.get("Lambda-Runtime-Deadline-Ms"),
                headers.get("Lambda-Runtime-Invoked-Function-Arn"), headers.get("Lambda-Runtime-Trace-Id")]
seen["unknown"] = call("POST", "/invocation/not-an-id/response", b"{}")[::2]
seen["init_error_late"] = call("POST", "/init/error", b"{}")[0]
with open("probe.json", "w") as f:
    json.dump(seen, f)
seen["first"] = call("POST", "/invocation/" + rid + "/response", event.encode())[::2]
seen["second"] = call("POST", "/invocation/" + rid + "/response", b"{}")[::2]
with open("probe.json", "w") as f:
    json.dump(seen, f)
call("GET", "/invocation/next")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_api_refuses_as_lambdas_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("probe.py"), PROBE).unwrap();
    let mut probe = FunctionSpec::new("probe", "exec python3 probe.py");
    probe.dir = Some(dir.path().to_owned());
    let host = Host::new(settings(), vec![probe]).unwrap();
    let answer = invoke(&host, "probe", json!({"hi": 1})).await.unwrap();
    assert_eq!(answer, json!({"hi": 1}));
    let read = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("probe.json")).unwrap())
            .unwrap()
    };
    eventually(
        Duration::from_secs(5),
        "the probe writes its findings",
        || read().get("second").is_some(),
    )
    .await;
    let seen = read();
    assert_eq!(seen["next"][0], 200);
    assert_eq!(seen["next"][1], "application/json");
    assert!(seen["next"][2].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(
        seen["next"][3],
        "arn:aws:lambda:eu-west-1:123456789012:function:probe"
    );
    assert!(seen["next"][4].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(seen["unknown"][0], 400);
    let unknown: Value = serde_json::from_str(seen["unknown"][1].as_str().unwrap()).unwrap();
    assert_eq!(unknown["errorType"], "InvalidRequestID");
    assert_eq!(seen["init_error_late"], 403);
    assert_eq!(seen["first"][0], 202);
    assert_eq!(seen["first"][1], r#"{"status":"OK"}"#);
    assert_eq!(seen["second"][0], 403);
    let second: Value = serde_json::from_str(seen["second"][1].as_str().unwrap()).unwrap();
    assert_eq!(second["errorType"], "InvalidStateTransition");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_what_the_command_left_in_its_group() {
    let dir = code_dir();
    let mut echo = function("echo", "app.echo", dir.path());
    // The command leaves a process behind it, in its group, before exec'ing the client.
    echo.command = format!("sleep 300 & echo $! > sleeper.pid; {}", echo.command);
    let host = Host::new(settings(), vec![echo]).unwrap();
    invoke(&host, "echo", json!({})).await.unwrap();
    let sleeper: i64 = std::fs::read_to_string(dir.path().join("sleeper.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(sleeper));
    host.shutdown().await;
    eventually(
        Duration::from_secs(5),
        "the group's leftover is killed",
        || !alive(sleeper),
    )
    .await;
}

/// A runtime that answers once and never asks again (a few lines of the standard library).
const ONE_SHOT: &str = r#"
import os, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
with urllib.request.urlopen(api + "/invocation/next") as r:
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    body = r.read()
urllib.request.urlopen(urllib.request.Request(api + "/invocation/" + rid + "/response", data=body, method="POST")).read()
time.sleep(300)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_asks_again_is_stopped_as_idle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one_shot.py"), ONE_SHOT).unwrap();
    let mut spec = FunctionSpec::new("oneshot", "exec python3 one_shot.py");
    spec.dir = Some(dir.path().to_owned());
    spec.idle = Duration::from_millis(300);
    spec.concurrency = 1;
    let host = Host::new(settings(), vec![spec]).unwrap();
    assert_eq!(
        invoke(&host, "oneshot", json!({"n": 1})).await.unwrap(),
        json!({"n": 1})
    );
    eventually(
        Duration::from_secs(5),
        "the silent instance is stopped",
        || host.instances("oneshot") == 0,
    )
    .await;
    // With concurrency 1, the function is not wedged: a fresh instance serves the next.
    assert_eq!(
        invoke(&host, "oneshot", json!({"n": 2})).await.unwrap(),
        json!({"n": 2})
    );
    host.shutdown().await;
}
