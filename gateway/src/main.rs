//! `gateway`: one gateway node. `cargo run --release -p gateway` serves the chat on
//! http://127.0.0.1:8080 (page and `/ws`) and the push-back API on 127.0.0.1:8081, with
//! the chat functions linked in and connections in sled under `./data`. With function
//! URLs it calls HTTP functions in a cloud's dialect instead (and opens no store).

/// jemalloc returns freed memory to the system: under long connect/disconnect churn on
/// PostgreSQL, glibc's malloc kept it resident in fragmented arenas and the node grew by
/// about 0.26 KiB per connection served, without end (BENCHMARKS.md, churn).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat::ChatFunctions;
use clap::Parser;
use clap::builder::PossibleValuesParser;
use gateway::{
    AliyunConfig, FunctionMode, Gateway, GatewayConfig, HttpRoutes, Hub, Limits, Naming,
    NodePusher, PushAuth, RouteSelection, dialect,
};
use lifecycle::HttpPusher;
use store_core::ConnectionStore;

/// A serverless WebSocket gateway node. (No `Debug`: it holds the push token and secret.)
#[derive(Parser)]
#[command(name = "gateway", version, args_conflicts_with_subcommands = true)]
struct Args {
    /// Something else than serving.
    #[command(subcommand)]
    command: Option<Command>,
    /// Page and WebSocket address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Push-back API address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8081")]
    push_listen: SocketAddr,
    /// Push-back URL advertised to functions (default: http://<push-listen>).
    #[arg(long)]
    push_url: Option<String>,
    /// Bearer token for the push-back API.
    #[arg(long, env = "PUSH_TOKEN", hide_env_values = true)]
    push_token: Option<String>,
    /// Access key id whose AWS Signature V4 the push-back API accepts (with the secret).
    #[arg(
        long,
        env = "PUSH_AWS_ACCESS_KEY_ID",
        requires = "aws_secret_access_key"
    )]
    aws_access_key_id: Option<String>,
    /// Its secret access key.
    #[arg(
        long,
        env = "PUSH_AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "aws_access_key_id"
    )]
    aws_secret_access_key: Option<String>,
    /// Connection store URL (the chat linked in; Alibaba devices in every mode).
    #[arg(
        long,
        env = "STORE_URL",
        hide_env_values = true,
        default_value = "sled://./data/connections"
    )]
    store: String,
    /// Lease of a connection record, seconds (clients heartbeat every 15 s).
    #[arg(long, default_value_t = 60)]
    lease_secs: u64,
    /// The dialect HTTP functions speak (events and answers).
    #[arg(long, alias = "event-shape", default_value = "tencent",
          value_parser = PossibleValuesParser::new(dialect::with_functions()))]
    dialect: String,
    /// HTTP functions: the register / $connect function's URL.
    #[arg(long)]
    register_url: Option<String>,
    /// The transport / $default function's URL.
    #[arg(long)]
    transport_url: Option<String>,
    /// The cleanup / $disconnect function's URL.
    #[arg(long)]
    cleanup_url: Option<String>,
    /// A named route's function, NAME=URL (repeat for more); chosen by --route-selection.
    #[arg(long = "route", value_parser = parse_route)]
    routes: Vec<(String, String)>,
    /// Route selection expression, e.g. '$request.body.action'.
    #[arg(long)]
    route_selection: Option<RouteSelection>,
    /// Send a message function's answer body back to its caller (AWS route responses).
    #[arg(long)]
    route_responses: bool,
    /// Serve Alibaba's channel (on with the chat linked in, or with any --aliyun-*-url).
    #[arg(long)]
    aliyun: bool,
    /// Alibaba channel: the backend of REGISTER API calls (else calls go to the functions).
    #[arg(long)]
    aliyun_register_url: Option<String>,
    /// Alibaba channel: the backend of UNREGISTER API calls.
    #[arg(long)]
    aliyun_unregister_url: Option<String>,
    /// Alibaba channel: the base URL of other API calls (their path appended).
    #[arg(long)]
    aliyun_api_url: Option<String>,
    /// Alibaba channel: the heartbeat interval told to clients, milliseconds (default 25000,
    /// or half the lease when that is shorter).
    #[arg(long)]
    aliyun_keepalive_ms: Option<u64>,
    /// Stage name in events.
    #[arg(long, default_value = "production")]
    stage: String,
    /// API id (AWS apiId, Tencent serviceName) in events.
    #[arg(long, default_value = "local")]
    api_id: String,
    /// Largest client message, bytes.
    #[arg(long, default_value_t = 128 * 1024)]
    max_message_bytes: usize,
    /// Idle timeout, seconds.
    #[arg(long, default_value_t = 120)]
    idle_timeout_secs: u64,
    /// Max connection age, seconds.
    #[arg(long, default_value_t = 7200)]
    max_age_secs: u64,
    /// Messages per second per connection.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Max open connections on this node.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Frames queued for one client at most; one more closes it as too slow (4408).
    #[arg(long, default_value_t = 256)]
    outbound_queue: usize,
    /// Bytes queued for one client at most, the same way.
    #[arg(long, default_value_t = 1024 * 1024)]
    outbound_queue_bytes: usize,
    /// How long a function may take, milliseconds (then 504 at a handshake).
    #[arg(long, default_value_t = 5000)]
    function_timeout_ms: u64,
    /// Bytes a socket reads at a time (kept per connection; larger messages still arrive
    /// whole).
    #[arg(long, default_value_t = 2048)]
    read_buffer_bytes: usize,
    /// Bytes of outgoing frames gathered before a socket write.
    #[arg(long, default_value_t = 4096)]
    write_buffer_bytes: usize,
    /// Seconds a client may take to send a whole request head (a handshake, a push call);
    /// then its connection is closed. A push call's body gets as long again (then 408).
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Bytes of push request bodies held at once before their Signature V4 is checked
    /// (more: 503 at once); also the largest such body (413).
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    pre_auth_body_bytes: usize,
    /// Seconds a write to a client may stay pending (it takes nothing); then it is closed
    /// as too slow (4408).
    #[arg(long, default_value_t = 10)]
    write_timeout_secs: u64,
    /// Threads for blocking store calls (sled, SQLite) at most.
    #[arg(long, default_value_t = 16)]
    blocking_threads: usize,
    /// Delete expired connection records about this often, seconds (with jitter; 0: never,
    /// e.g. when a cron job runs `gateway sweep`).
    #[arg(long, default_value_t = 300)]
    sweep_interval_secs: u64,
    /// Log lines as text or as JSON objects (one per line).
    #[arg(long, default_value = "text", value_parser = PossibleValuesParser::new(["text", "json"]))]
    log_format: String,
}

/// What else the binary does.
#[derive(clap::Subcommand)]
enum Command {
    /// Delete the expired records of a store once and exit (for a cron job or a
    /// timer-triggered function); prints how many it deleted.
    Sweep {
        /// Connection store URL.
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: String,
    },
}

fn parse_route(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, url)) if !name.is_empty() && !url.is_empty() => {
            Ok((name.to_owned(), url.to_owned()))
        }
        _ => Err(format!("`{text}`: expected NAME=URL")),
    }
}

impl Args {
    /// True when function URLs are given (else the chat is linked in).
    fn uses_http_functions(&self) -> bool {
        self.register_url.is_some()
            || self.transport_url.is_some()
            || self.cleanup_url.is_some()
            || !self.routes.is_empty()
    }

    /// Where functions run: HTTP when any function URL is given, else the chat linked in
    /// over `store`, pushing to this node's `hub` directly (its records carry `push_url`)
    /// and to other nodes over HTTP.
    fn functions(
        &self,
        store: Option<&Arc<dyn ConnectionStore>>,
        hub: &Arc<Hub>,
        push_url: &str,
    ) -> Result<FunctionMode, Box<dyn std::error::Error>> {
        let http = self.uses_http_functions();
        if (self.route_selection.is_some() || !self.routes.is_empty()) && self.dialect != "aws" {
            return Err("--route and --route-selection are AWS's: add --dialect aws".into());
        }
        if !self.routes.is_empty() && self.route_selection.is_none() {
            return Err("--route needs --route-selection (e.g. '$request.body.action')".into());
        }
        if http {
            let dialect = dialect::by_name(&self.dialect).ok_or("unknown dialect")?;
            return Ok(FunctionMode::Http {
                routes: HttpRoutes {
                    connect: self.register_url.clone(),
                    disconnect: self.cleanup_url.clone(),
                    default: self.transport_url.clone(),
                    custom: self.routes.iter().cloned().collect::<BTreeMap<_, _>>(),
                    selection: self.route_selection.clone(),
                },
                dialect,
                route_responses: self.route_responses,
            });
        }
        let store = store.ok_or("the chat needs a store")?;
        let remote = Arc::new(HttpPusher::new(self.push_token.clone())?);
        let pusher = Arc::new(NodePusher::new(
            hub.clone(),
            push_url,
            self.max_message_bytes,
            remote,
        ));
        Ok(FunctionMode::InProcess(Arc::new(ChatFunctions::new(
            store.clone(),
            pusher,
            Duration::from_secs(self.lease_secs),
        ))))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    init_logs(&args.log_format);
    // A bounded blocking pool: the embedded stores (sled, SQLite) run every call there, and
    // a join storm would otherwise start hundreds of threads, each keeping its stack and
    // malloc arena resident long after.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(args.blocking_threads.max(1))
        .build()?
        .block_on(async {
            match args.command.take() {
                Some(Command::Sweep { store }) => sweep(&store).await,
                None => serve(args).await,
            }
        })
}

/// Logs go to stderr, so stdout carries only the addresses a script or test reads.
fn init_logs(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if format == "json" {
        logs.json().with_current_span(true).init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// `gateway sweep`: one sweep of `url`'s store.
async fn sweep(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = store::open(url).await?;
    let started = std::time::Instant::now();
    match store_core::sweep_once(store.as_ref()).await {
        Some(Ok(swept)) => {
            announce(&format!(
                "swept {swept} expired record(s) from {} in {} ms\n",
                store::redact(url),
                started.elapsed().as_millis()
            ));
            Ok(())
        }
        Some(Err(err)) => Err(format!("sweep of {} failed: {err}", store::redact(url)).into()),
        None => Err("a sweep was already running".into()),
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = gateway::metrics::install()?;
    let push_auth = PushAuth::new(
        args.push_token.clone(),
        args.aws_access_key_id.clone(),
        args.aws_secret_access_key.clone(),
    )
    .map_err(|e| {
        format!(
            "push API credentials: {e} (--push-token / PUSH_TOKEN, --aws-access-key-id / \
             PUSH_AWS_ACCESS_KEY_ID, --aws-secret-access-key / PUSH_AWS_SECRET_ACCESS_KEY)"
        )
    })?;
    if !args.push_listen.ip().is_loopback() && !push_auth.is_required() {
        return Err(
            "the push-back API listens off loopback: set --push-token (or PUSH_TOKEN) \
                    or an AWS key (--aws-access-key-id, --aws-secret-access-key)"
                .into(),
        );
    }
    let app = tokio::net::TcpListener::bind(args.listen).await?;
    let push = tokio::net::TcpListener::bind(args.push_listen).await?;
    let (app_addr, push_addr) = (app.local_addr()?, push.local_addr()?);
    // From the bound address, so `--push-listen 127.0.0.1:0` advertises the real port.
    let push_url = match &args.push_url {
        Some(url) => url.clone(),
        None => format!("http://{push_addr}"),
    };
    let in_process = !args.uses_http_functions();
    let aliyun = AliyunConfig {
        enabled: args.aliyun
            || in_process
            || args.aliyun_register_url.is_some()
            || args.aliyun_unregister_url.is_some()
            || args.aliyun_api_url.is_some(),
        register_url: args.aliyun_register_url.clone(),
        unregister_url: args.aliyun_unregister_url.clone(),
        api_url: args.aliyun_api_url.clone(),
        keepalive: args.aliyun_keepalive_ms.map_or_else(
            || Duration::from_secs(25).min(Duration::from_secs(args.lease_secs) / 2),
            Duration::from_millis,
        ),
        lease: Duration::from_secs(args.lease_secs),
    };
    if aliyun.keepalive.is_zero() || aliyun.keepalive >= aliyun.lease {
        return Err("--aliyun-keepalive-ms must be above 0 and below --lease-secs".into());
    }
    for url in [
        &aliyun.register_url,
        &aliyun.unregister_url,
        &aliyun.api_url,
    ]
    .into_iter()
    .flatten()
    {
        reqwest::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
    }
    // The store holds the chat's connections and Alibaba's devices; HTTP functions of the
    // other dialects keep their own.
    let store = if in_process || aliyun.enabled {
        Some(store_core::Metered::wrap(store::open(&args.store).await?))
    } else {
        None
    };
    let sweeper = store.as_ref().and_then(|store| {
        store_core::Sweeper::new(store.clone(), Duration::from_secs(args.sweep_interval_secs))
    });
    let hub = Arc::new(Hub::default());
    let config = GatewayConfig {
        functions: args.functions(store.as_ref(), &hub, &push_url)?,
        presence: store,
        aliyun,

        push_url,
        push_auth,
        naming: Naming {
            stage: args.stage.clone(),
            api_id: args.api_id.clone(),
        },
        page: Some(chat::PAGE),
        limits: Limits {
            max_message_bytes: args.max_message_bytes,
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connection_age: Duration::from_secs(args.max_age_secs),
            messages_per_second: args.rate,
            max_connections: args.max_connections,
            outbound_queue: args.outbound_queue,
            outbound_queue_bytes: args.outbound_queue_bytes,
            function_timeout: Duration::from_millis(args.function_timeout_ms),
            read_buffer_bytes: args.read_buffer_bytes,
            write_buffer_bytes: args.write_buffer_bytes,
            header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(args.write_timeout_secs.max(1)),
            pre_auth_body_bytes: args.pre_auth_body_bytes,
            ..Limits::default()
        },
        metrics: Some(metrics),
    };
    let gateway = Arc::new(Gateway::with_hub(config, hub)?);
    announce(&format!(
        "chat:     http://{app_addr}/\npush API: http://{push_addr}\n"
    ));
    let functions = match &gateway.config.functions {
        FunctionMode::InProcess(_) => "the chat, linked in".to_owned(),
        FunctionMode::Http { dialect, .. } => format!("{} functions over HTTP", dialect.name()),
    };
    tracing::info!(chat = %app_addr, push = %push_addr, %functions, aliyun = gateway.config.aliyun.enabled, "listening");
    // Sweeps run beside the node and end with it (a sweep cut short is redone next start).
    let sweeping = sweeper.map(|sweeper| tokio::spawn(sweeper.run(std::future::pending())));
    let served = gateway::run(gateway, app, push, async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await;
    if let Some(task) = sweeping {
        task.abort();
    }
    served?;
    Ok(())
}

/// Prints where the gateway listens. A reader of stdout that went away (a test that read the
/// first line, `| head -1`) must not take the gateway down, as `println!` would by panicking
/// on the broken pipe: the error is ignored and the gateway keeps serving.
fn announce(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
