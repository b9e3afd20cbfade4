//! `echo-node`: a gateway node with the echo app linked in (or HTTP functions, by the
//! usual flags), the toy wire's push route and the shouting channel: a whole second
//! binary on the gateway library in a few lines.

use std::sync::Arc;

use clap::Parser;
use echo_node::{Echo, Shout, Toy};
use gateway::cli::{self, NodeArgs};
use gateway::{FunctionMode, Gateway, GatewayConfig};

/// An echo node.
#[derive(Debug, Parser)]
#[command(name = "echo-node", version)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse().node;
    args.init_logs();
    cli::exit(serve(args))
}

fn serve(args: NodeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let args = args.with_template()?;
    args.runtime()?.block_on(async {
        let app = tokio::net::TcpListener::bind(args.listen).await?;
        let push = tokio::net::TcpListener::bind(args.push_listen).await?;
        let (app_addr, push_addr) = (app.local_addr()?, push.local_addr()?);
        let functions = args
            .http_functions()?
            .unwrap_or(FunctionMode::InProcess(Arc::new(Echo)));
        let mut config = GatewayConfig::new(push_addr, functions);
        config.push_url = args.push_url(push_addr);
        config.push_auth = args.push_auth()?;
        config.naming = args.naming();
        config.limits = args.limits();
        config.function_host = args.function_host()?;
        let node = Gateway::builder(config)
            .wire(&Toy)
            .channel(Arc::new(Shout))
            .build()?;
        cli::announce(&format!(
            "echo:     ws://{app_addr}/ws\npush API: http://{push_addr}\n"
        ));
        gateway::run(Arc::new(node), app, push, cli::shutdown_signal()).await?;
        Ok(())
    })
}
