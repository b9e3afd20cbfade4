//! The benchmarks' WebSocket clients of a node, written once: a tokio-tungstenite client
//! with a bounded handshake (`fanout`, `churn`, `hostile`), and a raw one, frame by frame
//! on a TCP socket, for what a client library would not do (`hostile`: a client that never
//! reads, pings it never waits for, a message it never finishes).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `url` with `config` (tungstenite's defaults when `None`); fails when the handshake
/// fails or takes longer than `within`.
pub async fn connect(
    url: &str,
    config: Option<WebSocketConfig>,
    within: Duration,
) -> Result<Socket, BoxError> {
    let (socket, _) = tokio::time::timeout(
        within,
        tokio_tungstenite::connect_async_with_config(url, config, false),
    )
    .await
    .map_err(|_| format!("a handshake took over {} s", within.as_secs_f64()))??;
    Ok(socket)
}

/// Upgrades a raw TCP connection to `addr` at `/ws` (with `receive_buffer` set first),
/// leaving the socket right after the 101's head.
pub async fn upgrade(addr: SocketAddr, receive_buffer: Option<u32>) -> Result<TcpStream, BoxError> {
    let socket = TcpSocket::new_v4()?;
    if let Some(bytes) = receive_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    let mut stream = socket.connect(addr).await?;
    let head = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    // Byte by byte, so nothing after the head is consumed.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if stream.read(&mut byte).await? == 0 {
            return Err("closed during the handshake".into());
        }
        answer.push(byte[0]);
    }
    if !answer.starts_with(b"HTTP/1.1 101") {
        return Err(format!("not upgraded: {}", String::from_utf8_lossy(&answer)).into());
    }
    Ok(stream)
}

/// The head byte (FIN and opcode) of a ping frame.
pub const PING: u8 = 0x89;
/// A text frame that more fragments follow (FIN clear).
pub const TEXT_FIRST: u8 = 0x01;
/// A continuation frame that more fragments follow (FIN clear).
pub const CONTINUATION: u8 = 0x00;

/// A masked client frame: `head` is FIN and opcode.
pub fn frame(head: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![head];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}
