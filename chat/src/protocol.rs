//! What clients and the chat exchange, as text frames.
//!
//! In: `{"type":"chat","text":"…"}`, `{"type":"heartbeat"}`, the AWS sample chat's
//! `{"action":"sendmessage","data":"…"}`, and any other text frame, which is a chat line as
//! it stands (so `websocat` and the clouds' sample pages can chat). Out: [`ServerMessage`]
//! as JSON.

use serde::{Deserialize, Serialize};

/// A message from a client.
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

/// The AWS sample chat's frame (`"action"` picks the route there).
#[derive(Debug, Deserialize)]
struct SendMessage {
    /// Always `sendmessage`.
    action: String,
    /// The chat line.
    data: String,
}

impl ClientMessage {
    /// Reads a text frame: the JSON protocol when it is one, else a chat line.
    pub fn parse(frame: &str) -> ClientMessage {
        if let Ok(message) = serde_json::from_str::<ClientMessage>(frame) {
            return message;
        }
        match serde_json::from_str::<SendMessage>(frame) {
            Ok(sample) if sample.action == "sendmessage" => {
                ClientMessage::Chat { text: sample.data }
            }
            _ => ClientMessage::Chat {
                text: frame.to_owned(),
            },
        }
    }
}

/// A message to a client.
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
    /// Several joined or left within one presence window (a join storm): one notice for
    /// all of them instead of one each. It may name its recipient among `joined`.
    Presence {
        /// Names that joined, in order (the first 50).
        joined: Vec<String>,
        /// How many more joined than `joined` names.
        more_joined: u64,
        /// Names that left, in order (the first 50).
        left: Vec<String>,
        /// How many more left than `left` names.
        more_left: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_frame_is_a_message() {
        let chat = |text: &str| ClientMessage::Chat { text: text.into() };
        assert_eq!(
            ClientMessage::parse(r#"{"type":"heartbeat"}"#),
            ClientMessage::Heartbeat
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"chat","text":"hi"}"#),
            chat("hi")
        );
        assert_eq!(
            ClientMessage::parse(r#"{"action":"sendmessage","data":"hello world"}"#),
            chat("hello world")
        );
        assert_eq!(ClientMessage::parse("plain words"), chat("plain words"));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"dance"}"#),
            chat(r#"{"type":"dance"}"#)
        );
    }
}
