//! The servers the fan-out benchmark drives, each run in a child process of the bench
//! binary (so its resident memory is its own): the gateway node with the chat functions on
//! the embedded default store (linked in, or as an HTTP function server in a process of
//! its own), and the floor, a minimal tokio WebSocket broadcast server. All print `ready <addr>` on stdout once listening and exit when stdin closes, so a
//! crashed parent never leaves one behind.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gateway::{FunctionMode, Gateway, GatewayConfig, HttpRoutes, Hub, Limits, NodePusher};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves when this process's stdin reaches end of file (the parent is gone or done).
pub async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// The gateway as a user runs it, with the in-process chat functions and limits opened up
/// (`throughput_limits`); with `metrics`, the node's
/// Prometheus metrics on its push listener, as the binary serves them; with
/// `default_limits`, the binary's limits as they are (for `bench hostile`). Prints
/// `ready <app> <push>`.
pub async fn serve_gateway(setup: GatewaySetup<'_>) -> Result<(), BoxError> {
    let app = TcpListener::bind("127.0.0.1:0").await?;
    let push = TcpListener::bind("127.0.0.1:0").await?;
    let hub = Arc::new(Hub::default());
    let functions = match setup.functions_url {
        // The chat's functions in their own process, reached as AWS Lambda proxy
        // integrations; they push back through this node's push API.
        Some(base) => FunctionMode::Http {
            routes: HttpRoutes::lifecycle(
                &format!("{base}/register"),
                &format!("{base}/transport"),
                &format!("{base}/cleanup"),
            ),
            dialect: &gateway::wire::aws::Aws,
            route_responses: false,
        },
        None => {
            let store = open_store(setup.store_url).await?;
            let push_url = format!("http://{}", push.local_addr()?);
            let max_frame = Limits::default().max_message_bytes;
            let http: Arc<dyn lifecycle::Pusher> = Arc::new(lifecycle::HttpPusher::new(None)?);
            let remote: Arc<dyn lifecycle::Pusher> = match setup.node_link {
                None => http,
                Some(url) => Arc::new(
                    gateway::link::NatsLink::connect(
                        url,
                        &push_url,
                        hub.clone(),
                        max_frame,
                        http,
                        setup.node_link_groups,
                    )
                    .await?,
                ),
            };
            let pusher = Arc::new(NodePusher::new(hub.clone(), &push_url, max_frame, remote));
            FunctionMode::InProcess(Arc::new(chat_functions(
                store,
                pusher,
                setup.presence_window_ms,
            )))
        }
    };
    let mut config = GatewayConfig::new(push.local_addr()?, functions);
    config.limits = if setup.default_limits {
        Limits::default()
    } else {
        throughput_limits()
    };
    if setup.metrics {
        config.metrics = Some(gateway::metrics::install()?);
    }
    let gateway = Arc::new(Gateway::builder(config).hub(hub).build()?);
    println!("ready {} {}", app.local_addr()?, push.local_addr()?);
    gateway::run(gateway, app, push, stdin_closed()).await?;
    Ok(())
}

/// How the gateway node `fanout` measures is set up.
#[derive(Debug, Clone, Copy)]
pub struct GatewaySetup<'a> {
    /// The store the chat keeps its connections in (unused with `functions_url`: the
    /// function server has the store then).
    pub store_url: &'a str,
    /// The chat's presence window, ms.
    pub presence_window_ms: u64,
    /// Serve the node's Prometheus metrics on its push listener, as the binary does.
    pub metrics: bool,
    /// The binary's limits as they are (for `bench hostile`), not opened up.
    pub default_limits: bool,
    /// The chat's functions as an HTTP server at this base URL (see [`serve_functions`]),
    /// instead of linked into the node.
    pub functions_url: Option<&'a str>,
    /// Other nodes over NATS at this URL, instead of their push API.
    pub node_link: Option<&'a str>,
    /// Over NATS, broadcasts to rooms on group subjects.
    pub node_link_groups: bool,
}

/// The chat functions the benchmark runs, linked in or behind HTTP.
fn chat_functions(
    store: Arc<dyn store_core::ConnectionStore>,
    pusher: Arc<dyn lifecycle::Pusher>,
    presence_window_ms: u64,
) -> chat::ChatFunctions {
    // A lease longer than any run: no heartbeat traffic mixes into the measurement.
    chat::ChatFunctions::new(store, pusher, Duration::from_secs(3600))
        .with_presence_window(Duration::from_millis(presence_window_ms))
}

/// The store `url` names, as the chat binaries open it: metered, each call under the
/// default deadline (`--store-timeout-ms`, 5 s).
async fn open_store(url: &str) -> Result<Arc<dyn store_core::ConnectionStore>, BoxError> {
    let store = store::open(url).await?;
    Ok(store_core::Metered::wrap_with_deadline(
        store,
        Duration::from_secs(5),
    ))
}

/// The chat's functions as an HTTP server (`chat-functions`, in process here), for the
/// gateway's HTTP-function path: AWS-shaped events in, pushes back through the node's push
/// API. Prints `ready <addr>`.
pub async fn serve_functions(store_url: &str, presence_window_ms: u64) -> Result<(), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let store = open_store(store_url).await?;
    let pusher = Arc::new(lifecycle::HttpPusher::new(None)?);
    let functions = Arc::new(chat_functions(store, pusher, presence_window_ms));
    println!("ready {}", listener.local_addr()?);
    axum::serve(listener, chat::server::router(functions))
        .with_graceful_shutdown(stdin_closed())
        .await?;
    Ok(())
}

/// Limits opened up so the benchmark measures the path, not the throttles.
fn throughput_limits() -> Limits {
    Limits {
        idle_timeout: Duration::from_secs(3600),
        messages_per_second: 1_000_000,
        max_connections: 50_000,
        // The clients share the CPUs with the server; while 5,000 of them join, each
        // receives thousands of join notices, and a client that falls 256 frames behind
        // would be closed as too slow (4408), which is the clients' limit, not the
        // gateway's.
        outbound_queue: 16_384,
        outbound_queue_bytes: 64 * 1024 * 1024,
        // API Gateway's integration timeout: a function that broadcasts to a thousand
        // clients with 16 messages in flight (the HTTP-function paths) takes seconds, which
        // is its cost, not a failure.
        function_timeout: Duration::from_secs(29),
        ..Limits::default()
    }
}

/// The floor: accept, greet, and send every chat line to every other connection through
/// one `tokio::sync::broadcast` channel, as the chat's own line (encoded once, see
/// [`super::line`]). No functions, no store. Plain, it is what
/// one writes first: tokio-tungstenite's defaults and one flush per frame. `tuned`, it has
/// the gateway's read buffer, its gathering size as the write buffer, and writes what is
/// queued with one flush, as the gateway does: what the machine allows with the library.
pub async fn serve_floor(tuned: bool) -> Result<(), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("ready {}", listener.local_addr()?);
    let (tx, _) = broadcast::channel::<Broadcast>(4096);
    let accept = accept_each(&listener, |stream, me| {
        let tx = tx.clone();
        async move {
            let config = tuned.then(super::socket_config);
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, config).await else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let mut rx = tx.subscribe();
            if sink
                .send(Message::text(r#"{"type":"welcome"}"#))
                .await
                .is_err()
            {
                return;
            }
            loop {
                tokio::select! {
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let online = tx.receiver_count() as u64;
                            if let Some(line) = super::line::chat_line(me, &text, online) {
                                let _ = tx.send((me, line.into()));
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                        Some(Ok(_)) => {}
                    },
                    outgoing = rx.recv() => match outgoing {
                        Ok(first) if tuned => {
                            if forward(&mut sink, &mut rx, me, first).await.is_err() {
                                return;
                            }
                        }
                        Ok((from, text)) => {
                            if from != me && sink.send(Message::Text(text)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    });
    tokio::select! {
        _ = accept => {}
        _ = stdin_closed() => {}
    }
    Ok(())
}

/// Clock ticks per second in `/proc/<pid>/stat` (Linux's USER_HZ, fixed at 100 in its
/// user ABI).
const USER_HZ: u64 = 100;

/// Accepts connections on `listener` until the caller stops polling: each with Nagle off
/// and a number of its own (a floor's broadcast skips its sender by it), served by `serve`
/// on a task of its own.
pub(super) async fn accept_each<F, Fut>(listener: &TcpListener, mut serve: F)
where
    F: FnMut(tokio::net::TcpStream, u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut next_id = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, next_id));
        next_id += 1;
    }
}

/// A frame on the floor's broadcast channel: who sent it, and the text.
type Broadcast = (u64, tokio_tungstenite::tungstenite::Utf8Bytes);

/// Writes `first` and the frames already waiting (up to 64, as the gateway) to `sink`, all
/// but the connection's own (`me`), with one flush.
async fn forward<S>(
    sink: &mut S,
    rx: &mut broadcast::Receiver<Broadcast>,
    me: u64,
    first: Broadcast,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: futures::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let (mut from, mut text) = first;
    for written in 1..=64 {
        if from != me {
            sink.feed(Message::Text(text)).await?;
        }
        if written == 64 {
            break;
        }
        match rx.try_recv() {
            Ok(next) => (from, text) = next,
            Err(_) => break,
        }
    }
    sink.flush().await
}

/// A server running in a child process.
#[derive(Debug)]
pub struct ServerProcess {
    /// The child; killed on drop.
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its push API (and `/metrics`), when it has one.
    pub push: Option<SocketAddr>,
    /// The push floor beside its push API (`bench push`), when it has one.
    pub push_floor: Option<SocketAddr>,
    /// A floor (no join notices to wait for).
    pub is_floor: bool,
}

impl ServerProcess {
    /// Starts `exe` with `args` and waits for its `ready <addr> [<push> [<floor>]]` line.
    pub async fn start(exe: &Path, args: &[&str]) -> Result<ServerProcess, BoxError> {
        Self::start_with_env(exe, args, &[]).await
    }

    /// [`ServerProcess::start`] with these environment variables set for the child too.
    pub async fn start_with_env(
        exe: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, BoxError> {
        let mut command = Command::new(exe);
        // A node's default level: its connections' spans are kept as a deployed node
        // keeps them (what a connection costs includes them).
        command
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let line = |line: &str| line.strip_prefix("ready ").map(str::to_owned);
        let is_floor = args.iter().any(|a| a.starts_with("serve-floor"));
        Self::start_command(command, line, is_floor).await
    }

    /// Starts `command` and waits (30 s at most) for the stdout line `ready` recognises,
    /// which gives its addresses (`<addr> [<push> [<floor>]]`); the lines before are
    /// skipped. Its stdin is a pipe, closed when it is dropped.
    pub async fn start_command(
        mut command: Command,
        ready: impl Fn(&str) -> Option<String>,
        is_floor: bool,
    ) -> Result<ServerProcess, BoxError> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        // Bounded by the timeout.
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match lines.next_line().await? {
                    Some(line) => match ready(&line) {
                        Some(found) => return Ok(found),
                        None => continue,
                    },
                    None => {
                        return Err(std::io::Error::other(format!(
                            "{program} exited before it was ready"
                        )));
                    }
                }
            }
        })
        .await
        .map_err(|_| format!("{program} did not say ready within 30 s"))??;
        let mut addrs = found.split(' ');
        let addr = addrs.next().unwrap_or_default().parse()?;
        let push = addrs.next().map(str::parse).transpose()?;
        let push_floor = addrs.next().map(str::parse).transpose()?;
        // Keep reading, so the server never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess {
            child,
            addr,
            push,
            push_floor,
            is_floor,
        })
    }

    /// The child's resident set size, bytes (from `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> Result<u64, BoxError> {
        self.status_bytes("VmRSS")
    }

    /// The most the child has ever held resident, bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64, BoxError> {
        self.status_bytes("VmHWM")
    }

    /// CPU time the child has used so far, user and system, all its threads, in
    /// microseconds (from `/proc/<pid>/stat`, in clock ticks of 10 ms: a figure over a
    /// phase of a second is good to about 1 %).
    pub fn cpu_us(&self) -> Result<u64, BoxError> {
        let pid = self.child.id().ok_or("the server has exited")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name (field 2) is in parentheses and may hold spaces: fields are
        // counted after its closing one; utime and stime are fields 14 and 15.
        let after_name = stat
            .rsplit_once(')')
            .ok_or("unexpected /proc stat")?
            .1
            .split_whitespace()
            .collect::<Vec<_>>();
        let ticks = |i: usize| -> Result<u64, BoxError> {
            Ok(after_name
                .get(i)
                .ok_or("short /proc stat")?
                .parse::<u64>()?)
        };
        // Fields 3.. follow the name: utime is the 12th of them, stime the 13th.
        Ok((ticks(11)? + ticks(12)?) * 1_000_000 / USER_HZ)
    }

    /// A KiB figure of the child's `/proc/<pid>/status`, in bytes.
    fn status_bytes(&self, field: &str) -> Result<u64, BoxError> {
        let pid = self.child.id().ok_or("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .ok_or_else(|| format!("no {field} in /proc status"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib * 1024)
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
