//! The `bench` binary: `list`, `sweep`, `fanout`, `push`, `peer`, `report`, and the two servers `fanout` starts in
//! child processes (`serve-gateway`, `serve-functions`, `serve-floor`, hidden).

/// The allocator of the gateway binary, so that the node the benchmarks start in a child
/// process (`serve-gateway`) allocates as a deployed one does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::{Path, PathBuf};

use bench::churn::{self, ChurnArgs};
use bench::fanout::server::GatewaySetup;
use bench::fanout::{self, FanoutArgs};
use bench::functions::{self, FunctionsArgs};
use bench::hammer::{self, HammerArgs};
use bench::hostile::{self, HostileArgs};
use bench::list::sweep::SweepArgs;
use bench::list::{self, ListArgs};
use bench::peer::{self, PeerArgs, Target};
use bench::push::server::AuthKind;
use bench::push::{self, PushArgs};
use bench::report::{self, Results};
use clap::{Parser, Subcommand};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Benchmarks of the connection stores and the gateway.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Time full walks of a room on a store, beside the raw listing (the floor).
    List {
        /// The store URL (sled://, sqlite://, postgres://, mysql://, s3://, cos://, oss://).
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: String,
        /// Live connections in the room, comma-separated.
        #[arg(
            long = "n",
            value_delimiter = ',',
            default_value = "100,1000,10000,100000"
        )]
        sizes: Vec<usize>,
        /// Timed walks per size (default: 50 up to N = 1,000, 20 up to 10,000, then 10).
        #[arg(long)]
        walks: Option<usize>,
        /// Registrations in flight while filling the rooms.
        #[arg(long, default_value_t = 64)]
        fill_concurrency: usize,
        /// Where to write the JSON result (default: bench/results/list-<backend>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Walk a churned room (N live, N/2 expired) before and after one sweep.
    Sweep {
        /// The store URL.
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: String,
        /// Live connections in the room, comma-separated.
        #[arg(long = "n", value_delimiter = ',', default_value = "1000,10000")]
        sizes: Vec<usize>,
        /// Timed walks before and after the sweep.
        #[arg(long, default_value_t = 10)]
        walks: usize,
        /// Registrations in flight while filling the rooms.
        #[arg(long, default_value_t = 64)]
        fill_concurrency: usize,
        /// Where to write the JSON result (default: bench/results/sweep-<backend>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Broadcast to N WebSocket clients through the gateway, beside a bare broadcast server.
    Fanout {
        /// Clients in the room, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
        clients: Vec<usize>,
        /// Timed messages, one at a time.
        #[arg(long, default_value_t = 50)]
        messages: usize,
        /// Messages for deliveries per second (16 kept in flight).
        #[arg(long, default_value_t = 100)]
        burst: usize,
        /// The chat's presence window, ms (0: a notice per join, as before coalescing).
        #[arg(long, default_value_t = 50)]
        presence_window_ms: u64,
        /// The gateways' shared store (default: a fresh SQLite file).
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: Option<String>,
        /// Gateway nodes over the store (more than one needs --store; one node alone is
        /// measured in the same run, for the ratio).
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// How the nodes reach one another: their push API over HTTP (default), or NATS at
        /// this URL (nats://127.0.0.1:4222).
        #[arg(long)]
        node_link: Option<String>,
        /// With --node-link: a chat line is one message on its room's group subject, not a
        /// request with ids per node.
        #[arg(long, requires = "node_link")]
        node_link_groups: bool,
        /// With several nodes: each node's runtime gets the CPUs ÷ the nodes as worker
        /// threads (at least one), so the nodes together run as many workers as the one
        /// node alone does (tokio's default, one a CPU), as nodes sharing a machine would
        /// be set up (`--worker-threads`).
        #[arg(long)]
        split_cores: bool,
        /// Seconds each server sits idle with every client connected before its memory is
        /// read again (0: not read again).
        #[arg(long, default_value_t = 15)]
        settle_secs: u64,
        /// The chat's functions as an HTTP function server beside the node (AWS Lambda
        /// proxy events, pushes through the push API), instead of linked into the node.
        #[arg(long)]
        http_functions: bool,
        /// Rounds of every server at each room size, one after another in turn (one node
        /// only): each server's figures are from its round with the median CPU per delivery.
        /// A batching server's CPU per delivery depends on how many frames each write
        /// finds waiting, which moves from run to run on a shared VM.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=9))]
        repeat: u64,
        /// Where to write the JSON result.
        #[arg(long, default_value = "bench/results/fanout.json")]
        out: PathBuf,
    },
    /// The workload that hung sled (rooms of 10k-100k filled beside register/remove churn,
    /// listed, dropped; repeated), every call watched against a deadline; hangs counted.
    Hammer {
        /// The store URL (an embedded one gets fresh files after a hang).
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: String,
        /// How long to hammer, seconds (a round under way finishes).
        #[arg(long, default_value_t = 1800)]
        secs: u64,
        /// A call unanswered this long is a hang, ms.
        #[arg(long, default_value_t = 10_000)]
        deadline_ms: u64,
        /// Tasks filling the room, and as many churning another.
        #[arg(long, default_value_t = 64)]
        tasks: usize,
        /// Dump this process's threads with gdb on a hang (beside the result).
        #[arg(long)]
        gdb: bool,
        /// Stop after this many hangs that never answered (stuck threads stay stuck).
        #[arg(long, default_value_t = 3)]
        max_hangs: usize,
        /// Seconds a stalled round may still take before its hang counts as unanswered.
        #[arg(long, default_value_t = 120)]
        grace_secs: u64,
        /// Where to write the JSON result (default: bench/results/hammer-<store>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A gateway node under connect/disconnect churn, its memory sampled throughout.
    Churn {
        /// The node's store (default: a fresh SQLite file).
        #[arg(long, env = "STORE_URL", hide_env_values = true)]
        store: Option<String>,
        /// Clients churning at once (each about 0.7 connections a second).
        #[arg(long, default_value_t = 2000)]
        clients: usize,
        /// The measured run, seconds.
        #[arg(long, default_value_t = 600)]
        secs: u64,
        /// The warm-up round before it, seconds.
        #[arg(long, default_value_t = 60)]
        warmup_secs: u64,
        /// Seconds between two samples of the node.
        #[arg(long, default_value_t = 10)]
        sample_secs: u64,
        /// Where to write the JSON result (default: bench/results/churn-<backend>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The most memory one hostile client of each kind pins on a node with the default
    /// limits.
    Hostile {
        /// Clients of each kind at once (20 at most for the kind that is pushed 128 KiB
        /// frames).
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Where to write the JSON result.
        #[arg(long, default_value = "bench/results/hostile.json")]
        out: PathBuf,
    },
    /// A function call on the Runtime-API path (awslambdaric) beside the HTTP path, and
    /// the Runtime-API path's cold start.
    Functions {
        /// A Python with `awslambdaric` installed.
        #[arg(long, env = "TEST_PYTHON", default_value = "python3")]
        python: String,
        /// Timed calls on each path.
        #[arg(long, default_value_t = 2000)]
        invocations: usize,
        /// Cold starts timed.
        #[arg(long, default_value_t = 10)]
        cold_starts: usize,
        /// Where to write the JSON result.
        #[arg(long, default_value = "bench/results/functions.json")]
        out: PathBuf,
    },
    /// What one PostToConnection costs the node (no credential, bearer, SigV4), beside a
    /// bare handler that hands the frame to the same hub.
    Push {
        /// Credential kinds, comma-separated (none, bearer, sigv4).
        #[arg(long, value_delimiter = ',', default_value = "none,bearer,sigv4")]
        auth: Vec<String>,
        /// WebSocket clients the pushes go to.
        #[arg(long, default_value_t = 100)]
        recipients: usize,
        /// Calls in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Timed pushes per side per round.
        #[arg(long, default_value_t = 20_000)]
        pushes: usize,
        /// Rounds, the gateway and the floor alternating.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Where to write the JSON result.
        #[arg(long, default_value = "bench/results/push.json")]
        out: PathBuf,
    },
    /// The fan-out beside a peer: the chat, the same Node.js handler as an HTTP function
    /// of the node, and under serverless-offline (installed with npm into --cache).
    Peer {
        /// Clients in the room, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        clients: Vec<usize>,
        /// Timed messages, one at a time.
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// Messages for deliveries per second (16 kept in flight).
        #[arg(long, default_value_t = 50)]
        burst: usize,
        /// Deliveries the chat's burst makes at least (its CPU is read in 10 ms ticks).
        #[arg(long, default_value_t = 500_000)]
        chat_deliveries: usize,
        /// Targets, comma-separated (gateway-chat, gateway-http, serverless-offline).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "gateway-chat,gateway-http,serverless-offline"
        )]
        targets: Vec<String>,
        /// Where serverless-offline is installed (default:
        /// $XDG_CACHE_HOME/connstore/peer, or ~/.cache/connstore/peer).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// The node_modules holding the AWS SDK v3 for the handler when serverless-offline
        /// is not among the targets (nothing is installed then).
        #[arg(long, env = "TEST_NODE_PATH")]
        node_path: Option<PathBuf>,
        /// Where to write the JSON result.
        #[arg(long, default_value = "bench/results/peer-serverless-offline.json")]
        out: PathBuf,
    },
    /// Write BENCHMARKS.md and PNG plots from the JSON results.
    Report {
        /// The results directory.
        #[arg(long, default_value = "bench/results")]
        results: PathBuf,
        /// Where BENCHMARKS.md and the plots go.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// A TrueType font for the plots' text.
        #[arg(
            long,
            default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
        )]
        font: PathBuf,
    },
    /// (internal) The gateway node `fanout` measures.
    #[command(hide = true)]
    ServeGateway {
        #[arg(long)]
        store: String,
        #[arg(long, default_value_t = 50)]
        presence_window_ms: u64,
        /// Serve the node's metrics on its push listener.
        #[arg(long)]
        metrics: bool,
        /// The binary's default limits (rate, queues, timeouts) instead of limits opened
        /// up for throughput.
        #[arg(long)]
        default_limits: bool,
        /// The chat's functions at this base URL (`serve-functions`) instead of linked in.
        #[arg(long)]
        functions_url: Option<String>,
        /// Reach other nodes over NATS at this URL instead of their push API.
        #[arg(long)]
        node_link: Option<String>,
        /// Broadcast to rooms over NATS group subjects.
        #[arg(long)]
        node_link_groups: bool,
    },
    /// (internal) The chat's functions as an HTTP server, for `fanout --http-functions`.
    #[command(hide = true)]
    ServeFunctions {
        #[arg(long)]
        store: String,
        #[arg(long, default_value_t = 50)]
        presence_window_ms: u64,
    },
    /// (internal) The bare broadcast server `fanout` compares with.
    #[command(hide = true)]
    ServeFloor {
        /// The gateway's buffer sizes and write batching instead of the library defaults.
        #[arg(long)]
        tuned: bool,
    },
    /// The raw floor: each frame encoded once, one write per socket per batch.
    #[command(hide = true)]
    ServeFloorRaw,
    /// (internal) The node `push` measures, with its floor beside its push API.
    #[command(hide = true)]
    ServePush {
        /// The credential its push API takes (none, bearer, sigv4).
        #[arg(long)]
        auth: String,
    },
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), BoxError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Threads for blocking store calls at most, as the gateway binary's default: the
/// benchmark's gateway node must not keep hundreds of them (and their memory) after a join
/// storm.
const BLOCKING_THREADS: usize = 16;

fn main() -> Result<(), BoxError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()?
        .block_on(run(Args::parse()))
}

async fn run(args: Args) -> Result<(), BoxError> {
    match args.command {
        Command::List {
            store,
            sizes,
            walks,
            fill_concurrency,
            out,
        } => {
            let report = list::run(&ListArgs {
                store,
                sizes,
                walks,
                fill_concurrency,
            })
            .await?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("bench/results/list-{}.json", report.backend))
            });
            write_json(&out, &report)
        }
        Command::Sweep {
            store,
            sizes,
            walks,
            fill_concurrency,
            out,
        } => {
            let report = list::sweep::run(&SweepArgs {
                store,
                sizes,
                walks,
                fill_concurrency,
            })
            .await?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("bench/results/sweep-{}.json", report.backend))
            });
            write_json(&out, &report)
        }
        Command::Fanout {
            clients,
            messages,
            burst,
            presence_window_ms,
            store,
            nodes,
            settle_secs,
            http_functions,
            repeat,
            node_link,
            node_link_groups,
            split_cores,
            out,
        } => {
            let report = fanout::run(&FanoutArgs {
                clients,
                messages,
                burst,
                presence_window_ms,
                store,
                nodes,
                settle_secs,
                http_functions,
                repeat: repeat as usize,
                node_link,
                node_link_groups,
                split_cores,
                exe: std::env::current_exe()?,
            })
            .await?;
            write_json(&out, &report)
        }
        Command::Functions {
            python,
            invocations,
            cold_starts,
            out,
        } => {
            let report = functions::run(&FunctionsArgs {
                python,
                invocations,
                cold_starts,
            })
            .await?;
            write_json(&out, &report)
        }
        Command::Push {
            auth,
            recipients,
            concurrency,
            pushes,
            rounds,
            out,
        } => {
            let auths = auth
                .iter()
                .map(|name| AuthKind::parse(name))
                .collect::<Result<Vec<_>, _>>()?;
            let report = push::run(&PushArgs {
                auths,
                recipients,
                concurrency,
                pushes,
                rounds,
                exe: std::env::current_exe()?,
            })
            .await?;
            write_json(&out, &report)
        }
        Command::Peer {
            clients,
            messages,
            burst,
            chat_deliveries,
            targets,
            cache,
            node_path,
            out,
        } => {
            let targets = targets
                .iter()
                .map(|name| Target::parse(name))
                .collect::<Result<Vec<_>, _>>()?;
            let cache = match cache {
                Some(cache) => cache,
                None => std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .ok_or("no --cache, XDG_CACHE_HOME or HOME")?
                    .join("connstore/peer"),
            };
            let report = peer::run(&PeerArgs {
                clients,
                messages,
                burst,
                chat_deliveries,
                targets,
                cache,
                node_path,
                exe: std::env::current_exe()?,
            })
            .await?;
            match report {
                Some(report) => write_json(&out, &report),
                None => Ok(()),
            }
        }
        Command::ServePush { auth } => push::server::serve_push(AuthKind::parse(&auth)?).await,
        Command::Report { results, out, font } => {
            let results = Results::read(&results)?;
            for path in report::write(&results, &out, &font)? {
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
        Command::ServeGateway {
            store,
            presence_window_ms,
            metrics,
            default_limits,
            functions_url,
            node_link,
            node_link_groups,
        } => {
            // Logs as a deployed node does (text to stderr, `RUST_LOG` or `info`): its spans
            // and their fields are part of what a connection costs.
            gateway::cli::init_logs("text");
            fanout::server::serve_gateway(GatewaySetup {
                store_url: &store,
                presence_window_ms,
                metrics,
                default_limits,
                functions_url: functions_url.as_deref(),
                node_link: node_link.as_deref(),
                node_link_groups,
            })
            .await
        }
        Command::ServeFunctions {
            store,
            presence_window_ms,
        } => fanout::server::serve_functions(&store, presence_window_ms).await,
        Command::Hostile { clients, out } => {
            let report = hostile::run(&HostileArgs {
                clients,
                exe: std::env::current_exe()?,
            })
            .await?;
            write_json(&out, &report)
        }
        Command::Churn {
            store,
            clients,
            secs,
            warmup_secs,
            sample_secs,
            out,
        } => {
            // The default store lives as long as the run.
            let scratch = tempfile::tempdir()?;
            let store_given = store.is_some();
            let store = store.unwrap_or_else(|| {
                format!("sqlite://{}", scratch.path().join("churn.db").display())
            });
            let report = churn::run(&ChurnArgs {
                store,
                store_given,
                clients,
                secs,
                warmup_secs,
                sample_secs,
                exe: std::env::current_exe()?,
            })
            .await?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("bench/results/churn-{}.json", report.backend))
            });
            write_json(&out, &report)
        }
        Command::Hammer {
            store,
            secs,
            deadline_ms,
            tasks,
            gdb,
            max_hangs,
            grace_secs,
            out,
        } => {
            let scheme = store.split(':').next().unwrap_or_default().to_owned();
            let out =
                out.unwrap_or_else(|| PathBuf::from(format!("bench/results/hammer-{scheme}.json")));
            let report = hammer::run(&HammerArgs {
                store,
                secs,
                deadline: std::time::Duration::from_millis(deadline_ms),
                tasks,
                gdb,
                max_hangs,
                grace: std::time::Duration::from_secs(grace_secs),
                out: out.clone(),
            })
            .await?;
            eprintln!("{}", hammer::summary(&report));
            write_json(&out, &report)
        }
        Command::ServeFloor { tuned } => fanout::server::serve_floor(tuned).await,
        Command::ServeFloorRaw => {
            fanout::raw::serve_raw_floor(fanout::server::stdin_closed()).await
        }
    }
}
