//! Serving a router on a listener as `axum::serve` does (HTTP/1.1, upgrades, the peer's
//! address for `ConnectInfo`), plus what it lacks: a bound on the time a client may take
//! to send a request's head. A slowloris (a client that opens TCP and sends nothing, or a
//! header a byte at a time) would otherwise hold a socket and a task forever. With TLS,
//! the handshake is bounded by the same time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::header;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::tls::Tls;

/// After a failed `accept` (out of descriptors, most often), the pause before the next: the
/// loop must not spin while the process has no descriptor to give.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `stop` turns true; then HTTP connections finish
/// their request in flight and close (upgraded sockets are their sessions' business; a
/// WebSocket handshake in flight is let finish as one, see [`Upgrading`]). A
/// connection that has not sent a whole request head within `head_timeout` of being ready
/// for one (after accepting it, or after its last answer) is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    head_timeout: Duration,
    tls: Option<Tls>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        no_delay(&stream);
        let (router, stop) = (router.clone(), stop.clone());
        match &tls {
            None => tokio::spawn(connection(stream, peer, router, head_timeout, stop)),
            Some(tls) => {
                let acceptor = tls.acceptor().clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(head_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, peer, router, head_timeout, stop).await
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                })
            }
        };
    }
}

/// Turns Nagle's algorithm off on an accepted socket: a pushed frame is small and wanted at
/// once, and with Nagle on, a frame written while the previous one is unacknowledged waits
/// for its ACK, which a client that only listens delays by up to 40 ms (Linux's delayed
/// ACK). Batching is the node's business: what waits for a socket leaves in one write.
fn no_delay(stream: &tokio::net::TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "TCP_NODELAY not set");
    }
}

/// One accepted connection (TLS already done, if any).
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    head_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let upgrading = Arc::new(Upgrading::default());
    let handshakes = upgrading.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let handshake = request.headers().contains_key(header::UPGRADE);
        if handshake {
            handshakes.begin();
        }
        let answer = router.clone().oneshot(request);
        let handshakes = handshakes.clone();
        async move {
            let answer = answer.await;
            // Answered, but not upgraded: the connection is plain HTTP again.
            if handshake && !answer.as_ref().is_ok_and(|a| a.status() == 101) {
                handshakes.refused();
            }
            answer
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let outcome = tokio::select! {
        outcome = conn.as_mut() => outcome,
        _ = stop.changed() => 'stopping: {
            // A handshake in flight finishes first (register runs, bounded by the function
            // timeout): an upgrade ends the connection, a refusal leaves it plain HTTP.
            // No handshake begins from here on: pipelined requests cannot keep it open.
            upgrading.stopping.store(true, Ordering::Release);
            loop {
                let settled = upgrading.settled.notified();
                if !upgrading.in_flight.load(Ordering::Acquire) {
                    break;
                }
                tokio::select! {
                    outcome = conn.as_mut() => break 'stopping outcome,
                    () = settled => {}
                }
            }
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = outcome {
        tracing::debug!(%peer, %err, "http connection ended");
    }
}

/// Whether a WebSocket handshake is in flight on one HTTP connection. A shutdown lets it
/// finish before shutting the connection down: hyper's graceful shutdown adds
/// `Connection: close` to a response still to be written, which turns a 101 into an
/// answer no WebSocket client accepts, after register has already accepted the
/// connection. Upgraded, the session hears the shutdown as its kick, closes (1001) and
/// runs cleanup.
#[derive(Debug, Default)]
struct Upgrading {
    /// True from a handshake's request until it is refused (an upgrade ends the HTTP
    /// connection, so it stays true then).
    in_flight: AtomicBool,
    /// True once the server stops: a handshake that begins later (a pipelined request)
    /// is not waited for, and is answered `Connection: close` like any other request.
    stopping: AtomicBool,
    /// Signalled when a handshake is refused.
    settled: Notify,
}

impl Upgrading {
    fn begin(&self) {
        if !self.stopping.load(Ordering::Acquire) {
            self.in_flight.store(true, Ordering::Release);
        }
    }

    fn refused(&self) {
        self.in_flight.store(false, Ordering::Release);
        self.settled.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_accepted_socket_sends_small_frames_without_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (stream, _) = accepted.unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "accepted sockets start with Nagle on"
        );
        no_delay(&stream);
        assert!(stream.nodelay().unwrap());
        drop(client);
    }
}
