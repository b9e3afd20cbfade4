//! What the browser sends and receives, as JSON text frames.

use serde::{Deserialize, Serialize};

/// A message from a browser.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Renews the sender's lease; goes nowhere else.
    Heartbeat,
    /// A chat line for everyone else in the room.
    Chat {
        /// The text, shown as text (never as HTML).
        text: String,
    },
}

/// A message to a browser.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent to a new connection: who you are, how many are online.
    Welcome {
        /// Your anonymous name.
        name: String,
        /// Live connections in the room, you included.
        online: u64,
    },
    /// Someone joined.
    Join {
        /// Their anonymous name.
        name: String,
        /// Live connections now.
        online: u64,
    },
    /// Someone left.
    Leave {
        /// Their anonymous name.
        name: String,
        /// Live connections now.
        online: u64,
    },
    /// A chat line.
    Chat {
        /// The sender's anonymous name.
        from: String,
        /// The text.
        text: String,
        /// Server time, epoch ms.
        at: u64,
        /// Live connections now.
        online: u64,
    },
    /// Your message was refused.
    Error {
        /// Why.
        message: String,
    },
}

impl ServerMessage {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}
