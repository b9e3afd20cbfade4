//! `gateway`: one node with the chat. `cargo run --release -p chat` serves the chat on
//! http://127.0.0.1:8080 (page, `/ws`, Alibaba's channel) and the push-back API on
//! 127.0.0.1:8081, with the chat functions linked in and connections in SQLite under
//! `./data`; with `--node-link nats://…`, nodes reach one another's connections over NATS.
//! With function URLs it calls HTTP functions in a cloud's dialect instead (and opens a
//! store only for Alibaba's devices). Every node flag is the gateway library's
//! ([`gateway::cli::NodeArgs`]); this binary adds the store and the chat.

/// jemalloc returns freed memory to the system: under long connect/disconnect churn on
/// PostgreSQL, glibc's malloc kept it resident in fragmented arenas and the node grew by
/// about 0.26 KiB per connection served, without end (BENCHMARKS.md, churn).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::sync::Arc;

use chat::cli::StoreArgs;
use chat::{ChatDevices, ChatFunctions};
use clap::Parser;
use gateway::channel::aliyun::Aliyun;
use gateway::cli::{self, NodeArgs};
use gateway::link::{NatsLink, NodeLink};
use gateway::{FunctionMode, Gateway, GatewayConfig, Hub, NodePusher};
use lifecycle::{HttpPusher, Pusher};

/// A serverless WebSocket gateway node, with the chat.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, args_conflicts_with_subcommands = true)]
struct Args {
    /// Something else than serving.
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    node: NodeArgs,
    /// The store: the chat's connections, Alibaba's devices.
    #[command(flatten)]
    store: StoreArgs,
}

/// What else the binary does.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Delete the expired records of a store once and exit (for a cron job or a
    /// timer-triggered function); prints how many it deleted.
    Sweep {
        /// Connection store URL.
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: String,
    },
}

fn main() -> std::process::ExitCode {
    let mut args = Args::parse();
    args.node.init_logs();
    cli::exit(args.node.runtime().map_err(Into::into).and_then(|runtime| {
        runtime.block_on(async {
            match args.command.take() {
                Some(Command::Sweep { store }) => sweep(&store).await,
                None => serve(args).await,
            }
        })
    }))
}

/// `gateway sweep`: one sweep of `url`'s store.
async fn sweep(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = store::open(url).await?;
    let started = std::time::Instant::now();
    let swept = store_core::sweep_once(store.as_ref()).await;
    let (url, ms) = (store::redact(url), started.elapsed().as_millis());
    match swept {
        Some(Ok(swept)) => {
            cli::announce(&format!(
                "swept {swept} expired record(s) from {url} in {ms} ms\n"
            ));
            Ok(())
        }
        Some(Err(err)) => Err(format!("sweep of {url} failed: {err}").into()),
        None => Err("a sweep was already running".into()),
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let node = &args.node.clone().with_template()?;
    let metrics = gateway::metrics::install()?;
    let push_auth = node.push_auth()?;
    node.check_tls()?;
    let http = node.http_functions()?;
    let aliyun_clients = node.aliyun_clients(http.is_none());
    let app = tokio::net::TcpListener::bind(node.listen).await?;
    let push = tokio::net::TcpListener::bind(node.push_listen).await?;
    let (app_addr, push_addr) = (app.local_addr()?, push.local_addr()?);
    let push_url = node.push_url(push_addr);
    // The store holds the chat's connections and Alibaba's devices; HTTP functions of the
    // other dialects keep their own.
    let store = match http.is_none() || aliyun_clients {
        true => Some(args.store.open().await?),
        false => None,
    };
    if let Some(store) = &store {
        // Its families at zero from the first scrape, as the node's own are.
        gateway::metrics::zero_store(store.backend());
    }
    if node.node_link_groups && node.node_link == NodeLink::Http {
        return Err("--node-link-groups needs a NATS node link (--node-link nats://…)".into());
    }
    let hub = Arc::new(Hub::default());
    let functions = match (http, &store) {
        (Some(http), _) => {
            if node.node_link != NodeLink::Http {
                tracing::warn!(
                    "--node-link is for an app linked in: HTTP functions push through the push-back API"
                );
            }
            http
        }
        (None, store) => {
            let store = store.clone().ok_or("the chat needs a store")?;
            let max = node.max_message_bytes;
            let http: Arc<dyn Pusher> = Arc::new(HttpPusher::new(node.push_token.clone())?);
            // Other nodes' connections: over their push-back API, or over NATS (with HTTP
            // where NATS cannot carry a call).
            let remote: Arc<dyn Pusher> = match &node.node_link {
                NodeLink::Http => http,
                NodeLink::Nats(url) => Arc::new(
                    NatsLink::connect(
                        url,
                        &push_url,
                        hub.clone(),
                        max,
                        http,
                        node.node_link_groups,
                    )
                    .await?,
                ),
            };
            let pusher = Arc::new(NodePusher::new(hub.clone(), &push_url, max, remote));
            let chat = ChatFunctions::new(store, pusher, node.lease());
            FunctionMode::InProcess(Arc::new(chat))
        }
    };
    let mut config = GatewayConfig::new(push_addr, functions);
    config.push_url = push_url;
    config.push_auth = push_auth;
    config.naming = node.naming();
    config.page = Some(chat::PAGE);
    config.store = store.clone();
    config.limits = node.limits();
    config.metrics = Some(metrics);
    config.tls = node.tls();
    config.authorizer = node.authorizer();
    config.push_tls = node.push_tls();
    config.function_host = node.function_host()?;
    let mut described = config.functions.describe();
    if let Some(host) = &config.function_host {
        let names: Vec<&str> = host.names().collect();
        described.push_str(&format!("; run by the node: {}", names.join(", ")));
    }
    // Alibaba's notify API is always served; its devices connect when asked for.
    let aliyun = Aliyun::new(node.aliyun()?, store.clone(), Arc::new(ChatDevices))?
        .forwarding_with(node.push_token.clone())
        .serving_clients(aliyun_clients);
    let builder = Gateway::builder(config).hub(hub).channel(Arc::new(aliyun));
    let gateway = Arc::new(builder.build()?);
    let scheme = |tls: Option<_>| if tls.is_some() { "https" } else { "http" };
    let (app_scheme, push_scheme) = (scheme(node.tls()), scheme(node.push_tls()));
    cli::announce(&format!(
        "chat:     {app_scheme}://{app_addr}/\npush API: {push_scheme}://{push_addr}\n"
    ));
    tracing::info!(chat = %app_addr, push = %push_addr, functions = %described, aliyun = aliyun_clients, "listening");
    // Sweeps run beside the node and end with it.
    let sweeping = store.and_then(|store| args.store.sweep(store));
    let served = gateway::run(gateway, app, push, cli::shutdown_signal()).await;
    if let Some(task) = sweeping {
        task.abort();
    }
    Ok(served?)
}
