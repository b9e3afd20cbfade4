//! The frames of Alibaba's channel: `#`-separated signalling commands, and API calls and
//! their answers as JSON text frames.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

/// A frame from a client.
#[derive(Debug, PartialEq)]
pub enum ClientFrame {
    /// `RG#<deviceId>`: bind this connection to a device id.
    Register(String),
    /// `H1`: heartbeat.
    Heartbeat,
    /// `NO`: a notification was received.
    Ack,
    /// An API call (a JSON object).
    Call(Box<ApiCall>),
    /// Anything else: a command of a later version, ignored as the SDKs ignore ours.
    Other,
}

/// An API call a client makes over the socket.
#[derive(Debug, PartialEq, Deserialize)]
pub struct ApiCall {
    /// `GET`, `POST`, …
    pub method: String,
    /// The API's host (informative).
    #[serde(default)]
    pub host: String,
    /// The API path, e.g. `/chat/send`.
    pub path: String,
    /// Query parameters (one value each, as the SDKs send them).
    #[serde(default)]
    pub querys: BTreeMap<String, String>,
    /// Headers, each with its values.
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
    /// Whether `body` is base64 (the Java SDK sends 0/1, the Objective-C one "0"/"1").
    #[serde(default, rename = "isBase64")]
    pub is_base64: Value,
    /// The body.
    #[serde(default)]
    pub body: Option<String>,
}

/// What an API call is for (`x-ca-websocket_api_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Registers the device with the backend.
    Register,
    /// Unregisters it: no more notifications.
    Unregister,
    /// Any other API.
    Common,
}

impl ApiCall {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.first())
            .map(String::as_str)
    }

    /// What the call is for.
    pub fn kind(&self) -> CallKind {
        match self.header("x-ca-websocket_api_type") {
            Some(kind) if kind.eq_ignore_ascii_case("REGISTER") => CallKind::Register,
            Some(kind) if kind.eq_ignore_ascii_case("UNREGISTER") => CallKind::Unregister,
            _ => CallKind::Common,
        }
    }

    /// The sequence number the answer must echo (`x-ca-seq`).
    pub fn seq(&self) -> Option<&str> {
        self.header("x-ca-seq")
    }

    /// The body's bytes; `Err` when it claims base64 and is not.
    pub fn body_bytes(&self) -> Result<Vec<u8>, String> {
        let body = self.body.as_deref().unwrap_or("");
        let base64 = match &self.is_base64 {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_u64() == Some(1),
            Value::String(s) => s == "1" || s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        if base64 {
            STANDARD
                .decode(body)
                .map_err(|e| format!("isBase64 body is not base64: {e}"))
        } else {
            Ok(body.as_bytes().to_vec())
        }
    }
}

/// Reads a text frame.
pub fn parse(text: &str) -> Result<ClientFrame, String> {
    if let Some(device) = text.strip_prefix("RG#") {
        return Ok(ClientFrame::Register(device.to_owned()));
    }
    match text {
        "H1" => return Ok(ClientFrame::Heartbeat),
        "NO" => return Ok(ClientFrame::Ack),
        _ => {}
    }
    if text.trim_start().starts_with('{') {
        return serde_json::from_str::<ApiCall>(text)
            .map(|call| ClientFrame::Call(Box::new(call)))
            .map_err(|e| format!("malformed API call: {e}"));
    }
    Ok(ClientFrame::Other)
}

/// The `x-ca-seq` of a frame that is not a well-formed call, if it has one, so its error
/// answer still reaches the SDK's waiting call.
pub fn seq_of(text: &str) -> Option<&str> {
    let at = text.find("\"x-ca-seq\"")?;
    let rest = &text[at + "\"x-ca-seq\"".len()..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    let seq = &rest[start..end];
    seq.chars().all(|c| c.is_ascii_digit()).then_some(seq)
}

/// `RO#<credential>#<keepalive ms>`: the device is bound.
pub fn registered(credential: &str, keepalive_ms: u128) -> String {
    format!("RO#{credential}#{keepalive_ms}")
}

/// `RF#<reason>`: it is not (`#` would end the reason early, so it becomes a space).
pub fn register_failed(reason: &str) -> String {
    format!("RF#{}", reason.replace('#', " "))
}

/// `HO#<credential>`: the heartbeat's answer (the SDKs check the credential).
pub fn heartbeat_ok(credential: &str) -> String {
    format!("HO#{credential}")
}

/// `NF#<payload>`: a notification.
pub fn notification(payload: &str) -> String {
    format!("NF#{payload}")
}

/// Reconnect: the connection reached its lifetime (or the node is going away, or a newer
/// connection of the device replaced it).
pub const RECONNECT: &str = "CR";
/// Flow control: the client sent too much; it should reconnect later.
pub const OVER_LIMIT: &str = "OS";

/// An API call's answer frame: `{"status","header":{"x-ca-seq",…},"body"}` with string
/// header values (every SDK reads those).
pub fn answer(status: u16, seq: Option<&str>, headers: &[(String, String)], body: &str) -> String {
    let mut header = serde_json::Map::new();
    if let Some(seq) = seq {
        header.insert("x-ca-seq".into(), json!(seq));
    }
    // Every answer names its request, as Alibaba's gateway does (a backend's own wins).
    header.insert("x-ca-request-id".into(), json!(crate::ids::new_id()));
    for (name, value) in headers {
        header.insert(name.clone(), json!(value));
    }
    json!({ "status": status, "header": header, "body": body }).to_string()
}

/// An error answer, with the reason in `x-ca-error-message` as Alibaba sends it.
pub fn error_answer(status: u16, seq: Option<&str>, message: &str) -> String {
    answer(
        status,
        seq,
        &[("x-ca-error-message".to_owned(), message.to_owned())],
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_the_sdks_send_them() {
        assert_eq!(
            parse("RG#ffd3234343dae324342@12344133").unwrap(),
            ClientFrame::Register("ffd3234343dae324342@12344133".into())
        );
        assert_eq!(parse("H1").unwrap(), ClientFrame::Heartbeat);
        assert_eq!(parse("NO").unwrap(), ClientFrame::Ack);
        assert_eq!(parse("XX#later").unwrap(), ClientFrame::Other);
        let call = r#"{"method":"POST","host":"h","path":"/reg","querys":{"a":"1"},
            "headers":{"x-ca-seq":["7"],"x-ca-websocket_api_type":["REGISTER"]},
            "isBase64":1,"body":"aGk="}"#;
        let ClientFrame::Call(call) = parse(call).unwrap() else {
            panic!("not a call")
        };
        assert_eq!(call.kind(), CallKind::Register);
        assert_eq!(call.seq(), Some("7"));
        assert_eq!(call.body_bytes().unwrap(), b"hi");
        assert!(parse("{not json").is_err());
        assert_eq!(
            seq_of(r#"{"headers":{"x-ca-seq":["12"]},"isBase64":"x""#),
            Some("12")
        );
        assert_eq!(seq_of("{broken"), None);
    }

    #[test]
    fn answers_carry_the_sequence_number_as_a_string() {
        let mut frame: Value = serde_json::from_str(&answer(200, Some("3"), &[], "ok")).unwrap();
        // Every answer names its request (a fresh id each time).
        let id = frame["header"]
            .as_object_mut()
            .unwrap()
            .remove("x-ca-request-id");
        assert_eq!(id.and_then(|id| id.as_str().map(str::len)), Some(32));
        assert_eq!(
            frame,
            json!({"status": 200, "header": {"x-ca-seq": "3"}, "body": "ok"})
        );
        assert_eq!(registered("c", 25_000), "RO#c#25000");
        assert_eq!(register_failed("a#b"), "RF#a b");
        assert_eq!(heartbeat_ok("c"), "HO#c");
    }
}
