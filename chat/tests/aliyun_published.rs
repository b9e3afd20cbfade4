//! Alibaba's published serverless chat (API Gateway + Function Compute + OSS), run against
//! the node binary as a user would move it here: the same three FC event functions
//! (`tests/clouds/fc_chat.py`, hosted by an FC stand-in, `fc_runtime.py`), its notify calls
//! signed by Alibaba's signing client for Python, a client like its own (Node.js `ws`,
//! `aliyun_ws_client.js`) and one written from Alibaba's Java SDK's logic
//! (`aliyun_sdk_client.py`: APP-signed calls, heartbeats, `CR`/`OS`, re-registering).
//! Only hosts, ports, keys and the bucket (a directory) differ from the published code.
//!
//! Then the edges: a forged and an unsigned notify refused, a dropped device deleted on
//! its notify's 410, CORS, FC's error answers (502, 503), notifications only after a
//! REGISTER answered 200, and a frame over the limit answered with `OS` (the SDK hears
//! nothing else), the link kept a second, the SDK back and registered again.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gateway::channel::aliyun::AppKey;
use gateway::channel::aliyun::signature::signed_headers;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

mod common;

use common::binary::Binary;
use common::python::{python, script};

const APP_KEY: &str = "204000001";
const APP_SECRET: &str = "published-chat-secret";

/// A child process driven by stdin lines, answering JSON lines; killed (by its PID) when
/// dropped.
struct Driven {
    /// The process.
    child: Child,
    /// Commands.
    stdin: ChildStdin,
    /// Answers.
    lines: Lines<BufReader<ChildStdout>>,
}

impl Driven {
    fn spawn(mut command: Command, what: &str) -> Driven {
        let mut child = command
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Driven {
            child,
            stdin,
            lines,
        }
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("no answer within 30 s")
            .unwrap()
            .expect("the process exited")
    }

    async fn tell(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The next JSON line that has `key`, skipping others.
    async fn next_with(&mut self, key: &str) -> Value {
        loop {
            let line = self.line().await;
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if value.get(key).is_some() {
                return value;
            }
        }
    }

    async fn ask(&mut self, command: &str) -> Value {
        self.tell(command).await;
        let answer: Value = serde_json::from_str(&self.line().await).unwrap();
        assert!(answer.get("error").is_none(), "`{command}`: {answer}");
        answer
    }

    async fn kill(mut self) {
        let _ = self.tell("kill").await;
        let _ = self.child.wait().await;
    }
}

/// The FC stand-in hosting `fc_chat` and `fc_checks`, its bucket a directory.
async fn functions(bucket: &Path) -> (Driven, u16) {
    let mut command = Command::new(python());
    command
        .arg(script("fc_runtime.py"))
        .args(["fc_chat", "fc_checks"])
        .env("BUCKET_DIR", bucket)
        .env("APP_KEY", APP_KEY)
        .env("APP_SECRET", APP_SECRET)
        .env("NOTIFY_HOST", "127.0.0.1");
    let mut fc = Driven::spawn(command, "the FC stand-in (set TEST_PYTHON)");
    let ready = fc.line().await;
    let port = ready
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the FC stand-in said {ready:?}"));
    (fc, port)
}

/// A function's invoke URL (FC's 2016-08-15 API).
fn function(port: u16, service: &str, name: &str) -> String {
    format!("http://127.0.0.1:{port}/2016-08-15/services/{service}/functions/{name}/invocations")
}

/// The node binary serving Alibaba's channel with Function Compute backends and the app's
/// key, plus `args`.
fn fc_node(args: &[&str]) -> Binary {
    let (head, keys) = (
        ["--aliyun", "--aliyun-backend", "fc"],
        [
            "--aliyun-app-key",
            APP_KEY,
            "--aliyun-app-secret",
            APP_SECRET,
        ],
    );
    let all: Vec<&str> = head
        .into_iter()
        .chain(args.iter().copied())
        .chain(keys)
        .collect();
    Binary::start(&all)
}

/// A client like the published one (Node.js `ws`).
fn published_client(node: &Binary) -> Driven {
    let node_path = std::env::var("TEST_NODE_PATH")
        .expect("TEST_NODE_PATH (scripts/services.sh ensure_node_packages installs ws there)");
    let mut command = Command::new("node");
    command
        .arg(script("aliyun_ws_client.js"))
        .arg(format!("ws://{}", node.app))
        .arg(format!("http://{}/send", node.app))
        .env("NODE_PATH", node_path);
    Driven::spawn(command, "node")
}

/// A client written from Alibaba's Java SDK.
fn sdk_client() -> Driven {
    let mut command = Command::new(python());
    command.arg(script("aliyun_sdk_client.py"));
    Driven::spawn(command, "the SDK-logic client (set TEST_PYTHON)")
}

/// Waits (bounded) until the bucket's keys are `want`.
async fn bucket_is(bucket: &Path, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut keys: Vec<String> = std::fs::read_dir(bucket)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        keys.sort();
        let mut want: Vec<String> = want.iter().map(|k| (*k).to_owned()).collect();
        want.sort();
        if keys == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bucket {keys:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A notify to `device` signed as `app`/`secret` (with this crate's signer, written from
/// Alibaba's document), or unsigned.
async fn notify(
    node: &Binary,
    device: &str,
    body: &str,
    signer: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut call = reqwest::Client::new()
        .post(format!("http://{}/notify", node.push))
        .header("x-ca-deviceid", device)
        .body(body.to_owned());
    if let Some((key, secret)) = signer {
        let app = AppKey {
            key: key.into(),
            secret: secret.into(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let nonce = format!("{now}-{device}-{}", body.len());
        let signed = signed_headers(
            &app,
            &reqwest::Method::POST,
            "/notify",
            "application/octet-stream",
            body.as_bytes(),
            now,
            &nonce,
        );
        for (name, value) in signed {
            call = call.header(name, value);
        }
    }
    call.send().await.unwrap()
}

fn error_message(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-ca-error-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_alibaba_chat_runs_unchanged() {
    let bucket = tempfile::tempdir().unwrap();
    let (mut fc, port) = functions(bucket.path()).await;
    let node = fc_node(&[
        "--aliyun-register-url",
        &function(port, "fc_chat", "register"),
        "--aliyun-unregister-url",
        &function(port, "fc_chat", "clean"),
        "--aliyun-http-api",
        &format!("/send={},auth=anonymous", function(port, "fc_chat", "send")),
        "--aliyun-http-api",
        &format!(
            "/crash={},auth=anonymous",
            function(port, "fc_checks", "crash")
        ),
        "--aliyun-http-api",
        &format!("/echo={}", function(port, "fc_checks", "echo")),
        "--aliyun-notify-path",
        "/notify",
    ]);
    fc.tell(&format!("env NOTIFY_PORT={}", node.push.port()))
        .await;
    assert_eq!(fc.line().await, "ok");

    // The published client: RG#, REGISTER (the register function puts its object).
    let mut browser = published_client(&node);
    let a = browser.next_with("ro").await["device"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(browser.next_with("answer").await["answer"], 200);
    // Two devices of Alibaba's SDK, registering with APP-signed calls.
    let mut b = sdk_client();
    let mut c = sdk_client();
    let mut ids = Vec::new();
    for sdk in [&mut b, &mut c] {
        let url = format!("ws://{}", node.app);
        let connected = sdk
            .ask(&format!("connect {url} {APP_KEY} {APP_SECRET}"))
            .await;
        ids.push(connected["device"].as_str().unwrap().to_owned());
        assert_eq!(sdk.ask("call REGISTER /register").await["status"], 200);
    }
    let (b_id, c_id) = (ids[0].clone(), ids[1].clone());
    bucket_is(bucket.path(), &[&a, &b_id, &c_id]).await;

    // A line to the send API reaches every other device, through signed notifies.
    browser.tell("hello from the browser").await;
    assert_eq!(browser.next_with("sent").await["sent"], 200);
    for sdk in [&mut b, &mut c] {
        let nf: Value =
            serde_json::from_str(sdk.ask("notification").await["nf"].as_str().unwrap()).unwrap();
        assert_eq!(
            (nf["from"].as_str(), nf["message"].as_str()),
            (Some(a.as_str()), Some("hello from the browser"))
        );
    }
    let sent = reqwest::Client::new()
        .post(format!("http://{}/send", node.app))
        .header("content-type", "application/octet-stream")
        .header("x-ca-deviceid", &b_id)
        .body("hello from b")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 200);
    assert!(sent.headers().contains_key("x-ca-request-id"));
    let nf = browser.next_with("nf").await;
    assert_eq!(
        (nf["nf"]["from"].as_str(), nf["nf"]["message"].as_str()),
        (Some(b_id.as_str()), Some("hello from b"))
    );
    assert!(
        c.ask("notification").await["nf"]
            .as_str()
            .unwrap()
            .contains("hello from b")
    );

    // A forged notify and an unsigned one are refused, and reach nobody.
    let forged = notify(&node, &b_id, "forged", Some((APP_KEY, "not the secret"))).await;
    assert_eq!(forged.status().as_u16(), 400);
    assert!(
        error_message(&forged).starts_with("Invalid Signature, Server StringToSign:`POST#"),
        "{}",
        error_message(&forged)
    );
    let unsigned = notify(&node, &b_id, "unsigned", None).await;
    assert_eq!(
        (
            unsigned.status().as_u16(),
            error_message(&unsigned).as_str()
        ),
        (400, "Invalid AppKey")
    );
    let stranger = notify(&node, &b_id, "stranger", Some(("someone-else", APP_SECRET))).await;
    assert_eq!(error_message(&stranger), "Invalid AppKey");
    assert_eq!(b.ask("none_for 300").await["none"], true);
    // The push API's other routes do not take app keys.
    let other = reqwest::Client::new()
        .post(format!("http://{}/@connections/{b_id}", node.push))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 403);
    // Signed with this crate's own signer, it is delivered.
    let signed = notify(&node, &b_id, "signed", Some((APP_KEY, APP_SECRET))).await;
    assert_eq!(signed.status().as_u16(), 200);
    assert_eq!(b.ask("notification").await["nf"], "signed");

    // A device dropped without unregistering: its notify is 410, the send function deletes
    // its object.
    c.kill().await;
    browser.tell("after c left").await;
    assert_eq!(browser.next_with("sent").await["sent"], 200);
    assert!(
        b.ask("notification").await["nf"]
            .as_str()
            .unwrap()
            .contains("after c left")
    );
    bucket_is(bucket.path(), &[&a, &b_id]).await;

    // Unregister: the clean function deletes the object; it returns nothing, which API
    // Gateway answers 503 (a malformed function answer).
    let cleaned = b.ask("call UNREGISTER /unregister").await;
    assert_eq!(cleaned["status"], 503, "{cleaned}");
    bucket_is(bucket.path(), &[&a]).await;

    // The browser's preflight, and the event an FC function gets from an HTTP API.
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("http://{}/send", node.app),
        )
        .header("origin", "http://chat.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-ca-deviceid,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 200);
    let allowed = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(allowed("access-control-allow-origin"), "*");
    assert!(allowed("access-control-allow-methods").contains("POST"));
    assert_eq!(
        allowed("access-control-allow-headers"),
        "x-ca-deviceid,content-type"
    );
    // An APP-auth API refuses the unsigned.
    let unsigned = reqwest::Client::new()
        .post(format!("http://{}/echo", node.app))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 400);
    let crashed = reqwest::Client::new()
        .post(format!("http://{}/crash", node.app))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(crashed.status().as_u16(), 502);
    assert_eq!(error_message(&crashed), "Backend function failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_device_is_notified_once_registered_and_hears_os_before_a_close() {
    let bucket = tempfile::tempdir().unwrap();
    let (_fc, port) = functions(bucket.path()).await;
    let node = fc_node(&[
        "--aliyun-register-url",
        &function(port, "fc_checks", "refuse"),
        "--aliyun-notify-path",
        "/notify",
        "--max-message-bytes",
        "4096",
    ]);
    let url = format!("ws://{}", node.app);
    let app = Some((APP_KEY, APP_SECRET));

    // Refused by its register backend: never notified.
    let mut banned = sdk_client();
    let id = format!("banned1@{APP_KEY}");
    banned
        .ask(&format!("connect {url} {APP_KEY} {APP_SECRET} {id}"))
        .await;
    assert_eq!(
        notify(&node, &id, "too early", app).await.status().as_u16(),
        410
    );
    assert_eq!(banned.ask("call REGISTER /register").await["status"], 403);
    let refused = notify(&node, &id, "refused", app).await;
    assert_eq!(refused.status().as_u16(), 410);
    assert_eq!(banned.ask("none_for 300").await["none"], true);

    // Accepted: notified from the REGISTER's 200 on.
    let mut sdk = sdk_client();
    let id = format!("good1@{APP_KEY}");
    sdk.ask(&format!("connect {url} {APP_KEY} {APP_SECRET} {id}"))
        .await;
    assert_eq!(
        notify(&node, &id, "too early", app).await.status().as_u16(),
        410
    );
    assert_eq!(sdk.ask("call REGISTER /register").await["status"], 200);
    assert_eq!(
        notify(&node, &id, "registered", app)
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(sdk.ask("notification").await["nf"], "registered");
    assert_eq!(sdk.ask("online").await["online"], true);

    // A frame over the limit: OS first (the SDK ignores close frames); the link stays a
    // second, so a notify meanwhile still arrives; then the SDK reconnects and registers
    // again, and is notified again.
    sdk.ask("events").await;
    sdk.ask("send_big 8000").await;
    sdk.ask("wait_event OS").await;
    assert_eq!(
        notify(&node, &id, "in the second", app)
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(sdk.ask("notification").await["nf"], "in the second");
    sdk.ask("wait_event reregistered").await;
    assert_eq!(sdk.ask("online").await["online"], true);
    assert_eq!(notify(&node, &id, "back", app).await.status().as_u16(), 200);
    assert_eq!(sdk.ask("notification").await["nf"], "back");
}

/// An HTTP API as an attacker tries it: a body over the limit (declared, or chunked), a
/// body trickled past the deadline, a path climbing out of the API's prefix, a query with
/// more parameters than the cap, a signature header list past its cap. Each is refused,
/// and the API still answers the next caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_api_refuses_what_an_attacker_tries() {
    let bucket = tempfile::tempdir().unwrap();
    let (_fc, port) = functions(bucket.path()).await;
    let node = fc_node(&[
        "--aliyun-http-api",
        &format!(
            "/open/*={},auth=anonymous",
            function(port, "fc_checks", "echo")
        ),
        "--aliyun-http-api",
        &format!("/signed={}", function(port, "fc_checks", "echo")),
        "--max-message-bytes",
        "4096",
        "--header-timeout-secs",
        "1",
    ]);
    let http = reqwest::Client::new();
    let open = format!("http://{}/open/x", node.app);

    let declared = http
        .post(&open)
        .body(vec![b'a'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status().as_u16(), 413);
    let mut chunked = String::from(
        "POST /open/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    for _ in 0..6 {
        chunked.push_str(&format!("3e8\r\n{}\r\n", "a".repeat(1000)));
    }
    chunked.push_str("0\r\n\r\n");
    let answer = raw_request(node.app, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Trickled: the head, one byte of ten, then nothing.
    let mut stream = tokio::net::TcpStream::connect(node.app).await.unwrap();
    let head = "POST /open/x HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\na";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
    )
    .await
    .expect("answered within the deadline")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Out of the prefix (the client sends the path as it is).
    for climbing in ["/open/../signed", "/open/%2e%2e/signed", "/open/a/./b"] {
        let request = format!("GET {climbing} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let answer = raw_request(node.app, &request).await;
        let status = answer.split(' ').nth(1).unwrap_or("");
        assert!(status == "400" || status == "404", "{climbing}: {answer}");
        assert!(
            !answer.contains("\"path\""),
            "{climbing} reached the function: {answer}"
        );
    }

    let query: Vec<String> = (0..300).map(|i| format!("k{i}=v")).collect();
    let many = http
        .get(format!("{open}?{}", query.join("&")))
        .send()
        .await
        .unwrap();
    assert_eq!(many.status().as_u16(), 400);

    let listed: Vec<String> = (0..100).map(|i| format!("x-ca-h{i}")).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let flooded = http
        .get(format!("http://{}/signed", node.app))
        .header("x-ca-key", APP_KEY)
        .header("x-ca-timestamp", now.to_string())
        .header("x-ca-signature", "AAAA")
        .header("x-ca-signature-headers", listed.join(","))
        .send()
        .await
        .unwrap();
    assert_eq!(flooded.status().as_u16(), 400);

    // Still serving.
    let fine = http.post(&open).body("fine").send().await.unwrap();
    assert_eq!(fine.status().as_u16(), 200);
    let event: Value = fine.json().await.unwrap();
    assert_eq!(event["path"], "/open/x");
}

/// Sends `request` as it is (a client that may break the rules) and reads the answer until
/// the node closes (bounded); a write the node cut short is no error.
async fn raw_request(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}
