//! A WebSocket client of the gateway (tokio-tungstenite): connecting, sending, and reading
//! what the gateway sends, with a bound on every wait.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for any one expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a handshake may take before the test fails.
pub const HANDSHAKE: Duration = Duration::from_secs(20);

/// `ws://<app>/ws?room=<room>`: the chat's socket on a node whose page and socket listen
/// on `app`.
pub fn room_url(app: SocketAddr, room: &str) -> String {
    format!("ws://{app}/ws?room={room}")
}

/// Opens `request` (a URL, or a request with headers): the socket and the handshake's
/// answer, or the HTTP status of a refused handshake. Panics on any other failure, or
/// after [`HANDSHAKE`].
pub async fn try_connect(request: impl IntoClientRequest + Unpin) -> Result<(Ws, Response), u16> {
    match tokio::time::timeout(HANDSHAKE, tokio_tungstenite::connect_async(request))
        .await
        .expect("the handshake hung")
    {
        Ok(connected) => Ok(connected),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed without a status: {other}"),
    }
}

/// Opens `url`; panics when the handshake is refused.
pub async fn connect(url: &str) -> Ws {
    match try_connect(url).await {
        Ok((ws, _)) => ws,
        Err(status) => panic!("{url}: the handshake was refused with {status}"),
    }
}

/// Opens the chat's socket in `room` on `app` (see [`room_url`]).
pub async fn connect_room(app: SocketAddr, room: &str) -> Ws {
    connect(&room_url(app, room)).await
}

/// Opens `url` and reads up to the chat's `welcome` (the connection is in its room).
pub async fn join(url: &str) -> Ws {
    let mut ws = connect(url).await;
    next_of(&mut ws, "welcome").await;
    ws
}

/// Sends `text` as a text frame, as it stands.
pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// Sends a chat line: `{"type": "chat", "text": text}`.
pub async fn say(ws: &mut Ws, text: &str) {
    let body = serde_json::json!({ "type": "chat", "text": text }).to_string();
    send_text(ws, &body).await;
}

/// The next text frame, skipping pings; panics on a close, or after [`WAIT`].
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("stream ended")
            .expect("read failed");
        match frame {
            Message::Text(text) => return text.to_string(),
            Message::Close(close) => panic!("closed: {close:?}"),
            _ => continue,
        }
    }
}

/// The next text frame as JSON (see [`next_text`]).
pub async fn next_json(ws: &mut Ws) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The next JSON frame whose `type` is `kind`, skipping others (join/leave notices).
pub async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let message = next_json(ws).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// The close frame the server sends (code and reason), skipping other frames.
pub async fn close_frame(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for the close")
            .expect("stream ended without a close frame");
        match frame {
            Ok(Message::Close(Some(close))) => return (close.code, close.reason.to_string()),
            Ok(_) => continue,
            Err(err) => panic!("read failed before the close frame: {err}"),
        }
    }
}
