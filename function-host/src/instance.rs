//! One instance: a process running the function's command under `sh -c`, in a process
//! group of its own (so a stop reaches whatever the command started), with Lambda's
//! environment and a Runtime API listener of its own; and its supervisor, which ends it
//! when its invocation runs past the timeout, when it sits idle too long, when its init
//! fails, or when the host stops.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use crate::ids;
use crate::logs;
use crate::pool::{Due, Pool};
use crate::runtime_api;

/// Runs instance `number` of `pool`'s function until it ends, then tells the pool.
pub(crate) async fn run(pool: Arc<Pool>, number: u64) {
    let how = match start(&pool, number).await {
        Ok((mut child, api)) => {
            // The group's id, kept: once the child is reaped, `Child::id` is gone, and
            // what the command left in its group must still be ended.
            let group = child
                .id()
                .and_then(|pid| i32::try_from(pid).ok())
                .map(Pid::from_raw);
            let mut process = Process {
                child: &mut child,
                group,
            };
            let how = supervise(&pool, number, &mut process).await;
            process.signal(Signal::SIGKILL);
            api.abort();
            how
        }
        Err(why) => why,
    };
    tracing::debug!(function = %pool.spec.name, instance = number, %how, "function instance ended");
    pool.ended(number, &how);
}

/// Its Runtime API and its process.
async fn start(
    pool: &Arc<Pool>,
    number: u64,
) -> Result<(Child, tokio::task::JoinHandle<()>), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen for the Runtime API: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen for the Runtime API: {e}"))?;
    let router = runtime_api::router(pool.clone(), number);
    let api = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    match spawn(pool, addr) {
        Ok(mut child) => {
            logs::pipe(pool, number, &mut child);
            Ok((child, api))
        }
        Err(e) => {
            api.abort();
            Err(format!("cannot start `{}`: {e}", pool.spec.command))
        }
    }
}

/// The process, with the environment Lambda gives a function (on top of the node's), the
/// function's own environment last.
fn spawn(pool: &Pool, api: SocketAddr) -> std::io::Result<Child> {
    let spec = &pool.spec;
    let settings = &pool.settings;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&spec.command)
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", ids::log_stream())
        .env("AWS_REGION", &settings.region)
        .env("AWS_DEFAULT_REGION", &settings.region)
        .env("TZ", ":UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let root = match &spec.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    command.current_dir(&root).env("LAMBDA_TASK_ROOT", &root);
    if let Some(handler) = &spec.handler {
        command.env("_HANDLER", handler);
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    command.spawn()
}

/// An instance's process and its process group.
struct Process<'a> {
    /// The command's process (`sh`, or what it `exec`s).
    child: &'a mut Child,
    /// Its process group (the child leads it), known from the start.
    group: Option<Pid>,
}

impl Process<'_> {
    /// Sends `signal` to the whole group.
    fn signal(&self, signal: Signal) {
        if let Some(group) = self.group {
            // ESRCH (the group is gone) is what a stop wants anyway.
            let _ = killpg(group, signal);
        }
    }
}

/// Watches the instance until it ends; says how.
async fn supervise(pool: &Pool, number: u64, child: &mut Process<'_>) -> String {
    let Some(wake) = pool.wake_of(number) else {
        return stop(child, Signal::SIGKILL, pool).await;
    };
    let mut stopping = pool.stopping.subscribe();
    loop {
        let until = match pool.due(number) {
            Due::Wait(until) => until,
            Due::TimedOut => {
                let how = stop(child, Signal::SIGKILL, pool).await;
                return format!("killed: its invocation timed out ({how})");
            }
            Due::Idle => {
                let how = stop(child, Signal::SIGTERM, pool).await;
                return format!("stopped after {:?} idle ({how})", pool.spec.idle);
            }
            Due::InitFailed => {
                let how = stop(child, Signal::SIGKILL, pool).await;
                return format!("its init failed ({how})");
            }
        };
        let deadline = async {
            match until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.child.wait() => {
                // What the command left behind in its group goes too (by the caller).
                return describe(status);
            }
            () = deadline => {}
            () = wake.notified() => {}
            () = stopped(&mut stopping) => {
                let how = stop(child, Signal::SIGTERM, pool).await;
                return format!("stopped with the host ({how})");
            }
        }
    }
}

/// Resolves once the host stops.
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across the stop.
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Ends the process group: `first`, then SIGKILL if the process has not exited after the
/// host's grace.
async fn stop(process: &mut Process<'_>, first: Signal, pool: &Pool) -> String {
    process.signal(first);
    let grace = pool.settings.stop_grace;
    let status = match tokio::time::timeout(grace, process.child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            process.signal(Signal::SIGKILL);
            process.child.wait().await
        }
    };
    process.signal(Signal::SIGKILL);
    describe(status)
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}
