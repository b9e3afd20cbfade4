//! Reading what a gateway sends a WebSocket client, with a bound on every wait.

use std::time::Duration;

use futures::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for any one expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

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
