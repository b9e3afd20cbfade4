//! One upgraded WebSocket as the node drives it, whatever the client does: every write
//! under a deadline, bounded write queues, and the close handshake and close codes as
//! RFC 6455 says. Data frames go straight into the socket's write queue, from their
//! payloads as they are; control frames go through the WebSocket library, which keeps the
//! protocol's state (see `outbox.rs`).
//!
//! A write never holds its session: frames are *fed* into the socket's write queue only
//! when no write is pending, and the flush that puts them on the wire is one of the
//! things [`Socket::next`] waits for, beside the client's next frame. So a session keeps
//! reading, and keeps hearing its kicks, timers and shutdown, while a client takes its
//! time; [`Socket::write_due`] says when the pending write is overdue (then the session
//! closes the client as too slow).
//!
//! # Close codes (what cleanup reports)
//! | how it ended | code | close frame sent |
//! |---|---|---|
//! | the client's Close | the client's code (1005 without one; 1002 for a code RFC 6455 forbids) | the echo, as §5.5.1 asks |
//! | a message or frame over the limit | 1009 | 1009 |
//! | a text message (or close reason) that is not UTF-8 | 1007 | 1007 |
//! | a protocol error (reserved bits, unmasked, bad opcode or close payload) | 1002 | 1002 |
//! | the socket just died (reset, EOF without a Close, a failed write) | 1006 | none |
//! | the node's own reasons (see [`crate::close_code`]) | that code | that code |

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::{Sink, Stream};
use tokio::io::AsyncWrite;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use super::outbox::{BINARY, Outbox, TEXT};
use super::read_gate::ReadGate;
use crate::close_code;

/// The socket a session reads and writes: the upgraded connection behind its write queue.
pub type Upgraded = Outbox<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// The longest a close handshake may take once the node closes (its close frame out, the
/// client's answer in); then the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The close code cleanup reports (the client's, ours, or 1006).
    pub code: u16,
    /// Why.
    pub reason: String,
    /// What still goes to the client.
    pub goodbye: Goodbye,
}

/// What the node still sends on a connection that ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goodbye {
    /// Nothing: the socket is gone.
    Nothing,
    /// The echo of the client's Close (queued by the WebSocket library when it read it).
    Echo,
    /// Our close frame, then the client's answer awaited (within `CLOSE_GRACE`, 2 s).
    Close {
        /// Its code.
        code: u16,
        /// Its reason (cut to the 123 bytes a close frame holds).
        reason: String,
    },
}

impl Ending {
    /// We close with `code` / `reason`.
    pub fn ours(code: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Ending {
            code,
            goodbye: Goodbye::Close {
                code,
                reason: reason.clone(),
            },
            reason,
        }
    }

    /// The socket died: nothing more can go out (1006).
    pub fn lost(reason: impl Into<String>) -> Self {
        Ending {
            code: 1006,
            reason: reason.into(),
            goodbye: Goodbye::Nothing,
        }
    }

    /// The client closed with `frame`; its echo goes back.
    fn by_client(frame: Option<CloseFrame>) -> Self {
        let (code, reason) = match frame {
            Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
            None => (1005, "Client-side close frame status not set".to_owned()),
        };
        Ending {
            code,
            reason,
            goodbye: Goodbye::Echo,
        }
    }

    /// The client took nothing within the write deadline.
    pub fn too_slow() -> Self {
        Ending::ours(close_code::TOO_SLOW, "too slow: a write timed out")
    }

    /// How a failed read ends the connection (see the module's table).
    fn read_failed(error: WsError) -> Self {
        match error {
            WsError::Capacity(_) => Ending::ours(close_code::TOO_BIG, "message too big"),
            WsError::Utf8(_) => Ending::ours(close_code::INVALID_DATA, "invalid UTF-8"),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            | WsError::Io(_)
            | WsError::ConnectionClosed
            | WsError::AlreadyClosed => Ending::lost("connection lost"),
            WsError::Protocol(error) => Ending::ours(close_code::PROTOCOL, error.to_string()),
            other => Ending::ours(close_code::PROTOCOL, other.to_string()),
        }
    }

    /// A failed write: the socket is gone, or its buffer is full of what the client has
    /// not taken (the pongs its pings asked for): too slow.
    fn write_failed(error: WsError) -> Self {
        match error {
            WsError::WriteBufferFull(_) => Ending::too_slow(),
            // Said in the reason, which the connection's `closed` line logs in its span.
            error => Ending::lost(format!("write failed: {error}")),
        }
    }
}

/// What [`Socket::next`] saw.
#[derive(Debug)]
pub enum Event {
    /// A frame from the client (pings and pongs too: the rate limit counts them).
    Frame(Message),
    /// Everything fed so far is on the wire.
    Flushed,
    /// The connection is over.
    Ended(Ending),
}

/// One upgraded connection.
#[derive(Debug)]
pub struct Socket {
    /// The connection: the library reads it and writes its own frames (pongs, pings, the
    /// close) through its write queue, where pushed frames go directly.
    ws: WebSocketStream<Upgraded>,
    /// When the pending write began (frames fed, not all on the wire yet); `None` when all
    /// is out. The write deadline runs from here.
    flushing_since: Option<Instant>,
    /// How long a write may stay pending.
    write_timeout: Duration,
    /// A close frame went out or came in: no data frame may follow (the library refuses
    /// its own; ours bypass it).
    closing: bool,
    /// Lets a read through only when the socket woke it: a pass of the session woken for a
    /// pushed frame does not go through the library's read.
    read_gate: Arc<ReadGate>,
}

impl Socket {
    /// `ws` (made by [`super::WsUpgrade::on_upgrade`]), its writes bounded by `write_timeout`.
    pub(super) fn new(ws: WebSocketStream<Upgraded>, write_timeout: Duration) -> Self {
        Socket {
            ws,
            flushing_since: None,
            write_timeout,
            closing: false,
            read_gate: ReadGate::new(),
        }
    }

    /// The client's next frame through the read gate (every read of the socket goes
    /// through it: a read with another waker would leave the gate closed on a wake).
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        let ws = &mut self.ws;
        self.read_gate.poll(cx, |cx| Pin::new(ws).poll_next(cx))
    }

    /// True while fed frames are not all on the wire (feed nothing more until then).
    pub fn is_flushing(&self) -> bool {
        self.flushing_since.is_some()
    }

    /// When the pending write is overdue, if one is pending.
    pub fn write_due(&self) -> Option<Instant> {
        self.flushing_since.map(|since| since + self.write_timeout)
    }

    /// Writes what the library holds, then the write queue, as far as the socket takes
    /// them. The queue is written even when the library has nothing more to write (once
    /// the client's Close is read, the library writes the echo into the queue and no
    /// further).
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(Pin::new(&mut self.ws).poll_flush(cx))?;
        if self.ws.get_ref().is_empty() {
            // The library's flush wrote and flushed it all: the usual case, no second pass.
            return Poll::Ready(Ok(()));
        }
        // Bytes are left only once the client's Close is read (the library's flush ends in
        // the queue's own otherwise); this flush hands the socket the task's waker, not the
        // read gate's, which is right only because nothing is read after that Close.
        Pin::new(self.ws.get_mut())
            .poll_flush(cx)
            .map_err(WsError::Io)
    }

    /// The end of the pending write, when one is pending.
    fn poll_flushed(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.flushing_since.is_none() {
            return Poll::Pending;
        }
        match ready!(self.poll_write_out(cx)) {
            Ok(()) => {
                self.flushing_since = None;
                Poll::Ready(Event::Flushed)
            }
            Err(error) => Poll::Ready(Event::Ended(Ending::write_failed(error))),
        }
    }

    /// The client's next frame, or the end of the pending write, whichever comes first.
    pub async fn next(&mut self) -> Event {
        poll_fn(|cx| {
            if let Poll::Ready(event) = self.poll_flushed(cx) {
                return Poll::Ready(event);
            }
            self.poll_frame(cx).map(|item| match item {
                Some(Ok(Message::Close(frame))) => {
                    self.closing = true;
                    Event::Ended(Ending::by_client(frame))
                }
                Some(Ok(message)) => Event::Frame(message),
                Some(Err(error)) => Event::Ended(Ending::read_failed(error)),
                None => Event::Ended(Ending::lost("connection lost")),
            })
        })
        .await
    }

    /// The end of the pending write, without reading (for when the read side is done);
    /// never, when no write is pending.
    pub async fn flushed(&mut self) -> Event {
        poll_fn(|cx| self.poll_flushed(cx)).await
    }

    /// Queues `message`: a data frame straight into the write queue, from its payload as
    /// it is (shared with whoever else it goes to: nothing is copied); a control frame
    /// through the library, which keeps the protocol's state (a ping, the close).
    fn enqueue(&mut self, message: Message) -> Result<(), Ending> {
        if self.closing && matches!(message, Message::Text(_) | Message::Binary(_)) {
            return Err(Ending::write_failed(WsError::Protocol(
                ProtocolError::SendAfterClosing,
            )));
        }
        self.closing |= matches!(message, Message::Close(_));
        match message {
            Message::Text(text) => self.ws.get_mut().push_frame(TEXT, Bytes::from(text)),
            Message::Binary(bytes) => self.ws.get_mut().push_frame(BINARY, bytes),
            control => Pin::new(&mut self.ws)
                .start_send(control)
                .map_err(Ending::write_failed)?,
        }
        self.flushing_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Feeds `first`, then what `more` yields, and writes them as far as the socket takes
    /// them now (a flush left pending ends in [`Socket::next`]). Call it only when no
    /// write is pending; `more` bounds what is gathered.
    pub async fn feed(
        &mut self,
        first: Message,
        more: impl FnMut() -> Option<Message>,
    ) -> Result<(), Ending> {
        let (mut first, mut more) = (Some(first), more);
        poll_fn(|cx| match first.take() {
            Some(first) => Poll::Ready(self.feed_now(cx, first, &mut more)),
            None => Poll::Ready(Ok(())),
        })
        .await
    }

    /// [`Socket::feed`] within a poll: it never waits (what the socket does not take now
    /// waits in the write queue, a flush left pending is watched by [`Socket::next`]), so
    /// a session's loop can write from a future of a few words rather than an async fn's.
    pub fn feed_now(
        &mut self,
        cx: &mut Context<'_>,
        first: Message,
        mut more: impl FnMut() -> Option<Message>,
    ) -> Result<(), Ending> {
        let mut next = Some(first);
        while let Some(message) = next {
            self.enqueue(message)?;
            next = more();
        }
        // The write starts now rather than on the session's next pass: most writes
        // finish here, and the pass that would only have flushed is saved.
        match self.poll_write_out(cx) {
            Poll::Ready(Ok(())) => self.flushing_since = None,
            Poll::Ready(Err(error)) => return Err(Ending::write_failed(error)),
            Poll::Pending => {}
        }
        Ok(())
    }

    /// Sends `message` and waits until it is on the wire, within the write deadline (for
    /// the few writes outside a session's loop).
    pub async fn send(&mut self, message: Message) -> Result<(), Ending> {
        self.enqueue(message)?;
        match tokio::time::timeout(self.write_timeout, poll_fn(|cx| self.poll_write_out(cx))).await
        {
            Ok(Ok(())) => {
                self.flushing_since = None;
                Ok(())
            }
            Ok(Err(error)) => Err(Ending::write_failed(error)),
            Err(_) => Err(Ending::too_slow()),
        }
    }

    /// Ends the connection as `ending` says: the echo of the client's Close, or `farewell`
    /// and our close frame followed by the client's answer; all within `CLOSE_GRACE` (the
    /// write deadline when shorter), and a client already too slow gets one try. Then the
    /// socket is dropped.
    pub async fn close(&mut self, ending: &Ending, farewell: Option<Message>) {
        let grace = if ending.code == close_code::TOO_SLOW {
            Duration::ZERO
        } else {
            CLOSE_GRACE.min(self.write_timeout)
        };
        let goodbye = async {
            match &ending.goodbye {
                Goodbye::Nothing => {}
                Goodbye::Echo => {
                    let _ = poll_fn(|cx| self.poll_write_out(cx)).await;
                }
                Goodbye::Close { code, reason } => {
                    if let Some(farewell) = farewell {
                        let _ = self.enqueue(farewell);
                    }
                    if self.send(close_frame(*code, reason)).await.is_err() {
                        return;
                    }
                    // Whatever else arrives is dropped (§1.4) until the answer.
                    while let Some(Ok(message)) = poll_fn(|cx| self.poll_frame(cx)).await {
                        if let Message::Close(_) = message {
                            break;
                        }
                    }
                }
            }
        };
        // `timeout` (not a select against a timer): it checks its deadline even when a
        // client that floods frames keeps the read ready and spends the task's budget.
        let _ = tokio::time::timeout(grace, goodbye).await;
    }
}

/// A close frame (the reason cut to the 123 bytes a close frame holds).
fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from(reason[..end].to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_is_cut_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let Message::Close(Some(frame)) = close_frame(4000, &reason) else {
            panic!("not a close frame");
        };
        assert_eq!(frame.reason.len(), 122);
        assert_eq!(u16::from(frame.code), 4000);
    }

    #[test]
    fn endings_say_what_goes_out() {
        assert_eq!(Ending::lost("x").goodbye, Goodbye::Nothing);
        assert_eq!(Ending::lost("x").code, 1006);
        assert_eq!(Ending::by_client(None).code, 1005);
        assert_eq!(Ending::by_client(None).goodbye, Goodbye::Echo);
        assert_eq!(Ending::too_slow().code, close_code::TOO_SLOW);
    }

    #[test]
    fn read_errors_map_to_rfc_6455_codes() {
        let code = |error: WsError| Ending::read_failed(error).code;
        assert_eq!(code(WsError::Utf8("bad".into())), 1007);
        assert_eq!(
            code(WsError::Protocol(ProtocolError::NonZeroReservedBits)),
            1002
        );
        assert_eq!(
            code(WsError::Protocol(ProtocolError::UnmaskedFrameFromClient)),
            1002
        );
        assert_eq!(
            code(WsError::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            )),
            1006
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(code(WsError::Io(reset)), 1006);
        let too_long = tungstenite::error::CapacityError::MessageTooLong {
            size: 10,
            max_size: 1,
        };
        assert_eq!(code(WsError::Capacity(too_long)), 1009);
    }
}
