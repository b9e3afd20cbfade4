//! `chat-functions`: the three chat functions as an HTTP server, for gateways running in
//! HTTP-function mode (functions anywhere: a FaaS HTTP trigger, a container).

use std::sync::Arc;
use std::time::Duration;

use chat::cli::StoreArgs;
use chat::{ChatFunctions, server};
use clap::Parser;
use lifecycle::HttpPusher;

/// Serve the chat functions over HTTP.
#[derive(Debug, Parser)]
#[command(name = "chat-functions", version)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Lease granted on register and heartbeat, in seconds.
    #[arg(long, default_value_t = 60)]
    lease_secs: u64,
    /// Bearer token for the gateways' push-back APIs.
    #[arg(long, env = "PUSH_TOKEN", hide_env_values = true)]
    push_token: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Logs (sweeps, failed pushes) go to stderr; stdout says where the server listens.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let store = args.store.open().await?;
    args.store.sweep(store.clone());
    let pusher = Arc::new(HttpPusher::new(args.push_token.clone())?);
    let functions = Arc::new(ChatFunctions::new(
        store,
        pusher,
        Duration::from_secs(args.lease_secs),
    ));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!("chat functions on http://{}", listener.local_addr()?);
    axum::serve(listener, server::router(functions))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
