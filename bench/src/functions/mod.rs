//! `bench functions`: what a function call costs on the node's two paths, for the same
//! Python handler (one that returns at once): a function the node runs itself (the Lambda
//! Runtime API, under AWS's `awslambdaric`) and an HTTP function (the handler behind a
//! keep-alive HTTP/1.1 runner, `http_runner.py`). Each call goes through the node's invoke
//! layer (the AWS dialect's event and answer), one at a time; and the Runtime-API path's
//! cold start: the first call on a fresh host (process start, runtime client and handler
//! imports, then the call).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use function_host::{FunctionSpec, Host, HostSettings};
use gateway::Functions;
use gateway::invoke::{FunctionMode, HttpRoutes, NodeInfo, hosted};
use gateway::wire::aws::Aws;
use lifecycle::{ConnectionInfo, EventKind, Payload};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::machine::Machine;
use crate::stats::Summary;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const RUNNER: &str = include_str!("http_runner.py");
const HANDLER: &str = "def handler(event, context):\n    return {\"statusCode\": 200}\n";

/// What `bench functions` was asked.
#[derive(Debug, Clone)]
pub struct FunctionsArgs {
    /// A Python with `awslambdaric`.
    pub python: String,
    /// Timed calls on each path (after 50 untimed).
    pub invocations: usize,
    /// Cold starts timed.
    pub cold_starts: usize,
}

/// The result of `bench functions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionsReport {
    /// Where it ran.
    pub machine: Machine,
    /// The command.
    pub command: String,
    /// One row per path.
    pub rows: Vec<FunctionsRow>,
}

/// One path's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionsRow {
    /// `runtime-api` or `http`.
    pub path: String,
    /// What runs the handler.
    pub client: String,
    /// One call, sent → answered, through the node's invoke layer.
    pub per_invocation: Summary,
    /// The first call on a fresh host (Runtime-API path only).
    pub cold_start: Option<Summary>,
}

/// A message event, as a client's frame makes one.
fn message() -> lifecycle::LifecycleEvent {
    let info = Arc::new(ConnectionInfo {
        id: "bench".into(),
        ..ConnectionInfo::default()
    });
    gateway::invoke::event(
        &info,
        EventKind::Message {
            route: "$default".into(),
        },
        Some(Payload::Text(r#"{"action":"noop"}"#.into())),
    )
}

/// The node's functions with every route at `target`.
fn node_functions(target: &str, host: Option<Arc<Host>>) -> Result<Functions, BoxError> {
    let mode = FunctionMode::Http {
        routes: HttpRoutes::lifecycle(target, target, target),
        dialect: &Aws,
        route_responses: false,
    };
    let node = NodeInfo::new("http://127.0.0.1:9", "bench", "bench");
    Ok(Functions::new(&mode, node, host)?)
}

/// `calls` calls, one at a time; each one's time.
async fn time_calls(functions: &Functions, calls: usize) -> Result<Vec<Duration>, BoxError> {
    let event = message();
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        functions
            .invoke(&event, Duration::from_secs(30))
            .await
            .map_err(|e| format!("a call failed: {e}"))?;
        times.push(started.elapsed());
    }
    Ok(times)
}

fn host(args: &FunctionsArgs, dir: &std::path::Path) -> Result<Arc<Host>, BoxError> {
    let mut spec = FunctionSpec::new(
        "noop",
        &format!(
            "exec '{}' -m awslambdaric bench_handler.handler",
            args.python
        ),
    );
    spec.dir = Some(dir.to_owned());
    Ok(Arc::new(Host::new(HostSettings::default(), vec![spec])?))
}

/// Runs the benchmark.
pub async fn run(args: &FunctionsArgs) -> Result<FunctionsReport, BoxError> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("bench_handler.py"), HANDLER)?;
    std::fs::write(dir.path().join("http_runner.py"), RUNNER)?;
    let arn = hosted::arn("us-east-1", "000000000000", "noop");
    let mut rows = Vec::new();

    eprintln!("functions: the Runtime-API path (awslambdaric)");
    let mut cold = Vec::new();
    for _ in 0..args.cold_starts {
        let host = host(args, dir.path())?;
        let functions = node_functions(&arn, Some(host.clone()))?;
        cold.extend(time_calls(&functions, 1).await?);
        host.shutdown().await;
    }
    let host = host(args, dir.path())?;
    let functions = node_functions(&arn, Some(host.clone()))?;
    time_calls(&functions, 50).await?;
    let warm = time_calls(&functions, args.invocations).await?;
    host.shutdown().await;
    rows.push(FunctionsRow {
        path: "runtime-api".into(),
        client: "awslambdaric (Python), one instance kept warm".into(),
        per_invocation: Summary::of(&warm),
        cold_start: (!cold.is_empty()).then(|| Summary::of(&cold)),
    });

    eprintln!("functions: the HTTP path (keep-alive Python runner)");
    let mut runner = tokio::process::Command::new(&args.python)
        .arg(dir.path().join("http_runner.py"))
        .arg(dir.path())
        .arg("bench_handler.handler")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(runner.stdout.take().ok_or("no stdout")?).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| "the HTTP runner did not start")??
        .ok_or("the HTTP runner exited")?;
    let port = ready
        .strip_prefix("ready ")
        .ok_or("the HTTP runner said no port")?;
    let functions = node_functions(&format!("http://127.0.0.1:{port}/"), None)?;
    time_calls(&functions, 50).await?;
    let warm = time_calls(&functions, args.invocations).await?;
    let _ = runner.kill().await;
    rows.push(FunctionsRow {
        path: "http".into(),
        client: "Python http.server runner, HTTP/1.1 keep-alive".into(),
        per_invocation: Summary::of(&warm),
        cold_start: None,
    });
    Ok(FunctionsReport {
        machine: Machine::current(),
        command: format!(
            "cargo run --release -p bench -- functions --invocations {} --cold-starts {}",
            args.invocations, args.cold_starts
        ),
        rows,
    })
}
