//! What a function answers the gateway, whatever dialect carried it.

use crate::event::Payload;

/// How the gateway should close the calling connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The WebSocket close code.
    pub code: u16,
    /// The close reason (at most 123 bytes go on the wire).
    pub reason: String,
}

/// A function's verdict on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP-like status. On a connect, 2xx accepts and anything else refuses the handshake
    /// with that status; on other events it is informative.
    pub status: u16,
    /// On an accepted connect: the subprotocol to answer in `Sec-WebSocket-Protocol`.
    pub subprotocol: Option<String>,
    /// On a message: a frame for the calling connection only (an answer, an error).
    pub frame: Option<Payload>,
    /// On a message: close the calling connection.
    pub close: Option<Close>,
}

impl Reply {
    /// 200, nothing else.
    pub fn ok() -> Self {
        Reply::status(200)
    }

    /// `status`, nothing else.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            subprotocol: None,
            frame: None,
            close: None,
        }
    }

    /// The same reply with a frame for the caller.
    pub fn with_frame(mut self, frame: Payload) -> Self {
        self.frame = Some(frame);
        self
    }

    /// The same reply, asking the gateway to close the caller with `code`.
    pub fn closing(mut self, code: u16, reason: impl Into<String>) -> Self {
        self.close = Some(Close {
            code,
            reason: reason.into(),
        });
        self
    }

    /// True for a 2xx status.
    pub fn accepts(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
