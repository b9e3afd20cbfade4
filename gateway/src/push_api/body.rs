//! Reading a push call's body: never past its route's limit (a declared length over it is
//! refused before a byte is read; a chunked body is cut off there), never without a
//! deadline, and, for a caller not yet authenticated, only within the node's budget of
//! bytes held for such callers.
//!
//! A body refused unread (413, 503) is then read and dropped, never held, for at most
//! [`DRAIN_BYTES`] and the body's deadline: a client still sending it would otherwise have
//! its connection reset under it when the node closes, and lose the answer (the AWS SDKs
//! then raise a dispatch error instead of `PayloadTooLargeException`). A client that asked
//! for `100 Continue` sends nothing more and is not waited for.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::wire::PushError;

/// Most bytes of a refused body read (and dropped) after its answer.
pub const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// How one body is read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Bytes it may have.
    pub limit: usize,
    /// How long it may take to arrive whole; also how long a refused one is drained.
    pub deadline: Duration,
    /// Whether a refused body is drained: not when the client waits for `100 Continue`
    /// before sending it.
    pub drain: bool,
}

/// Why a body was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (given), declared or as it arrived: 413.
    TooLarge(usize),
    /// It did not arrive whole in time: 408.
    TimedOut,
    /// The budget for unauthenticated bodies is spent: 503.
    Busy,
    /// The connection failed mid-body: 400 (nobody is left to read it).
    Broken,
}

impl BodyError {
    /// As a push error, for the route's dialect to shape.
    pub fn push_error(self) -> PushError {
        match self {
            BodyError::TooLarge(limit) => PushError::BodyTooLarge(limit),
            BodyError::TimedOut => PushError::TimedOut,
            BodyError::Busy => PushError::Unavailable(
                "too many unauthenticated request bodies in flight: retry shortly".into(),
            ),
            BodyError::Broken => PushError::BadRequest("the request body broke off".into()),
        }
    }
}

/// The bytes of request bodies the node holds at once for callers whose credentials can
/// only be checked once the body is in (Signature V4), shared by every push route.
#[derive(Debug, Clone)]
pub struct PreAuthBudget {
    /// One permit per byte.
    bytes: Arc<Semaphore>,
    /// The permits there are in all: no one body may take more.
    total: usize,
}

impl PreAuthBudget {
    /// A budget of `bytes` (at most `u32::MAX`, the most one reservation can take).
    pub fn new(bytes: usize) -> Self {
        let total = bytes.min(u32::MAX as usize);
        PreAuthBudget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The largest body one unauthenticated call may have under a route's `limit`.
    pub fn limit(&self, limit: usize) -> usize {
        limit.min(self.total)
    }

    /// Reserves room for `body` (its declared length, else `limit`, which it will not be
    /// let past), without waiting: [`BodyError::Busy`] when the budget has not that much
    /// left.
    pub fn reserve(&self, body: &Body, limit: usize) -> Result<OwnedSemaphorePermit, BodyError> {
        let needed = declared_len(body).map_or(limit, |len| len.min(limit));
        let needed = u32::try_from(needed).map_err(|_| BodyError::Busy)?;
        self.bytes
            .clone()
            .try_acquire_many_owned(needed)
            .map_err(|_| BodyError::Busy)
    }
}

/// The body's declared length (`Content-Length`; 0 for none), `None` when chunked.
fn declared_len(body: &Body) -> Option<usize> {
    let len = body.size_hint().exact()?;
    Some(usize::try_from(len).unwrap_or(usize::MAX))
}

/// [`BodyError::TooLarge`] when `body` declares more than `limit` bytes (nothing is read).
pub fn check_declared(body: &Body, limit: usize) -> Result<(), BodyError> {
    match declared_len(body) {
        Some(len) if len > limit => Err(BodyError::TooLarge(limit)),
        _ => Ok(()),
    }
}

/// The whole of `body`, at most `reading.limit` bytes, arrived within its deadline. A
/// body over the limit is drained (see the module's docs).
pub async fn read(body: Body, reading: Reading) -> Result<Bytes, BodyError> {
    if let Err(why) = check_declared(&body, reading.limit) {
        refused(body.into_data_stream(), reading);
        return Err(why);
    }
    tokio::time::timeout(reading.deadline, collect(body.into_data_stream(), reading))
        .await
        .map_err(|_| BodyError::TimedOut)?
}

/// Drains what is left of a body refused by its answer, on a task of its own, when
/// `reading` says so (see the module's docs); nothing of it is kept.
pub fn refused(mut stream: BodyDataStream, reading: Reading) {
    if !reading.drain {
        return;
    }
    tokio::spawn(async move {
        let draining = async {
            let mut drained = 0usize;
            while let Some(Ok(chunk)) = stream.next().await {
                drained = drained.saturating_add(chunk.len());
                if drained > DRAIN_BYTES {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(reading.deadline, draining).await;
    });
}

/// Gathers the chunks of `stream`, stopping at the first byte past the limit (and draining
/// the rest).
async fn collect(mut stream: BodyDataStream, reading: Reading) -> Result<Bytes, BodyError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        total = total.saturating_add(chunk.len());
        if total > reading.limit {
            refused(stream, reading);
            return Err(BodyError::TooLarge(reading.limit));
        }
        chunks.push(chunk);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let parts: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures::stream::iter(parts))
    }

    fn reading(limit: usize, deadline: Duration) -> Reading {
        Reading {
            limit,
            deadline,
            drain: true,
        }
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_limit_and_no_further() {
        let four = reading(4, Duration::from_secs(1));
        let whole = read(chunked(&[b"ab", b"cd"]), four).await.unwrap();
        assert_eq!(&whole[..], b"abcd");
        let over = read(chunked(&[b"ab", b"cde"]), four).await;
        assert_eq!(over, Err(BodyError::TooLarge(4)));
        // A declared length over the limit is refused before anything is read.
        assert_eq!(
            check_declared(&Body::from("abcde"), 4),
            Err(BodyError::TooLarge(4))
        );
        assert_eq!(check_declared(&Body::from("abcd"), 4), Ok(()));
    }

    #[tokio::test]
    async fn a_body_that_never_ends_times_out() {
        let endless = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        let ten = reading(10, Duration::from_millis(50));
        let read = read(Body::from_stream(endless), ten).await;
        assert_eq!(read, Err(BodyError::TimedOut));
    }

    #[test]
    fn the_budget_is_shared_and_handed_back() {
        let budget = PreAuthBudget::new(10);
        assert_eq!(budget.limit(100), 10);
        let first = budget.reserve(&Body::from("123456"), 10).unwrap();
        // Chunked: the whole limit is reserved, and 4 bytes are left.
        assert_eq!(
            budget.reserve(&chunked(&[b"x"]), 10).err(),
            Some(BodyError::Busy)
        );
        let second = budget.reserve(&Body::from("1234"), 10).unwrap();
        drop(first);
        drop(second);
        assert!(budget.reserve(&chunked(&[b"x"]), 10).is_ok());
    }
}
