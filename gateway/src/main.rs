//! `gateway`: one gateway node. `cargo run --release -p gateway` serves the chat on
//! http://127.0.0.1:8080 (page and `/ws`) and the push-back API on 127.0.0.1:8081, with
//! the chat functions linked in and connections in sled under `./data`.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat::EventShape;
use clap::{Parser, ValueEnum};
use gateway::{FunctionMode, Gateway, GatewayConfig, Limits};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shape {
    Tencent,
    Aws,
}

/// A serverless WebSocket gateway node.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
struct Args {
    /// Page and WebSocket address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Push-back API address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8081")]
    push_listen: SocketAddr,
    /// Push-back URL advertised to functions (default: http://<push-listen>).
    #[arg(long)]
    push_url: Option<String>,
    /// Bearer token for the push-back API (required when it listens off loopback).
    #[arg(long, env = "PUSH_TOKEN", hide_env_values = true)]
    push_token: Option<String>,
    /// Connection store URL (in-process functions).
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
    /// Run functions over HTTP: the register function's URL (with --transport-url, --cleanup-url).
    #[arg(long, requires_all = ["transport_url", "cleanup_url"])]
    register_url: Option<String>,
    /// The transport function's URL.
    #[arg(long)]
    transport_url: Option<String>,
    /// The cleanup function's URL.
    #[arg(long)]
    cleanup_url: Option<String>,
    /// Event JSON shape for HTTP functions.
    #[arg(long, value_enum, default_value = "tencent")]
    event_shape: Shape,
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr, so stdout carries only the addresses a script or test reads.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if !args.push_listen.ip().is_loopback() && args.push_token.is_none() {
        return Err(
            "the push-back API listens off loopback: set --push-token (or PUSH_TOKEN)".into(),
        );
    }
    let functions = match (&args.register_url, &args.transport_url, &args.cleanup_url) {
        (Some(register), Some(transport), Some(cleanup)) => FunctionMode::Http {
            register: register.clone(),
            transport: transport.clone(),
            cleanup: cleanup.clone(),
            shape: match args.event_shape {
                Shape::Tencent => EventShape::Tencent,
                Shape::Aws => EventShape::Aws,
            },
        },
        _ => FunctionMode::InProcess {
            lease: Duration::from_secs(args.lease_secs),
        },
    };
    let app = tokio::net::TcpListener::bind(args.listen).await?;
    let push = tokio::net::TcpListener::bind(args.push_listen).await?;
    let (app_addr, push_addr) = (app.local_addr()?, push.local_addr()?);
    let config = GatewayConfig {
        // From the bound address, so `--push-listen 127.0.0.1:0` advertises the real port.
        push_url: match &args.push_url {
            Some(url) => url.clone(),
            None => format!("http://{push_addr}"),
        },
        push_token: args.push_token.clone(),
        functions,
        limits: Limits {
            max_message_bytes: args.max_message_bytes,
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connection_age: Duration::from_secs(args.max_age_secs),
            messages_per_second: args.rate,
            max_connections: args.max_connections,
            ..Limits::default()
        },
    };
    let store = store::open(&args.store).await?;
    let gateway = Arc::new(Gateway::new(config, store)?);
    announce(&format!(
        "chat:     http://{app_addr}/\npush API: http://{push_addr}\n"
    ));
    tracing::info!(chat = %app_addr, push = %push_addr, "listening");
    gateway::run(gateway, app, push, async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await?;
    Ok(())
}

/// Prints where the gateway listens. A reader of stdout that went away (a test that read the
/// first line, `| head -1`) must not take the gateway down, as `println!` would by panicking
/// on the broken pipe: the error is ignored and the gateway keeps serving.
fn announce(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
