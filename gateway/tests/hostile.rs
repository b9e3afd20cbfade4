//! Hostile input at the node's doors: clients that hold a connection without sending a
//! request (slowloris) on both listeners, and arbitrary bytes where requests, bodies and
//! frames are parsed. Nothing may panic, hang or be lost: the answer is a 4xx, a typed
//! error frame or a documented close code.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;

const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads until the server closes `stream`; how long that took.
async fn closed_after(stream: &mut TcpStream, started: Instant) -> Duration {
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }
}

async fn silent_client(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    closed_after(&mut stream, started).await
}

/// Sends a request head one byte every 200 ms (each byte well within any idle timeout).
async fn trickling_client(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            // Cut off mid-head: what we want.
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(10) {
            panic!("the server took a trickled head for 10 s");
        }
    }
    closed_after(&mut stream, started).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_silent_clients_are_cut_off_on_both_listeners() {
    let node = common::start(
        Limits {
            header_timeout: HEAD_TIMEOUT,
            ..Limits::default()
        },
        None,
    )
    .await;
    for addr in [node.app, node.push] {
        let (silent, trickling) = tokio::join!(silent_client(addr), trickling_client(addr));
        for (what, took) in [("silent", silent), ("trickling", trickling)] {
            assert!(
                took >= HEAD_TIMEOUT - Duration::from_millis(100) && took < HEAD_TIMEOUT * 4,
                "{what} client on {addr}: closed after {took:?}"
            );
        }
    }
    // The node still serves.
    let page = reqwest::get(format!("http://{}/", node.app)).await.unwrap();
    assert_eq!(page.status(), 200);
}
