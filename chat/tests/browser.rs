//! The chat page in real headless Chromium (Debian's `chromium`, which `.ci/run` installs;
//! `CHROMIUM` overrides the path), driven over the DevTools protocol: two pages join one
//! room, both show 2 online, a line typed in one appears in the other — as text, never as
//! HTML — and a screenshot is saved. A missing browser fails this test.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::output::find_then_drain;
use common::start;
use common::ws::{Ws, connect};
use futures::{SinkExt, StreamExt};
use gateway::Limits;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A DevTools connection to the browser.
struct Cdp {
    ws: Ws,
    next_id: u64,
}

impl Cdp {
    /// Calls `method` (in `session`, if given) and returns its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            request["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("DevTools did not answer")
                .unwrap()
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in a page and returns its value.
    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Waits (polling the DOM, up to 15 s) until `expression` is true in a page.
    async fn wait_for(&mut self, session: &str, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.eval(session, expression).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for `{expression}`"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `url` in a new page; returns its session id.
    async fn open(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        attached["sessionId"].as_str().unwrap().to_owned()
    }
}

/// Kills the browser when the test ends, pass or fail.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn launch(profile: &std::path::Path) -> (Browser, String) {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
            "--window-size=900,600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} (install Debian's chromium): {e}"));
    let url = find_then_drain(child.stderr.take().unwrap(), |line| {
        line.split_once("DevTools listening on ")
            .map(|(_, url)| url.trim().to_owned())
    })
    .expect("chromium did not print its DevTools address");
    (Browser(child), url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_chat_in_headless_chromium() {
    let node = start(Limits::default(), None).await;
    let profile = tempfile::tempdir().unwrap();
    let (_browser, devtools) = launch(profile.path());
    let mut cdp = Cdp {
        ws: connect(&devtools).await,
        next_id: 0,
    };

    let url = format!("http://{}/?room=browser", node.app);
    let one = cdp.open(&url).await;
    cdp.wait_for(
        &one,
        "document.getElementById('state').dataset.state === 'open'",
    )
    .await;
    let two = cdp.open(&url).await;
    for page in [&one, &two] {
        cdp.wait_for(
            page,
            "document.getElementById('online').textContent === '2'",
        )
        .await;
    }

    let typed = "hello from page one <img src=x onerror=alert(1)>";
    let script = format!(
        "document.getElementById('text').value = {}; document.getElementById('form').requestSubmit(); true",
        json!(typed)
    );
    assert_eq!(cdp.eval(&one, &script).await, json!(true));
    cdp.wait_for(
        &two,
        &format!(
            "[...document.querySelectorAll('#log .text')].some(e => e.textContent === {})",
            json!(typed)
        ),
    )
    .await;
    assert_eq!(
        cdp.eval(&two, "document.querySelectorAll('#log img').length")
            .await,
        json!(0),
        "peer text was parsed as HTML"
    );
    let me_one = cdp
        .eval(&one, "document.getElementById('me').textContent")
        .await;
    let from = cdp
        .eval(
            &two,
            "[...document.querySelectorAll('#log .from')].pop().textContent",
        )
        .await;
    assert_eq!(from, me_one, "the line carries the sender's anonymous name");

    let shot = cdp
        .call(
            Some(&two),
            "Page.captureScreenshot",
            json!({ "format": "png" }),
        )
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-chat.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
}
