//! The line every floor sends: the chat's own. A client's `{"type":"chat","text":…}` goes
//! out as the frame the chat functions make of it (sender's anonymous name, text, server
//! time, online count), encoded once per line, so a floor puts the same bytes on the wire
//! per delivery as the gateway does and a ratio compares the same work. The floors do not
//! keep a store: `online` is their count of connected sockets.

use std::time::{SystemTime, UNIX_EPOCH};

use chat::{ClientMessage, ServerMessage, anonymous_name};

/// The chat line a floor broadcasts for `frame`, a text frame from connection `sender`
/// while `online` sockets are connected, read as the chat reads it; `None` for a
/// heartbeat (a floor relays nothing else).
pub fn chat_line(sender: u64, frame: &str, online: u64) -> Option<String> {
    let ClientMessage::Chat { text } = ClientMessage::parse(frame) else {
        return None;
    };
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let line = ServerMessage::Chat {
        // A name from the chat's own lists, as long as the gateway's on average.
        from: anonymous_name(&format!("floor-{sender}")),
        text: text.trim().to_owned(),
        at,
        online,
    };
    Some(line.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_line_goes_out_as_the_chat_sends_it() {
        let line = chat_line(7, r#"{"type":"chat","text":" m12 "}"#, 1000).unwrap();
        let sent: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(sent["type"], "chat");
        assert_eq!(sent["text"], "m12");
        assert_eq!(sent["online"], 1000);
        assert_eq!(sent["from"], anonymous_name("floor-7").as_str());
        assert!(sent["at"].as_u64().unwrap() > 1_700_000_000_000);
    }

    #[test]
    fn a_heartbeat_is_not_relayed_and_plain_text_is_a_line() {
        assert_eq!(chat_line(1, r#"{"type":"heartbeat"}"#, 2), None);
        let plain: serde_json::Value =
            serde_json::from_str(&chat_line(1, "hello", 2).unwrap()).unwrap();
        assert_eq!(plain["text"], "hello");
    }
}
