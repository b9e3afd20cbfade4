//! The gateway binary keeps serving when nobody reads its stdout.
//!
//! It prints its addresses on stdout for scripts and tests to read. A reader that went away
//! (`gateway | head -1`, a supervisor that closed the pipe, a test that read one line) once
//! made `println!` panic on the broken pipe and took the whole gateway down with it; CI
//! caught that as a connection reset. Here the pipe is closed before the gateway writes a
//! byte, so the write fails every time, and the gateway must shrug it off.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::output::find_then_drain;

/// Kills the gateway when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_stdout_is_closed_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reading end is already gone: every write to it fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["--listen", "127.0.0.1:0", "--push-listen", "127.0.0.1:0"])
            .args(["--store", &format!("sled://{}", dir.path().display())])
            .env("RUST_LOG", "info")
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gateway binary"),
    );

    // The log line on stderr comes after the failed write to stdout.
    let chat = find_then_drain(child.0.stderr.take().unwrap(), |line| {
        let (_, rest) = line.split_once("listening chat=")?;
        Some(rest.split_whitespace().next()?.to_owned())
    })
    .expect("the gateway logged where it listens (or died first)");

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{chat}/ws?room=lobby"))
        .await
        .expect("the gateway still accepts connections");
    let welcome = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no welcome within 10 s")
        .expect("the connection ended")
        .expect("a frame");
    assert!(
        matches!(&welcome, Message::Text(t) if t.contains("welcome")),
        "first frame: {welcome:?}"
    );
    assert!(child.0.try_wait().unwrap().is_none(), "the gateway exited");
}
