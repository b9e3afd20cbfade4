//! The benchmark's WebSocket clients: N real connections over loopback, each with a reader
//! task that counts the numbered chat messages it receives. The [`Tracker`] notes the
//! instant each message reached its last recipient, so latency is measured from the send
//! to the last receive, with no polling and no sleeps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{Notify, oneshot};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;

use crate::ws::{self, Socket};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Counts deliveries of numbered messages (`m<index>`).
#[derive(Debug)]
pub struct Tracker {
    /// Deliveries so far, per message.
    received: Vec<AtomicUsize>,
    /// When each message reached its last recipient.
    completed: Vec<OnceLock<Instant>>,
    /// Recipients per message (every client but the sender).
    recipients: usize,
    /// Woken whenever a message completes (or a notice raises `online`).
    notify: Notify,
    /// The highest `online` any join or presence notice carried: after a join storm it
    /// must reach the room's size (the count is exact once the notices settle).
    online: std::sync::atomic::AtomicU64,
    /// Frames that were neither greetings, numbered chats nor known notices (a protocol
    /// slip the benchmark must not hide).
    unexpected: Mutex<Option<String>>,
    /// The longest numbered chat line received, payload bytes: what one delivery put on
    /// the wire, so servers are compared on the same bytes.
    line_bytes: AtomicUsize,
}

impl Tracker {
    /// A tracker for `messages` numbered messages, each due to `recipients` clients.
    pub fn new(messages: usize, recipients: usize) -> Arc<Tracker> {
        Arc::new(Tracker {
            received: (0..messages).map(|_| AtomicUsize::new(0)).collect(),
            completed: (0..messages).map(|_| OnceLock::new()).collect(),
            recipients,
            notify: Notify::new(),
            online: std::sync::atomic::AtomicU64::new(0),
            unexpected: Mutex::new(None),
            line_bytes: AtomicUsize::new(0),
        })
    }

    /// The longest numbered chat line received so far, payload bytes.
    pub fn line_bytes(&self) -> usize {
        self.line_bytes.load(Ordering::Relaxed)
    }

    /// Records a frame or event that should not happen, and wakes the waiter so the run
    /// fails at once with it instead of timing out.
    fn unexpected(&self, what: String) {
        self.unexpected
            .lock()
            .expect("poisoned")
            .get_or_insert(what);
        self.notify.notify_waiters();
    }

    fn delivered(&self, index: usize) {
        let Some(count) = self.received.get(index) else {
            return;
        };
        let count = count.fetch_add(1, Ordering::AcqRel) + 1;
        if count == self.recipients {
            let _ = self.completed[index].set(Instant::now());
            self.notify.notify_waiters();
        } else if count > self.recipients {
            // Each client counts a message once, so this is the sender hearing its own.
            self.unexpected(format!(
                "message {index} reached {count} clients: the sender too"
            ));
        }
    }

    fn saw_online(&self, online: u64) {
        if self.online.fetch_max(online, Ordering::AcqRel) < online {
            self.notify.notify_waiters();
        }
    }

    /// Waits until a notice reported `n` online; returns when it did.
    pub async fn online_reached(&self, n: u64, limit: Duration) -> Result<Instant, BoxError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            if self.online.load(Ordering::Acquire) >= n {
                return Ok(Instant::now());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "after the joins, notices said {} online, not {n}",
                    self.online.load(Ordering::Acquire)
                )
                .into());
            }
        }
    }

    /// Waits until message `index` has reached every recipient; returns when it did.
    pub async fn completed(&self, index: usize, limit: Duration) -> Result<Instant, BoxError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a completion in between is not missed.
            let notified = self.notify.notified();
            if let Some(at) = self.completed[index].get() {
                return Ok(*at);
            }
            if let Some(frame) = self.unexpected.lock().expect("poisoned").clone() {
                return Err(format!("message {index} not delivered: {frame}").into());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "message {index} reached {} of {} clients within {limit:?}",
                    self.received[index].load(Ordering::Acquire),
                    self.recipients
                )
                .into());
            }
        }
    }
}

/// The part of a server frame the clients read (the gateway and the floors send the same
/// chat line).
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    text: Option<&'a str>,
    #[serde(default)]
    online: Option<u64>,
}

/// One connected client: its write half (the reader runs as a task).
#[derive(Debug)]
pub struct Client {
    /// Where this client sends.
    sink: SplitSink<Socket, Message>,
}

impl Client {
    /// Sends numbered chat message `index`.
    pub async fn send(&mut self, index: usize) -> Result<(), BoxError> {
        let frame = format!(r#"{{"type":"chat","text":"m{index}"}}"#);
        self.sink.send(Message::text(frame)).await?;
        Ok(())
    }
}

/// Connects `n` clients to `ws://<addr><path>?room=<room>` (spread over `addrs`),
/// `concurrency` at a time, each (after its hello, if `joining` has one) counted once the
/// server greeted it (the gateway's welcome comes after register: it is in the room).
pub async fn connect_all(
    addrs: &[SocketAddr],
    room: &str,
    n: usize,
    concurrency: usize,
    tracker: &Arc<Tracker>,
    joining: super::Joining,
) -> Result<Vec<Client>, BoxError> {
    if addrs.is_empty() {
        return Err("no server to connect to".into());
    }
    // Client i goes to server i mod the servers: an even split across gateway nodes.
    let urls: Vec<String> = addrs
        .iter()
        .map(|addr| format!("ws://{addr}{}?room={room}", joining.path))
        .collect();
    futures::stream::iter(0..n)
        .map(|i| connect(&urls[i % urls.len()], tracker.clone(), joining.hello))
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn connect(
    url: &str,
    tracker: Arc<Tracker>,
    hello: Option<&'static str>,
) -> Result<Client, BoxError> {
    let config = Some(super::client_socket_config());
    let socket = ws::connect(url, config, Duration::from_secs(60)).await?;
    if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_nodelay(true)?;
    }
    let (mut sink, stream) = socket.split();
    if let Some(hello) = hello {
        sink.send(Message::text(hello)).await?;
    }
    let (greeted_tx, greeted) = oneshot::channel();
    tokio::spawn(read(stream, tracker.clone(), greeted_tx));
    tokio::time::timeout(Duration::from_secs(60), greeted)
        .await
        .map_err(|_| "no welcome within 60 s")?
        .map_err(|_| {
            let why = tracker_reason(&tracker);
            format!("a connection closed before its welcome ({why})")
        })?;
    Ok(Client { sink })
}

fn tracker_reason(tracker: &Tracker) -> String {
    tracker
        .unexpected
        .lock()
        .expect("poisoned")
        .clone()
        .unwrap_or_else(|| "no close frame".to_owned())
}

/// Reads frames until the connection ends, counting numbered chats.
async fn read(
    mut stream: SplitStream<Socket>,
    tracker: Arc<Tracker>,
    greeted: oneshot::Sender<()>,
) {
    let mut greeted = Some(greeted);
    // Numbered messages this client has seen: a second copy is a duplicate delivery.
    let mut seen = std::collections::HashSet::new();
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                tracker.unexpected(format!("the server closed a client: {frame:?}"));
                break;
            }
            _ => continue,
        };
        let frame_bytes = text.len();
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(&text) else {
            tracker.unexpected(format!("a client received {text}"));
            continue;
        };
        match (frame.kind, frame.text) {
            ("welcome", _) => {
                if let Some(greeted) = greeted.take() {
                    let _ = greeted.send(());
                }
            }
            ("chat", Some(text)) => match text.strip_prefix('m').and_then(|i| i.parse().ok()) {
                Some(index) if !seen.insert(index) => {
                    tracker.unexpected(format!("a client received message {index} twice"));
                }
                Some(index) => {
                    tracker.line_bytes.fetch_max(frame_bytes, Ordering::Relaxed);
                    tracker.delivered(index);
                }
                None => tracker.unexpected(format!("a client received chat text {text}")),
            },
            // Other clients arriving and leaving: the chat tells everyone.
            ("join" | "leave" | "presence", _) => {
                if let Some(online) = frame.online {
                    tracker.saw_online(online);
                }
            }
            _ => tracker.unexpected(format!("a client received {text}")),
        }
    }
    // Normal at the end of a run (the clients are dropped); fatal while measuring.
    tracker.unexpected("a client's connection closed".to_owned());
}
