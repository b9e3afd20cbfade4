//! Backends as Function Compute event functions (`--aliyun-backend fc`), as API Gateway
//! calls them: the request goes as API Gateway's FC event, and the function's return is
//! read as the answer.
//!
//! Followed: Function Compute's "API Gateway trigger" document (help.aliyun.com 85208,
//! alibabacloud.com doc 74797) and events captured from it. The event: `path`,
//! `httpMethod`, `headers` (string values), `queryParameters`, `pathParameters`, `body`
//! and `isBase64Encoded` (the body base64 unless it is a form, which goes as it is). The
//! return: `statusCode` (a number or a numeric string), `headers`, `body` (a string, or
//! JSON, which goes as its text) and `isBase64Encoded` (a bool or `"true"`/`"false"`).
//! A return that is none of that answers 503, as the document says API Gateway does; a
//! function that failed (its invocation not 2xx, or `X-Fc-Error-Type` set, as Function
//! Compute's invoke API reports an error) answers 502.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// The request an API got, as the event names its parts.
#[derive(Debug)]
pub struct ApiRequest<'a> {
    /// The API's path as the client called it.
    pub path: &'a str,
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// Header names and values, in order (a repeated name's values are joined with `,`).
    pub headers: Vec<(String, String)>,
    /// Query parameters, in order (a repeated name keeps its first value).
    pub query: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// The FC event of `request`, as JSON bytes.
pub fn event(request: &ApiRequest<'_>) -> Vec<u8> {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        match headers.get_mut(name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    let mut query = Map::new();
    for (name, value) in request.query {
        query
            .entry(name.clone())
            .or_insert_with(|| Value::String(value.clone()));
    }
    let form = request.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type")
            && value
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    });
    let text = form
        .then(|| std::str::from_utf8(request.body).ok())
        .flatten();
    let (body, encoded) = match text {
        Some(text) => (text.to_owned(), false),
        None => (STANDARD.encode(request.body), true),
    };
    let event = json!({
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "queryParameters": query,
        "pathParameters": {},
        "body": body,
        "isBase64Encoded": encoded,
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

/// A function's answer, read.
#[derive(Debug, PartialEq, Eq)]
pub struct FcAnswer {
    /// Its status.
    pub status: u16,
    /// Its headers (string values; others as their JSON text).
    pub headers: Vec<(String, String)>,
    /// Its body, decoded.
    pub body: Vec<u8>,
}

/// Reads a function's return; `Err` says why it is not an API answer (then 503).
pub fn answer(returned: &[u8]) -> Result<FcAnswer, String> {
    let value: Value =
        serde_json::from_slice(returned).map_err(|e| format!("the return is not JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("the return is not a JSON object".into());
    };
    let status = match fields.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let status = status
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or("statusCode is missing or not an HTTP status")?;
    let encoded = match fields.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err("isBase64Encoded is neither a bool nor \"true\"/\"false\"".into()),
    };
    let body = match fields.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if encoded => STANDARD
            .decode(text)
            .map_err(|_| "body is not base64 although isBase64Encoded says so")?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) if !encoded => other.to_string().into_bytes(),
        Some(_) => return Err("a base64 body must be a string".into()),
    };
    let headers = match fields.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(headers)) => headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (name.clone(), value)
            })
            .collect(),
        Some(_) => return Err("headers is not an object".into()),
    };
    Ok(FcAnswer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_has_api_gateways_fields() {
        let query = vec![
            ("a".to_owned(), "1".to_owned()),
            ("a".to_owned(), "2".to_owned()),
        ];
        let request = ApiRequest {
            path: "/send",
            method: "POST",
            headers: vec![
                ("x-ca-deviceid".into(), "d1".into()),
                ("x-multi".into(), "1".into()),
                ("x-multi".into(), "2".into()),
            ],
            query: &query,
            body: b"hi",
        };
        let event: Value = serde_json::from_slice(&event(&request)).unwrap();
        assert_eq!(event["path"], "/send");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["headers"]["x-ca-deviceid"], "d1");
        assert_eq!(event["headers"]["x-multi"], "1,2");
        assert_eq!(event["queryParameters"], json!({"a": "1"}));
        assert_eq!(event["pathParameters"], json!({}));
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "aGk=");
    }

    #[test]
    fn a_form_goes_as_it_is() {
        let request = ApiRequest {
            path: "/f",
            method: "POST",
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            query: &[],
            body: b"a=1&b=2",
        };
        let event: Value = serde_json::from_slice(&event(&request)).unwrap();
        assert_eq!(
            (event["body"].as_str(), event["isBase64Encoded"].as_bool()),
            (Some("a=1&b=2"), Some(false))
        );
    }

    #[test]
    fn returns_in_every_documented_spelling_are_read() {
        let published = br#"{"isBase64Encoded":"false","statusCode":"200","body":{"ok":1}}"#;
        let read = answer(published).unwrap();
        assert_eq!((read.status, read.body), (200, br#"{"ok":1}"#.to_vec()));
        let binary = br#"{"isBase64Encoded":true,"statusCode":201,"headers":{"x-a":"b","x-n":3},"body":"aGk="}"#;
        let read = answer(binary).unwrap();
        assert_eq!(read.status, 201);
        assert_eq!(read.body, b"hi");
        assert_eq!(
            read.headers,
            vec![("x-a".into(), "b".into()), ("x-n".into(), "3".into())]
        );
    }

    #[test]
    fn a_malformed_return_says_why() {
        for bad in [
            &b"null"[..],
            b"not json",
            b"[1]",
            br#"{"body":"x"}"#,
            br#"{"statusCode":"abc"}"#,
            br#"{"statusCode":99}"#,
            br#"{"statusCode":200,"isBase64Encoded":"yes"}"#,
            br#"{"statusCode":200,"isBase64Encoded":true,"body":"***"}"#,
            br#"{"statusCode":200,"headers":[1]}"#,
        ] {
            assert!(answer(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
