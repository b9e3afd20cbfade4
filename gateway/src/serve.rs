//! Serving a router on a listener as `axum::serve` does (HTTP/1.1, upgrades, the peer's
//! address for `ConnectInfo`), plus what it lacks: a bound on the time a client may take
//! to send a request's head. A slowloris (a client that opens TCP and sends nothing, or a
//! header a byte at a time) would otherwise hold a socket and a task forever. With TLS,
//! the handshake is bounded by the same time.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::tls::Tls;

/// After a failed `accept` (out of descriptors, most often), the pause before the next: the
/// loop must not spin while the process has no descriptor to give.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `stop` turns true; then HTTP connections finish
/// their request in flight and close (upgraded sockets are their sessions' business). A
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
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
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
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = outcome {
        tracing::debug!(%peer, %err, "http connection ended");
    }
}
