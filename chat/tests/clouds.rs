//! Drop-in: functions and clients written for AWS and Tencent, nobody on the team's code,
//! work against the gateway unchanged. Python handlers written as the clouds' documentation
//! shows them run in a small function runner (`tests/clouds/runner.py`); AWS's own SDKs
//! (boto3 and the Rust `aws-sdk-apigatewaymanagement`) call the push API with SigV4; the
//! Python `websockets` library sees refusals as handshake statuses.
//!
//! Needs a Python with boto3, requests and websockets: `TEST_PYTHON` (scripts/test sets
//! it to the venv it makes), else `python3`. Without them these tests fail.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_apigatewaymanagement as apigw;
use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
use aws_sdk_apigatewaymanagement::operation::RequestId;
use gateway::wire::{aws::Aws, tencent::Tencent};
use gateway::{FunctionMode, HttpRoutes, SigV4Key};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod common;

use common::binary::Binary;
use common::output::succeeds;
use common::python::{python, script};
use common::ws::{Ws, close_frame, next_text, send_text, try_connect};

const KEY_ID: &str = "AKIDGATEWAYTEST";
const SECRET: &str = "gateway-test-secret/with+odd=chars";

/// Environment for the Python processes: the gateway's key, and loopback never proxied.
fn python_env(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
}

/// The function runner hosting one handler module; killed (by its PID) when dropped.
struct Runner {
    /// The runner process.
    child: Child,
    /// `http://127.0.0.1:<port>`.
    url: String,
}

impl Runner {
    async fn start(module: &str, env: &[(&str, String)]) -> Runner {
        let mut command = Command::new(python());
        python_env(&mut command)
            .arg(script("runner.py"))
            .arg(module)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (set TEST_PYTHON): {e}", python()));
        let stdout = child.stdout.take().unwrap();
        let port = tokio::task::spawn_blocking(move || {
            common::output::find_then_drain(stdout, |line| {
                line.strip_prefix("ready ").map(str::to_owned)
            })
        })
        .await
        .unwrap()
        .expect("the function runner did not start (boto3 / requests installed?)");
        Runner {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `clients.py` with `args`; its stdout, or a panic with its output when it fails.
async fn clients(args: Vec<String>) -> String {
    let mut command = Command::new(python());
    python_env(&mut command)
        .arg(script("clients.py"))
        .args(&args);
    let what = format!("clients.py {args:?}");
    tokio::task::spawn_blocking(move || succeeds(command, &what))
        .await
        .unwrap()
}

/// Runs `aws_js_sdk.js` with `args` and the gateway's key; its stdout, or a panic with its
/// output when it fails.
async fn js_sdk(args: &[&str]) -> String {
    let node_path = std::env::var("TEST_NODE_PATH").expect(
        "TEST_NODE_PATH (scripts/services.sh ensure_node_packages installs the JS SDK there)",
    );
    let mut command = Command::new("node");
    python_env(&mut command)
        .arg(script("aws_js_sdk.js"))
        .args(args)
        .env("NODE_PATH", node_path);
    tokio::task::spawn_blocking(move || succeeds(command, "aws_js_sdk.js"))
        .await
        .unwrap()
}

/// Connects to `url` offering `protocol`; the socket and the subprotocol answered, or the
/// handshake's HTTP status when refused.
async fn connect(url: &str, protocol: Option<&str>) -> Result<(Ws, Option<String>), u16> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("user-agent", "clouds-test/1".parse().unwrap());
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    let (ws, response) = try_connect(request).await?;
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((ws, chosen))
}

/// The close code the server sends.
async fn close_code(ws: &mut Ws) -> u16 {
    close_frame(ws).await.0.into()
}

fn rust_sdk(endpoint: String, secret: &str) -> apigw::Client {
    common::aws_sdk::client(endpoint, KEY_ID, secret, "ap-southeast-1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_lambda_handlers_and_sdks_work_unchanged() {
    let runner = Runner::start("aws_handlers", &[]).await;
    let url = |name: &str| format!("{}/{name}", runner.url);
    let routes = HttpRoutes {
        connect: Some(url("handle_connect")),
        disconnect: Some(url("handle_disconnect")),
        default: None,
        custom: BTreeMap::from([
            ("sendmessage".to_owned(), url("handle_message")),
            ("whoami".to_owned(), url("handle_whoami")),
            ("fail".to_owned(), url("handle_fail")),
        ]),
        selection: Some("$request.body.action".parse().unwrap()),
        two_way: Default::default(),
    };
    let node = common::start_with(|config| {
        config.functions = FunctionMode::Http {
            routes,
            dialect: &Aws,
            route_responses: true,
        };
        config.push_auth.sigv4 = Some(SigV4Key {
            access_key_id: KEY_ID.into(),
            secret_access_key: SECRET.into(),
        });
    })
    .await;
    let ws_url = |query: &str| format!("ws://{}/ws{query}", node.app);

    // $connect answering 400 refuses the handshake with 400, for any client.
    assert_eq!(connect(&ws_url(""), None).await.err(), Some(400));
    let refused = clients(vec!["handshake".into(), ws_url("")]).await;
    assert_eq!(
        refused.trim(),
        "400",
        "the websockets library saw {refused}"
    );
    // AWS's URL shape: the socket at /{stage} and at the bare host, not at another stage.
    for (path, status) in [("/production", "101"), ("/", "101"), ("/staging", "404")] {
        let url = format!("ws://{}{path}?name=shape", node.app);
        let said = clients(vec!["handshake".into(), url]).await;
        assert_eq!(said.trim(), status, "{path}");
    }

    // The subprotocol the handler picks is the handshake's.
    let (mut ann, protocol) = connect(&ws_url("?name=ann"), Some("chat, other"))
        .await
        .unwrap();
    assert_eq!(protocol.as_deref(), Some("chat"));
    let (mut bob, _) = connect(&ws_url("?name=bob"), None).await.unwrap();

    // A route response carries the caller's id.
    send_text(&mut ann, r#"{"action":"whoami"}"#).await;
    let ann_id = next_text(&mut ann).await;
    send_text(&mut bob, r#"{"action":"whoami"}"#).await;
    let bob_id = next_text(&mut bob).await;
    assert_ne!(ann_id, bob_id);

    // The AWS sample chat's frame reaches the sendmessage route, which posts to everyone
    // with boto3 (SigV4 over the stage endpoint), then answers "Data sent.".
    send_text(&mut ann, r#"{"action":"sendmessage","data":"hello"}"#).await;
    assert_eq!(next_text(&mut bob).await, "ann: hello");
    assert_eq!(next_text(&mut ann).await, "ann: hello");
    assert_eq!(next_text(&mut ann).await, "Data sent.");

    // No route and no $default: AWS's Forbidden frame; a failing handler: its
    // Internal server error frame. The connection stays.
    send_text(&mut ann, r#"{"action":"dance"}"#).await;
    let forbidden: serde_json::Value = serde_json::from_str(&next_text(&mut ann).await).unwrap();
    assert_eq!(forbidden["message"], "Forbidden");
    assert_eq!(forbidden["connectionId"], ann_id.as_str());
    send_text(&mut ann, r#"{"action":"fail"}"#).await;
    let failed: serde_json::Value = serde_json::from_str(&next_text(&mut ann).await).unwrap();
    assert_eq!(failed["message"], "Internal server error");

    // AWS's Rust SDK: post, describe, typed errors (ids that need percent-encoding too).
    let endpoint = format!("http://{}/production", node.push);
    let sdk = rust_sdk(endpoint.clone(), SECRET);
    let posted = sdk
        .post_to_connection()
        .connection_id(&ann_id)
        .data(apigw::primitives::Blob::new("from the rust sdk"))
        .send()
        .await
        .unwrap();
    assert!(
        posted.request_id().is_some_and(|id| id.len() == 36),
        "x-amzn-RequestId"
    );
    assert_eq!(next_text(&mut ann).await, "from the rust sdk");
    let described = sdk
        .get_connection()
        .connection_id(&ann_id)
        .send()
        .await
        .unwrap();
    let connected_at = described.connected_at().expect("connectedAt").secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 300..=now).contains(&connected_at), "{connected_at}");
    assert!(described.last_active_at().is_some());
    let gone = sdk
        .get_connection()
        .connection_id("no such=id/at all")
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_gone_exception());
    let too_large = sdk
        .post_to_connection()
        .connection_id(&ann_id)
        .data(apigw::primitives::Blob::new(vec![b'x'; 200 * 1024]))
        .send()
        .await
        .unwrap_err();
    assert!(
        too_large
            .into_service_error()
            .is_payload_too_large_exception()
    );
    let forged = rust_sdk(endpoint.clone(), "wrong-secret")
        .get_connection()
        .connection_id(&ann_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        forged.code(),
        Some("InvalidSignatureException"),
        "{forged:?}"
    );
    let unsigned = reqwest::get(format!("http://{}/@connections/{ann_id}", node.push))
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    assert!(unsigned.headers().contains_key("x-amzn-requestid"));
    let body: serde_json::Value = unsigned.json().await.unwrap();
    assert_eq!(body["message"], "Missing Authentication Token");
    // Signed for another stage: AWS's 403 Forbidden.
    let elsewhere = rust_sdk(format!("http://{}/staging", node.push), SECRET)
        .get_connection()
        .connection_id(&ann_id)
        .send()
        .await
        .unwrap_err();
    assert!(elsewhere.into_service_error().is_forbidden_exception());

    // AWS's JavaScript SDK v3, as a Node.js handler calls it.
    let said = js_sdk(&[endpoint.as_str(), ann_id.as_str()]).await;
    assert!(said.contains("ok post_to_connection"), "{said}");
    assert!(said.contains("ok PayloadTooLargeException"), "{said}");
    assert_eq!(next_text(&mut ann).await, "from the js sdk");

    // boto3: the same, plus DeleteConnection of bob, whose $disconnect tells ann.
    let checks = clients(vec!["sdk".into(), endpoint, ann_id.clone(), bob_id.clone()]).await;
    assert!(checks.contains("ok delete_connection"), "{checks}");
    assert_eq!(next_text(&mut ann).await, "from boto3");
    assert_eq!(close_code(&mut bob).await, 1000);
    // bob's $disconnect posts on its own time, so the two may come either way round.
    let mut last = vec![next_text(&mut ann).await, next_text(&mut ann).await];
    last.sort();
    assert_eq!(last, ["bob left (1000)", "without a stage"]);
    drop(runner);
}

/// The `gateway` binary as a user starts it for AWS-style functions: `--dialect aws`,
/// lifecycle URLs, `--route` and `--route-selection`, a SigV4 key from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_aws_routes_and_a_sigv4_key_from_flags() {
    let runner = Runner::start("aws_handlers", &[]).await;
    let url = |name: &str| format!("{}/{name}", runner.url);
    let dir = tempfile::tempdir().unwrap();
    let launch = Binary::launch()
        .args(["--store", &format!("sled://{}", dir.path().display())])
        .args(["--dialect", "aws", "--stage", "dev"])
        .args(["--register-url", &url("handle_connect")])
        .args(["--cleanup-url", &url("handle_disconnect")])
        .args(["--route", &format!("sendmessage={}", url("handle_message"))])
        .args(["--route-selection", "$request.body.action"])
        .env("PUSH_AWS_ACCESS_KEY_ID", KEY_ID)
        .env("PUSH_AWS_SECRET_ACCESS_KEY", SECRET);
    let node = tokio::task::spawn_blocking(move || launch.start())
        .await
        .unwrap();
    let ws_url = |query: &str| format!("ws://{}/ws{query}", node.app);
    assert_eq!(connect(&ws_url(""), None).await.err(), Some(400));
    let (mut ann, _) = connect(&ws_url("?name=ann"), None).await.unwrap();
    // The handler's boto3 client signs for the `dev` stage endpoint; the answer's body is
    // not sent back (no route responses by default).
    send_text(
        &mut ann,
        r#"{"action":"sendmessage","data":"via the binary"}"#,
    )
    .await;
    assert_eq!(next_text(&mut ann).await, "ann: via the binary");
    send_text(&mut ann, "not json at all").await;
    let forbidden: serde_json::Value = serde_json::from_str(&next_text(&mut ann).await).unwrap();
    assert_eq!(forbidden["message"], "Forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_scf_functions_work_unchanged() {
    // The functions are configured with the reverse push address, so it is bound first.
    let push = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push_addr = push.local_addr().unwrap();
    let db = tempfile::tempdir().unwrap();
    let runner = Runner::start(
        "scf_handlers",
        &[
            ("SENDBACK_HOST", format!("http://{push_addr}/")),
            (
                "CONNECTIONS_DB",
                db.path().join("connections.db").display().to_string(),
            ),
        ],
    )
    .await;
    let url = |name: &str| format!("{}/{name}", runner.url);
    let node = common::start_on(push, |config| {
        config.functions = FunctionMode::Http {
            routes: HttpRoutes::lifecycle(&url("register"), &url("transport"), &url("cleanup")),
            dialect: &Tencent,
            route_responses: false,
        };
        config.limits.function_timeout = Duration::from_secs(1);
    })
    .await;
    let ws_url = |query: &str| format!("ws://{}/ws{query}", node.app);

    // errNo ≠ 0 refuses with 403; a register slower than the timeout is 504.
    assert_eq!(connect(&ws_url("?deny=1"), None).await.err(), Some(403));
    let refused = clients(vec!["handshake".into(), ws_url("?deny=1")]).await;
    assert_eq!(refused.trim(), "403");
    assert_eq!(connect(&ws_url("?slow=1"), None).await.err(), Some(504));

    // The register answer's secWebSocketProtocol is the handshake's; frames register
    // pushed before the upgrade arrive first, in order.
    let (mut a, protocol) = connect(&ws_url("?greet=1"), Some("chat, binary"))
        .await
        .unwrap();
    assert_eq!(protocol.as_deref(), Some("chat"));
    for n in 0..3 {
        assert_eq!(next_text(&mut a).await, format!("welcome {n}"));
    }
    let (mut b, _) = connect(&ws_url(""), None).await.unwrap();

    // transport pushes to the others through reverse push.
    send_text(&mut a, "hi from a").await;
    assert_eq!(next_text(&mut b).await, "hi from a");

    // A failing transport drops its client; cleanup tells the others.
    send_text(&mut a, "crash").await;
    assert_eq!(close_code(&mut a).await, 1011);
    assert!(next_text(&mut b).await.ends_with(" left"));

    // Reverse push errors carry errNo.
    let http = reqwest::Client::new();
    let gone = http
        .post(format!("http://{push_addr}/"))
        .json(&serde_json::json!({"websocket": {"action": "data send",
            "secConnectionID": "nobody", "dataType": "text", "data": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 410);
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["errNo"], 410);
    drop(runner);
}

/// A `$connect` REQUEST authorizer written as AWS's documentation writes one
/// (`aws_handlers.authorize`): identity sources missing is 401 without asking it; its
/// Deny is 403 and `$connect` never runs; its `Unauthorized` error 401; its Allow lets
/// the handshake on to `$connect`, and its principal and context reach the connection's
/// later events as `requestContext.authorizer`, with their JSON types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_authorizer_decides_the_handshake_as_on_aws() {
    use gateway::invoke::authorizer::{AuthorizerConfig, IdentitySource};
    let runner = Runner::start("aws_handlers", &[]).await;
    let url = |name: &str| format!("{}/{name}", runner.url);
    let routes = HttpRoutes {
        connect: Some(url("handle_connect")),
        disconnect: Some(url("handle_disconnect")),
        default: None,
        custom: BTreeMap::from([
            ("whoauth".to_owned(), url("handle_whoauth")),
            ("whatrequest".to_owned(), url("handle_whatrequest")),
        ]),
        selection: Some("$request.body.action".parse().unwrap()),
        two_way: Default::default(),
    };
    let authorizer = AuthorizerConfig {
        url: url("authorize"),
        identity_sources: vec![
            IdentitySource::Header("Auth".into()),
            IdentitySource::Query("token".into()),
        ],
        region: "us-east-1".into(),
        account: "123456789012".into(),
    };
    let node = common::start_with(|config| {
        config.functions = FunctionMode::Http {
            routes,
            dialect: &Aws,
            route_responses: true,
        };
        config.authorizer = Some(authorizer);
    })
    .await;
    let handshake = |auth: Option<&str>, query: &str| {
        let mut request = format!("ws://{}/production?name=ann{query}", node.app)
            .into_client_request()
            .unwrap();
        if let Some(auth) = auth {
            request.headers_mut().insert("auth", auth.parse().unwrap());
        }
        try_connect(request)
    };
    // The token is missing: refused before the authorizer, which would have said Deny.
    assert_eq!(handshake(Some("letmein"), "").await.err(), Some(401));
    assert_eq!(handshake(None, "&token=t1").await.err(), Some(401));
    // The authorizer's Deny; its Unauthorized error.
    assert_eq!(
        handshake(Some("letmein"), "&token=t2").await.err(),
        Some(403)
    );
    assert_eq!(handshake(Some("nope"), "&token=t1").await.err(), Some(401));
    // Allowed: the authorizer's principal and context on a later event.
    let (mut ws, answer) = handshake(Some("letmein"), "&token=t1").await.unwrap();
    send_text(&mut ws, r#"{"action":"whoauth"}"#).await;
    let seen: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(seen["principalId"], "me", "{seen}");
    assert_eq!(seen["stringKey"], "stringval");
    assert_eq!(seen["numberKey"], 123);
    assert_eq!(seen["booleanKey"], true);
    assert!(seen["integrationLatency"].is_u64(), "{seen}");
    // One handshake, one request: the authorizer's event, the `$connect` event and the
    // handshake's answer name the same id, in API Gateway's form (base64, 16 characters).
    let request_id = answer.headers()["x-amzn-requestid"].to_str().unwrap();
    assert_eq!(request_id.len(), 16, "{request_id}");
    send_text(&mut ws, r#"{"action":"whatrequest"}"#).await;
    let seen: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(seen["authorizer"], request_id, "{seen}");
    assert_eq!(seen["connect"], request_id, "{seen}");
}
