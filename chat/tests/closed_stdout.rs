//! The gateway binary keeps serving when nobody reads its stdout.
//!
//! It prints its addresses on stdout for scripts and tests to read. A reader that went away
//! (`gateway | head -1`, a supervisor that closed the pipe, a test that read one line) once
//! made `println!` panic on the broken pipe and took the whole gateway down with it; CI
//! caught that as a connection reset. Here the pipe is closed before the gateway writes a
//! byte, so the write fails every time, and the gateway must shrug it off.

use std::time::Duration;

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::binary::Binary;
use common::ws::room_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_stdout_is_closed_keeps_serving() {
    // A pipe whose reading end is already gone: every write to it fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // Its addresses are read from the log line on stderr, which comes after the failed
    // write to stdout.
    let mut node = Binary::launch()
        .env("RUST_LOG", "info")
        .stdout(writer)
        .start();

    let (mut ws, _) = tokio_tungstenite::connect_async(room_url(node.app, "lobby"))
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
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the gateway exited"
    );
}
