//! The raw floor: a broadcast as close to the machine's limit as a WebSocket server gets on
//! tokio. Each chat line a client sends is encoded once (as the chat's own line, see
//! [`super::line`]), as the bytes every other socket receives; each socket's writer takes
//! every frame waiting for it and writes them with one write. No WebSocket library, no
//! per-connection framing state, no functions, no store.
//!
//! It speaks just enough of RFC 6455 for the benchmark's own clients: the opening
//! handshake, masked client frames read, unmasked server frames written. A request or frame
//! it does not expect ends that connection.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A frame on the broadcast channel: who sent it, and its bytes on the wire.
type Frame = (u64, Arc<[u8]>);

/// The largest opening request read (the benchmark's clients send a few hundred bytes).
const MAX_REQUEST: usize = 8 * 1024;

/// The largest client frame read (the benchmark's chat lines are tens of bytes).
const MAX_FRAME: u64 = 64 * 1024;

/// Frames one write carries at most, as the gateway batches.
const MAX_BATCH: usize = 64;

/// Serves the raw floor until `stop` resolves. Prints `ready <addr>`.
pub async fn serve_raw_floor(stop: impl std::future::Future<Output = ()>) -> Result<(), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("ready {}", listener.local_addr()?);
    let (tx, _) = broadcast::channel::<Frame>(4096);
    let accept = super::server::accept_each(&listener, |stream, me| {
        let tx = tx.clone();
        async move {
            let _ = connection(stream, tx, me).await;
        }
    });
    tokio::select! {
        _ = accept => {}
        _ = stop => {}
    }
    Ok(())
}

/// One client: the handshake and the welcome, then its reader and its writer.
async fn connection(
    mut stream: TcpStream,
    tx: broadcast::Sender<Frame>,
    me: u64,
) -> Result<(), BoxError> {
    let key = read_request_key(&mut stream).await?;
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
    .into_bytes();
    answer.extend_from_slice(&text_frame(br#"{"type":"welcome"}"#));
    // Subscribed before the welcome: every frame sent after this client was greeted reaches it.
    let rx = tx.subscribe();
    stream.write_all(&answer).await?;
    let (read, write) = stream.into_split();
    tokio::select! {
        _ = read_frames(read, &tx, me) => {}
        _ = write_frames(write, rx, me) => {}
    }
    Ok(())
}

/// Reads the opening request (bounded) and returns its `Sec-WebSocket-Key`.
async fn read_request_key(stream: &mut TcpStream) -> Result<String, BoxError> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.ends_with(b"\r\n\r\n") {
        if request.len() >= MAX_REQUEST {
            return Err("opening request too large".into());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let request = std::str::from_utf8(&request)?;
    request
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, value)| value.trim().to_owned())
        .ok_or_else(|| "no Sec-WebSocket-Key".into())
}

/// Reads the client's frames; each chat line goes on the channel, encoded once for all.
async fn read_frames(
    mut read: OwnedReadHalf,
    tx: &broadcast::Sender<Frame>,
    me: u64,
) -> Result<(), BoxError> {
    let mut buf = Vec::new();
    loop {
        let mut head = [0u8; 2];
        read.read_exact(&mut head).await?;
        let opcode = head[0] & 0x0f;
        let len = match head[1] & 0x7f {
            126 => u64::from(read.read_u16().await?),
            127 => read.read_u64().await?,
            short => u64::from(short),
        };
        if len > MAX_FRAME || head[1] & 0x80 == 0 || head[0] & 0x80 == 0 {
            return Err("an oversized, unmasked or fragmented frame".into());
        }
        let mut mask = [0u8; 4];
        read.read_exact(&mut mask).await?;
        buf.resize(len as usize, 0);
        read.read_exact(&mut buf).await?;
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        match opcode {
            0x1 => {
                let text = std::str::from_utf8(&buf)?;
                let online = tx.receiver_count() as u64;
                if let Some(line) = super::line::chat_line(me, text, online) {
                    let _ = tx.send((me, text_frame(line.as_bytes())));
                }
            }
            0x8 => return Ok(()),
            _ => {}
        }
    }
}

/// Writes every frame but this client's own: all that wait, up to [`MAX_BATCH`], in one
/// write.
async fn write_frames(
    mut write: OwnedWriteHalf,
    mut rx: broadcast::Receiver<Frame>,
    me: u64,
) -> Result<(), BoxError> {
    let mut batch = Vec::new();
    loop {
        let first = match rx.recv().await {
            Ok(frame) => frame,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        let mut single = None;
        batch.clear();
        for (from, bytes) in std::iter::once(first)
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            .take(MAX_BATCH)
        {
            if from == me {
                continue;
            }
            match single.take() {
                None if batch.is_empty() => single = Some(bytes),
                None => batch.extend_from_slice(&bytes),
                Some(previous) => {
                    batch.extend_from_slice(&previous);
                    batch.extend_from_slice(&bytes);
                }
            }
        }
        // One frame is written from the shared bytes; several are joined into one write.
        match single {
            Some(bytes) => write.write_all(&bytes).await?,
            None if !batch.is_empty() => write.write_all(&batch).await?,
            None => {}
        }
        if batch.capacity() > 64 * 1024 {
            batch = Vec::new();
        }
    }
}

/// An unmasked server text frame carrying `payload`.
fn text_frame(payload: &[u8]) -> Arc<[u8]> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81);
    match payload.len() {
        len @ 0..=125 => frame.push(len as u8),
        len @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame.into()
}
