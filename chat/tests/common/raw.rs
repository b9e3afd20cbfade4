//! A WebSocket client written frame by frame on a raw TCP socket, for what a library would
//! hide or refuse to send: unmasked or reserved-bit frames, bad close payloads, a client
//! that never reads, a socket dropped without a Close.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long any one wait of this client may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Opcodes (with FIN set) of the frames the tests send.
pub const TEXT: u8 = 0x81;
/// A binary frame.
pub const BINARY: u8 = 0x82;
/// A close frame.
pub const CLOSE: u8 = 0x88;
/// A ping frame.
pub const PING: u8 = 0x89;

/// One upgraded connection.
pub struct Raw {
    /// The socket.
    pub stream: TcpStream,
}

/// A frame as a client sends it: `head` is FIN, RSV and opcode; masked unless told not.
pub fn frame(head: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![head];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A close frame's payload: the code, then the reason's bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

impl Raw {
    /// Upgrades a connection to `addr` at `path`; `receive_buffer` sets the socket's
    /// receive buffer first (a small one makes a client that never reads stall the
    /// server's writes sooner).
    pub async fn connect(addr: SocketAddr, path: &str, receive_buffer: Option<u32>) -> Raw {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let mut stream = socket.connect(addr).await.unwrap();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // Byte by byte, so nothing after the head is consumed.
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            let n = tokio::time::timeout(WAIT, stream.read(&mut byte))
                .await
                .expect("no handshake answer")
                .unwrap();
            assert!(n == 1, "closed during the handshake: {answer:?}");
            answer.push(byte[0]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 101"), "not upgraded: {answer}");
        Raw { stream }
    }

    /// Writes `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The server's next frame: its opcode byte and payload; `None` at EOF or a reset.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.read_exact(&mut head).await?;
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                self.read_exact(&mut n).await?;
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                self.read_exact(&mut n).await?;
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        assert!(head[1] & 0x80 == 0, "the server masked a frame");
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        self.read_exact(&mut payload).await?;
        Some((head[0], payload))
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> Option<()> {
        match tokio::time::timeout(WAIT, self.stream.read_exact(buf))
            .await
            .expect("the server sent nothing within the wait")
        {
            Ok(_) => Some(()),
            Err(_) => None,
        }
    }

    /// The server's close frame (code and reason), skipping other frames; panics when the
    /// socket ends without one.
    pub async fn close_frame(&mut self) -> (u16, String) {
        loop {
            let (head, payload) = self
                .read_frame()
                .await
                .expect("the socket ended without a close frame");
            if head & 0x0f == 0x08 {
                assert!(payload.len() >= 2, "a close frame without a code");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
        }
    }

    /// True when the server ends the TCP connection (EOF or reset) within the wait, with
    /// nothing more sent.
    pub async fn ends(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(WAIT, self.stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}
