//! A gateway node on loopback ports for the integration tests, on a fresh SQLite store (the
//! embedded default).
// Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod aws_sdk;
pub mod binary;
pub mod garage;
pub mod lambda;
pub mod nats;
pub mod output;
pub mod postgres;
pub mod python;
pub mod raw;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat::{ChatDevices, ChatFunctions};
use gateway::channel::aliyun::{Aliyun, AliyunConfig};
use gateway::{FunctionMode, Gateway, GatewayConfig, Hub, Limits, NodePusher};
use lifecycle::HttpPusher;
use store_core::{ConnectionStore, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The Prometheus text a node's push listener (`http://…`) serves at `/metrics`.
pub async fn metrics_text(push_url: &str) -> String {
    reqwest::get(format!("{push_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A running node; stopped (gracefully) when dropped.
pub struct Node {
    /// Page and `/ws`.
    pub app: SocketAddr,
    /// Push-back API.
    pub push: SocketAddr,
    /// The node's store.
    pub store: Arc<dyn ConnectionStore>,
    /// Stops the node.
    stop: Option<oneshot::Sender<()>>,
    /// Resolves when `run` has returned.
    done: Option<oneshot::Receiver<()>>,
    /// The SQLite file's directory.
    _dir: tempfile::TempDir,
}

impl Node {
    /// Starts a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the node has shut down (cleanups done).
    pub async fn stopped(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a node with `limits` and, if given, `functions` instead of the in-process ones.
pub async fn start(limits: Limits, functions: Option<FunctionMode>) -> Node {
    start_with(|config| {
        config.limits = limits;
        if let Some(functions) = functions {
            config.functions = functions;
        }
    })
    .await
}

/// The chat over `store`, pushing over HTTP with `token` (as the `chat-functions` server
/// does).
pub fn chat(store: Arc<dyn ConnectionStore>, token: Option<String>) -> Arc<ChatFunctions> {
    let pusher = Arc::new(HttpPusher::new(token).unwrap());
    Arc::new(ChatFunctions::new(store, pusher, Duration::from_secs(60)))
}

/// The chat linked into a node: pushes to `hub` directly when they are for `push_url`,
/// over HTTP with `token` otherwise (as the binary runs it).
fn linked_chat(
    store: Arc<dyn ConnectionStore>,
    token: Option<String>,
    hub: &Arc<Hub>,
    push_url: &str,
) -> Arc<ChatFunctions> {
    let remote = Arc::new(HttpPusher::new(token).unwrap());
    let max_frame = Limits::default().max_message_bytes;
    let pusher = Arc::new(NodePusher::new(hub.clone(), push_url, max_frame, remote));
    Arc::new(ChatFunctions::new(store, pusher, Duration::from_secs(60)))
}

/// What a test may change of a node before it starts: its settings (through `Deref`), and
/// Alibaba's channel.
pub struct Setup {
    /// The node's settings.
    pub config: GatewayConfig,
    /// Alibaba's channel, served when `enabled`.
    pub aliyun: AliyunSetup,
    /// Where the channel records devices: the node's store unless a test changes it.
    pub presence: Option<Arc<dyn ConnectionStore>>,
}

/// Alibaba's channel in a test: its settings (through `Deref`), and whether it is served.
pub struct AliyunSetup {
    /// Served or not.
    pub enabled: bool,
    /// Its settings.
    pub config: AliyunConfig,
}

impl std::ops::Deref for Setup {
    type Target = GatewayConfig;
    fn deref(&self) -> &GatewayConfig {
        &self.config
    }
}

impl std::ops::DerefMut for Setup {
    fn deref_mut(&mut self) -> &mut GatewayConfig {
        &mut self.config
    }
}

impl std::ops::Deref for AliyunSetup {
    type Target = AliyunConfig;
    fn deref(&self) -> &AliyunConfig {
        &self.config
    }
}

impl std::ops::DerefMut for AliyunSetup {
    fn deref_mut(&mut self) -> &mut AliyunConfig {
        &mut self.config
    }
}

/// Starts a node (the chat linked in, on a fresh SQLite store) whose config `adjust` may
/// change.
pub async fn start_with(adjust: impl FnOnce(&mut Setup)) -> Node {
    start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), adjust).await
}

/// [`start_with`] with the push API on `push`, bound beforehand (for functions that must
/// know its address first).
pub async fn start_on(push: TcpListener, adjust: impl FnOnce(&mut Setup)) -> Node {
    start_node(push, None, adjust).await
}

/// A node with the chat linked in over `store`.
pub async fn start_on_store(store: Arc<dyn ConnectionStore>) -> Node {
    let push = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_node(push, Some(store), |_| {}).await
}

async fn start_node(
    push: TcpListener,
    store: Option<Arc<dyn ConnectionStore>>,
    adjust: impl FnOnce(&mut Setup),
) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ConnectionStore> = match store {
        Some(store) => store,
        None => Arc::new(
            store_sql::SqliteStore::open(
                store_sql::SqliteConfig::file(dir.path().join("connections.db"))
                    .with_clock(Arc::new(SystemClock)),
            )
            .await
            .unwrap(),
        ),
    };
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (app_addr, push_addr) = (app.local_addr().unwrap(), push.local_addr().unwrap());
    let hub = Arc::new(Hub::default());
    let push_url = format!("http://{push_addr}");
    let linked = linked_chat(store.clone(), None, &hub, &push_url);
    let mut config = GatewayConfig::local(push_addr, linked);
    config.page = Some(chat::PAGE);
    config.store = Some(store.clone());
    let mut setup = Setup {
        config,
        aliyun: AliyunSetup {
            enabled: false,
            config: AliyunConfig::default(),
        },
        presence: Some(store.clone()),
    };
    adjust(&mut setup);
    let Setup {
        mut config,
        aliyun,
        presence,
    } = setup;
    // A token or push URL set by `adjust` must reach the chat's pusher too.
    let token = config.push_auth.token.clone();
    if matches!(config.functions, FunctionMode::InProcess(_))
        && (token.is_some() || config.push_url != push_url)
    {
        let linked = linked_chat(store.clone(), token, &hub, &config.push_url);
        config.functions = FunctionMode::InProcess(linked);
    }
    let forward = config.push_auth.token.clone();
    // As the binary: the notify API always, devices when the channel is enabled.
    let channel = Aliyun::new(aliyun.config, presence, Arc::new(ChatDevices))
        .unwrap()
        .forwarding_with(forward)
        .serving_clients(aliyun.enabled);
    let builder = Gateway::builder(config).hub(hub).channel(Arc::new(channel));
    let gateway = Arc::new(builder.build().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let (done_tx, done) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = gateway::run(gateway, app, push, async move {
            let _ = stopped.await;
        })
        .await;
        let _ = done_tx.send(());
    });
    Node {
        app: app_addr,
        push: push_addr,
        store,
        stop: Some(stop),
        done: Some(done),
        _dir: dir,
    }
}
