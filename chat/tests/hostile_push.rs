//! Hostile callers of the push API and of Alibaba's API proxy (issue 25): empty credentials,
//! API paths that climb out of the backend's base path, bodies declared too long or
//! trickled by a caller who only knows the (public) access key id, and id lists long
//! enough to cost seconds of CPU. Raw TCP where a client library would hide the bytes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement as apigw;
use gateway::{GatewayConfig, PushAuth, SigV4Key};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;

use common::ws::{Ws, connect, next_text, send_text};

const KEY_ID: &str = "AKIDHOSTILEPUSH";
const SECRET: &str = "hostile-push-secret/with+odd=chars";
const TOKEN: &str = "hostile-push-token";

/// How long any one wait of these tests may take before it fails.
const WAIT: Duration = Duration::from_secs(10);

/// Signature V4 as the SDKs make it (service `execute-api`, region `us-east-1`, headers
/// `host;x-amz-date`), for requests the SDK will not make: signed with empty credentials,
/// or sent by hand.
mod sigv4 {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    /// The service and region signed for.
    const SCOPE_TAIL: &str = "us-east-1/execute-api/aws4_request";

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// `path` as SigV4 encodes it for a non-S3 service (every byte but the unreserved
    /// ones and `/` percent-encoded).
    fn encode_path(path: &str) -> String {
        path.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect()
    }

    /// The `Authorization` and `x-amz-date` headers of `method path` on `host` with `body`.
    pub fn sign(
        method: &str,
        host: &str,
        path: &str,
        body: &[u8],
        key_id: &str,
        secret: &str,
    ) -> [(&'static str, String); 2] {
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let amz_date = time::OffsetDateTime::now_utc().format(format).unwrap();
        let date = &amz_date[..8];
        let canonical = format!(
            "{method}\n{}\n\nhost:{host}\nx-amz-date:{amz_date}\n\nhost;x-amz-date\n{}",
            encode_path(path),
            sha256_hex(body)
        );
        let scope = format!("{date}/{SCOPE_TAIL}");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), date);
        for part in SCOPE_TAIL.split('/') {
            key = hmac(&key, part);
        }
        let signature = hex::encode(hmac(&key, &to_sign));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}"
        );
        [("authorization", authorization), ("x-amz-date", amz_date)]
    }
}

/// A node that takes SigV4 with [`KEY_ID`] and the bearer [`TOKEN`], serving Alibaba's
/// channel.
fn guarded(config: &mut common::Setup) {
    config.push_auth.sigv4 = Some(SigV4Key::new(KEY_ID, SECRET).unwrap());
    config.push_auth.token = Some(TOKEN.into());
    config.aliyun.enabled = true;
}

/// A POST head for `path` on `addr` declaring `length` body bytes, with `headers`.
fn post_head(addr: SocketAddr, path: &str, length: usize, headers: &[(&str, String)]) -> String {
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head + "\r\n"
}

/// Headers of a signed POST that pass every check made before the body (the key id, the
/// scope, the date) but whose signature cannot match: what a stranger who read the key id
/// off the wire can send.
fn stranger(addr: SocketAddr, path: &str) -> [(&'static str, String); 2] {
    sigv4::sign(
        "POST",
        &addr.to_string(),
        path,
        b"",
        KEY_ID,
        "not-the-secret",
    )
}

/// What the server sent on a connection until it closed it (a reset counts as closed),
/// and when, counted from `since`.
#[derive(Debug)]
struct Answered {
    /// The bytes, as text.
    text: String,
    /// When the first of them came.
    first: Duration,
    /// When the connection was closed.
    closed: Duration,
}

/// Reads `stream` until the server closes it; panics after [`WAIT`].
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin), since: Instant) -> Answered {
    let mut answer = Vec::new();
    let mut first = None;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => {
                return Answered {
                    text: String::from_utf8_lossy(&answer).into_owned(),
                    first: first.unwrap_or(since.elapsed()),
                    closed: since.elapsed(),
                };
            }
            Ok(Ok(n)) => {
                first.get_or_insert(since.elapsed());
                answer.extend_from_slice(&buffer[..n]);
            }
            Err(_) => panic!(
                "no close within {WAIT:?}; so far: {}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
}

/// Reads one whole answer (its head and its `content-length` bytes) from `stream`, in
/// lower case; panics after [`WAIT`].
async fn read_answer(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .split("\r\n")
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return text;
            }
        }
        match tokio::time::timeout(WAIT, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buffer[..n]),
            Ok(_) => panic!("closed before a whole answer: {text}"),
            Err(_) => panic!("no answer within {WAIT:?}; so far: {text}"),
        }
    }
}

/// The status of a raw HTTP answer (0 when there is none).
fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends `head`, then the body one byte every 100 ms (the attack), while reading the
/// answer: what came, timed from the head.
async fn trickle(addr: SocketAddr, head: String) -> Answered {
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickling = tokio::spawn(async move {
        while started.elapsed() < WAIT && write.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let answered = read_until_closed(&mut read, started).await;
    trickling.abort();
    answered
}

/// An Alibaba device bound as `device` on `node`'s channel.
async fn device(node: &common::Node, device: &str) -> Ws {
    let mut ws = connect(&format!("ws://{}/aliyun", node.app)).await;
    send_text(&mut ws, &format!("RG#{device}")).await;
    let bound = next_text(&mut ws).await;
    assert!(bound.starts_with("RO#"), "{bound}");
    ws
}

fn rust_sdk(endpoint: String, secret: &str) -> apigw::Client {
    common::aws_sdk::client(endpoint, KEY_ID, secret, "us-east-1")
}

// ---- Finding 3: empty credentials ----

#[test]
fn empty_credentials_are_refused_by_the_library() {
    let some = |s: &str| Some(s.to_owned());
    let cases = [
        (some(""), None, None, "push token is empty"),
        (some(" \t "), None, None, "push token is empty"),
        (None, some(""), some(""), "access key id is empty"),
        (None, some(KEY_ID), some(""), "secret access key is empty"),
        (
            None,
            some(KEY_ID),
            some("   "),
            "secret access key is empty",
        ),
        (None, some(" "), some(SECRET), "access key id is empty"),
        (None, some(KEY_ID), None, "without its secret"),
        (None, None, some(SECRET), "without its access key id"),
        (
            some(TOKEN),
            some(KEY_ID),
            some(""),
            "secret access key is empty",
        ),
    ];
    for (token, id, secret, why) in cases {
        let refused = PushAuth::new(token.clone(), id.clone(), secret.clone())
            .expect_err(&format!("{token:?} {id:?} {secret:?} was taken"));
        assert!(refused.to_string().contains(why), "{refused}");
    }
    assert!(PushAuth::new(some(TOKEN), some(KEY_ID), some(SECRET)).is_ok());
    assert!(
        PushAuth::new(None, None, None).is_ok(),
        "open (loopback) stays possible"
    );
    assert!(SigV4Key::new("", SECRET).is_err());
    assert!(SigV4Key::new(KEY_ID, "").is_err());
    // Built field by field, it is caught by `validate`.
    let built = PushAuth {
        token: None,
        sigv4: Some(SigV4Key {
            access_key_id: KEY_ID.into(),
            secret_access_key: String::new(),
        }),
        closed: false,
    };
    assert!(built.validate().is_err());
}

/// A node whose config was built around the checks (fields set directly) refuses to be
/// built: with the empty secret (or the empty id and secret), a signature once delivered a
/// push.
#[test]
fn a_node_given_empty_credentials_refuses_to_start() {
    for (id, secret) in [("", ""), (KEY_ID, ""), ("", "secret")] {
        let addr = "127.0.0.1:9".parse().unwrap();
        let unused = "http://127.0.0.1:1/unused";
        let routes = gateway::HttpRoutes::lifecycle(unused, unused, unused);
        let functions = gateway::FunctionMode::Http {
            routes,
            dialect: &gateway::wire::aws::Aws,
            route_responses: false,
        };
        let mut config = GatewayConfig::new(addr, functions);
        config.push_auth.sigv4 = Some(SigV4Key {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
        });
        let Err(why) = gateway::Gateway::new(config) else {
            panic!("a node started with id {id:?} and secret {secret:?}");
        };
        let why = why.to_string();
        assert!(why.contains("empty"), "{why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_to_start_with_empty_credentials() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("PUSH_AWS_ACCESS_KEY_ID", ""),
                ("PUSH_AWS_SECRET_ACCESS_KEY", ""),
            ],
            "access key id is empty",
        ),
        (
            &[
                ("PUSH_AWS_ACCESS_KEY_ID", KEY_ID),
                ("PUSH_AWS_SECRET_ACCESS_KEY", ""),
            ],
            "secret access key is empty",
        ),
        (&[("PUSH_TOKEN", "")], "push token is empty"),
        (&[("PUSH_TOKEN", "   ")], "push token is empty"),
    ];
    for (env, why) in cases {
        let dir = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::from(common::binary::command())
            .args(["--listen", "127.0.0.1:0", "--push-listen", "0.0.0.0:0"])
            .args(["--store", &format!("sled://{}", dir.path().display())])
            .env_remove("PUSH_TOKEN")
            .env_remove("PUSH_AWS_ACCESS_KEY_ID")
            .env_remove("PUSH_AWS_SECRET_ACCESS_KEY")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{env:?}: the binary started and kept serving"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?}: exited with success");
        assert!(stderr.contains(why), "{env:?}: stderr was {stderr}");
    }
}

// ---- Finding 4: paths out of the Alibaba proxy's base path ----

/// An HTTP backend on loopback that answers every request 200 `ok` and records the
/// request target it got.
async fn recording_backend() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1
                {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                record.lock().unwrap().push(target);
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

/// Makes an API call over the channel; its answer frame.
async fn call(ws: &mut Ws, seq: usize, path: &str) -> Value {
    let call = json!({
        "method": "GET",
        "host": "api",
        "path": path,
        "headers": { "x-ca-seq": [seq.to_string()] },
    });
    send_text(ws, &call.to_string()).await;
    let answer: Value = serde_json::from_str(&next_text(ws).await).unwrap();
    assert_eq!(answer["header"]["x-ca-seq"], seq.to_string(), "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alibaba_proxy_never_sends_a_path_outside_its_base() {
    let (backend, seen) = recording_backend().await;
    let node = common::start_with(|config| {
        config.aliyun.enabled = true;
        config.aliyun.api_url = Some(format!("http://{backend}/api"));
    })
    .await;
    let mut ws = device(&node, "prober").await;
    let escapes = [
        "/.\t./admin",
        "/..\t/admin",
        "/%2e\t%2e/admin",
        "/.\n./admin",
        "/.\r./admin",
        "/\t../admin",
        "/%2e%09%2e/admin",
        "/%2E%0A%2E/admin",
        "/chat%0d%0aX-Injected: 1",
        "/chat\u{7f}",
        "/../admin",
        "/%2e%2e/admin",
    ];
    for (seq, path) in escapes.iter().enumerate() {
        let answer = call(&mut ws, seq, path).await;
        let status = answer["status"].as_u64().unwrap();
        assert_eq!(status, 400, "{path:?} was answered {answer}");
    }
    // A plain call still reaches the backend, under its base path; and it is the only
    // request the backend ever got (the calls are answered in order).
    let answer = call(&mut ws, escapes.len(), "/chat/send").await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"], "ok");
    assert_eq!(*seen.lock().unwrap(), ["/api/chat/send"]);
}

// ---- Finding 5: bodies held for strangers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_sent() {
    let node = common::start_with(guarded).await;
    let mib = 1024 * 1024;
    // Each over its route's limit (128 KiB frames: 128 KiB raw, 772 KiB as a JSON
    // string, about 14 MB for a batch of 100,000 ids) and under the 16 MiB once read.
    let cases = [
        (
            "/production/@connections/x",
            mib,
            "x-amzn-errortype: payloadtoolargeexception",
        ),
        ("/", 8 * mib, "\"errno\":413"),
        ("/aliyun/notify", mib, "x-ca-error-message"),
        ("/batch", 15_000_000, "{\"error\":"),
    ];
    for (path, declared, shape) in cases {
        for headers in [
            stranger(node.push, path).to_vec(),
            vec![("authorization", format!("Bearer {TOKEN}"))],
        ] {
            let mut stream = TcpStream::connect(node.push).await.unwrap();
            let head = post_head(node.push, path, declared, &headers);
            stream.write_all(head.as_bytes()).await.unwrap();
            // Not a byte of the body is sent: the answer must come anyway, and say that
            // the connection closes.
            let answer = read_answer(&mut stream).await;
            assert_eq!(status_of(&answer), 413, "{path}: {answer}");
            assert!(answer.contains(shape), "{path}: {answer}");
            assert!(answer.contains("connection: close"), "{path}: {answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408_and_its_connection_closed() {
    let deadline = Duration::from_secs(1);
    let node = common::start_with(|config| {
        guarded(config);
        config.limits.header_timeout = deadline;
    })
    .await;
    let path = "/production/@connections/x";
    let signed = post_head(node.push, path, 1000, &stranger(node.push, path));
    let bearer = [("authorization", format!("Bearer {TOKEN}"))];
    let with_token = post_head(node.push, path, 1000, &bearer);
    let (signed, with_token) =
        tokio::join!(trickle(node.push, signed), trickle(node.push, with_token));
    for (who, answered) in [("signed", signed), ("token", with_token)] {
        assert_eq!(status_of(&answered.text), 408, "{who}: {answered:?}");
        assert!(
            answered.text.contains("RequestTimeoutException"),
            "{who}: {answered:?}"
        );
        let took = answered.closed;
        assert!(
            took >= deadline - Duration::from_millis(100) && took < deadline * 3,
            "{who}: closed after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_bodies_are_held_within_one_budget() {
    let frame = 256 * 1024;
    let budget = 4 * frame;
    let deadline = Duration::from_secs(2);
    let node = common::start_with(|config| {
        guarded(config);
        config.limits.max_message_bytes = frame;
        config.limits.pre_auth_body_bytes = budget;
        config.limits.header_timeout = deadline;
    })
    .await;
    let path = "/production/@connections/x";
    let callers = (0..12).map(|_| {
        let head = post_head(node.push, path, frame, &stranger(node.push, path));
        trickle(node.push, head)
    });
    let answers = futures::future::join_all(callers).await;
    let (mut held, mut busy) = (0, 0);
    for answered in &answers {
        match status_of(&answered.text) {
            // Held for the body until its deadline.
            408 => held += 1,
            503 => {
                busy += 1;
                let text = &answered.text;
                assert!(text.contains("ServiceUnavailableException"), "{text}");
                assert!(answered.first < deadline, "a 503 came after {answered:?}");
            }
            _ => panic!("unexpected answer: {answered:?}"),
        }
    }
    // The budget takes four bodies of this size: the node never held more than it.
    assert_eq!((held, busy), (4, 8), "{answers:?}");
    // A bearer-token caller is not in the budget; the node still serves.
    let health = reqwest::get(format!("http://{}/healthz", node.push))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correctly_signed_pushes_still_go_through() {
    let frame = 64 * 1024;
    let node = common::start_with(|config| {
        guarded(config);
        config.limits.max_message_bytes = frame;
    })
    .await;
    let mut ws = device(&node, "dev1").await;
    let sdk = rust_sdk(format!("http://{}/production", node.push), SECRET);
    sdk.post_to_connection()
        .connection_id("dev1")
        .data(apigw::primitives::Blob::new("hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, "NF#hello");

    // The largest frame, signed by hand: exactly at the limit is taken.
    let client = reqwest::Client::new();
    let signed_post = |path: &str, body: Vec<u8>| {
        let headers = sigv4::sign("POST", &node.push.to_string(), path, &body, KEY_ID, SECRET);
        let mut call = client
            .post(format!("http://{}{path}", node.push))
            .body(body);
        for (name, value) in headers {
            call = call.header(name, value);
        }
        call.send()
    };
    let largest = vec![b'y'; frame];
    let sent = signed_post("/production/@connections/dev1", largest)
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let got = next_text(&mut ws).await;
    assert_eq!(got.len(), 3 + frame);

    // One byte more, or much more: the SDK, which sends the whole body before it reads
    // the answer, gets its typed exception (not a reset connection).
    for size in [frame + 1, frame * 64] {
        let too_large = sdk
            .post_to_connection()
            .connection_id("dev1")
            .data(apigw::primitives::Blob::new(vec![b'z'; size]))
            .send()
            .await
            .unwrap_err();
        assert!(
            too_large
                .into_service_error()
                .is_payload_too_large_exception(),
            "{size} bytes: not a PayloadTooLargeException"
        );
    }

    // A signed batch naming the device twice delivers once.
    let batch = json!({ "ids": ["dev1", "dev1"], "data": "once" }).to_string();
    let answer = signed_post("/batch", batch.into_bytes()).await.unwrap();
    assert_eq!(answer.status(), 200);
    let results: Value = answer.json().await.unwrap();
    assert_eq!(results, json!({ "sent": 1, "undelivered": {} }));
    sdk.post_to_connection()
        .connection_id("dev1")
        .data(apigw::primitives::Blob::new("after"))
        .send()
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, "NF#once");
    assert_eq!(next_text(&mut ws).await, "NF#after");
}

// ---- Finding 6: long id lists ----

/// `n` in base 36: short ids, so 75,000 of them fit in one header.
fn short_id(mut n: usize) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = Vec::new();
    loop {
        id.push(digits[n % 36]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    id.reverse();
    String::from_utf8(id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_naming_75000_devices_is_refused_at_once() {
    let node = common::start_with(|_| {}).await;
    let ids: Vec<String> = (0..75_000).map(short_id).collect();
    let ids = ids.join(",");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let notify = client
        .post(format!("http://{}/aliyun/notify", node.push))
        .header("x-ca-deviceid", ids)
        .body("x")
        .send();
    let health = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let asked = Instant::now();
            let url = format!("http://{}/healthz", node.push);
            let answer = tokio::time::timeout(WAIT, client.get(url).send()).await;
            assert_eq!(answer.expect("/healthz stalled").unwrap().status(), 200);
            slowest = slowest.max(asked.elapsed());
        }
        slowest
    };
    let (answer, slowest_health) = tokio::join!(tokio::time::timeout(WAIT, notify), health);
    let answer = answer.expect("the notify took over 10 s").unwrap();
    let took = started.elapsed();
    assert_eq!(answer.status(), 400);
    let message = answer.headers()["x-ca-error-message"].to_str().unwrap();
    assert!(message.contains("at most 1000"), "{message}");
    assert!(took < Duration::from_secs(1), "the notify took {took:?}");
    assert!(
        slowest_health < Duration::from_secs(1),
        "/healthz took {slowest_health:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_its_cap_is_refused_unread() {
    let node = common::start_with(|_| {}).await;
    let ids: Vec<String> = (0..100_001).map(short_id).collect();
    let body = json!({ "ids": ids, "data": "x" }).to_string();
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("http://{}/batch", node.push))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let error: Value = answer.json().await.unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("at most 100000 ids"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
