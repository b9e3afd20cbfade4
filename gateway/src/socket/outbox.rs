//! The one way bytes leave a WebSocket: an ordered queue of frames in front of the
//! socket, written with one vectored write per pass.
//!
//! Pushed frames go in as a header of a few bytes and the payload the hub shares between
//! every connection it goes to: nothing is copied per connection, and the frames gathered
//! for one socket leave in one `writev`. The WebSocket library (tungstenite) writes what
//! it writes itself — pongs, the close handshake, the keep-alive pings — through the same
//! queue, as a stream it sees as the socket, whole frames at a time; so its frames and
//! ours never interleave bytes, and what enters the queue leaves in that order. (Only a
//! pong the queue turned away, past its bound, waits in the library and may go after data
//! frames queued later: control frames may come between messages, RFC 6455 §5.4.)
//!
//! Nothing here is kept by an idle connection: the queue's storage is allocated with its
//! first frame and given back once written. The library's own writes are bounded (past
//! `limit` queued bytes, each piece counted with its bookkeeping, it is told to wait, and
//! keeps at most its buffer's bound); pushed frames are bounded by their caller, which
//! queues a batch only once the last one is written (and a farewell and a close frame at
//! the end).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Slices handed to one vectored write at most (two a frame: header and payload); Linux
/// takes 1,024, and a pass gathers far fewer frames than that.
const MAX_SLICES: usize = 128;

/// Bytes copied into one write when the socket has no vectored write (each slice would
/// otherwise be a write, or a TLS record, of its own).
const COALESCE_BYTES: usize = 4096;

/// Slots a queue starts with: a burst's batch of a few dozen frames grows it once or twice.
const FIRST_SLOTS: usize = 16;

/// A frame's header at most: opcode byte, length byte, a 64-bit length (a server's frames
/// are not masked).
const MAX_HEADER: usize = 10;

/// The opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// The opcode of a binary frame.
pub const BINARY: u8 = 0x2;

/// Bytes waiting in the queue: a frame's header (none for the library's own bytes, which
/// come framed) and its payload.
#[derive(Debug)]
struct Chunk {
    /// The header, `head_len` bytes of it.
    head: [u8; MAX_HEADER],
    /// How much of `head` is the header.
    head_len: u8,
    /// The payload, shared with every other connection it goes to.
    body: Bytes,
}

impl Chunk {
    fn len(&self) -> usize {
        usize::from(self.head_len) + self.body.len()
    }

    /// A whole, final, unmasked frame of `opcode` carrying `body` (RFC 6455 §5.2).
    fn frame(opcode: u8, body: Bytes) -> Self {
        let mut head = [0u8; MAX_HEADER];
        head[0] = 0x80 | opcode;
        let len = body.len();
        let head_len = if len < 126 {
            head[1] = len as u8;
            2
        } else if let Ok(len) = u16::try_from(len) {
            head[1] = 126;
            head[2..4].copy_from_slice(&len.to_be_bytes());
            4
        } else {
            head[1] = 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        Chunk {
            head,
            head_len,
            body,
        }
    }

    /// Bytes already framed (the library's).
    fn raw(body: Bytes) -> Self {
        Chunk {
            head: [0; MAX_HEADER],
            head_len: 0,
            body,
        }
    }

    /// Its bytes from `skip` on, as at most two slices.
    fn slices(&self, skip: usize) -> [&[u8]; 2] {
        let head = &self.head[..usize::from(self.head_len)];
        if skip < head.len() {
            [&head[skip..], &self.body]
        } else {
            [&[], &self.body[skip - head.len()..]]
        }
    }
}

/// What waits to be written, while anything does.
#[derive(Debug, Default)]
struct Queue {
    /// Chunks, oldest first.
    chunks: VecDeque<Chunk>,
    /// Bytes of the oldest chunk already written.
    written: usize,
    /// Bytes still to be written, in all.
    bytes: usize,
}

/// A socket with the write queue in front of it. Reads go straight through.
#[derive(Debug)]
pub struct Outbox<T> {
    /// The socket.
    io: T,
    /// What is still to be written; `None` when nothing is (boxed, and only while it
    /// exists: an idle connection keeps one word for it).
    queue: Option<Box<Queue>>,
    /// Past this many queued bytes the library's own writes wait (they are answers to the
    /// client, which a client that does not read must not make grow).
    limit: usize,
}

impl<T> Outbox<T> {
    /// `io` with an empty queue; the library's writes wait past `limit` queued bytes.
    pub fn new(io: T, limit: usize) -> Self {
        Outbox {
            io,
            queue: None,
            limit,
        }
    }

    /// Queues `chunk` after what is queued.
    fn push(&mut self, chunk: Chunk) {
        let queue = self.queue.get_or_insert_with(|| {
            Box::new(Queue {
                chunks: VecDeque::with_capacity(FIRST_SLOTS),
                written: 0,
                bytes: 0,
            })
        });
        queue.bytes += chunk.len();
        queue.chunks.push_back(chunk);
    }

    /// Queues a whole frame of `opcode` carrying `body`; written by the next flush.
    pub fn push_frame(&mut self, opcode: u8, body: Bytes) {
        self.push(Chunk::frame(opcode, body));
    }

    /// Bytes waiting to be written (for the tests: the limit counts `footprint`).
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queue.as_ref().map_or(0, |queue| queue.bytes)
    }

    /// Memory the queue holds for them: their bytes and each piece's bookkeeping (a flood
    /// of empty pings makes 2-byte pongs, which must not each cost 50 bytes uncounted).
    fn footprint(&self) -> usize {
        self.queue.as_ref().map_or(0, |queue| {
            queue.bytes + queue.chunks.len() * size_of::<Chunk>()
        })
    }

    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.queue.is_none()
    }
}

impl Queue {
    /// Takes `n` written bytes off the front; true when nothing is left.
    fn advance(&mut self, mut n: usize) -> bool {
        self.bytes -= n;
        while n > 0 {
            let front = self.chunks.front().map_or(0, Chunk::len) - self.written;
            if n < front {
                self.written += n;
                return false;
            }
            n -= front;
            self.written = 0;
            self.chunks.pop_front();
        }
        self.chunks.is_empty()
    }
}

impl<T: AsyncWrite + Unpin> Outbox<T> {
    /// Writes the queue until it is empty (then it is let go: nothing is kept while
    /// nothing is being written) or the socket takes no more for now.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Each pass writes at least one byte, of a queue whose size is bounded.
        while let Some(queue) = self.queue.as_mut() {
            let n = if self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                let mut skip = queue.written;
                for chunk in &queue.chunks {
                    if count + 2 > MAX_SLICES {
                        break;
                    }
                    for part in chunk.slices(skip) {
                        if !part.is_empty() {
                            slices[count] = IoSlice::new(part);
                            count += 1;
                        }
                    }
                    skip = 0;
                }
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]))?
            } else {
                let mut buffer = [0u8; COALESCE_BYTES];
                let mut filled = 0;
                let mut skip = queue.written;
                'fill: for chunk in &queue.chunks {
                    for part in chunk.slices(skip) {
                        let take = part.len().min(COALESCE_BYTES - filled);
                        buffer[filled..filled + take].copy_from_slice(&part[..take]);
                        filled += take;
                        if filled == COALESCE_BYTES {
                            break 'fill;
                        }
                    }
                    skip = 0;
                }
                ready!(Pin::new(&mut self.io).poll_write(cx, &buffer[..filled]))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if queue.advance(n) {
                self.queue = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Outbox<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Outbox<T> {
    /// The library's bytes (already framed) join the queue, after what is queued; past
    /// the limit they wait until the queue is written. All or nothing: the library never
    /// holds part of a frame, so no frame of ours can come between its bytes.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.footprint() + size_of::<Chunk>() + buf.len() > self.limit {
            // Pending only with the socket's waker registered (it has no room).
            ready!(self.poll_drain(cx))?;
        }
        self.push(Chunk::raw(Bytes::copy_from_slice(buf)));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::AsyncReadExt;

    use super::*;

    /// A socket that takes at most `step` bytes a write, and every other poll none at all
    /// (all polls, once `full`).
    struct Stingy {
        taken: Vec<u8>,
        step: usize,
        vectored: bool,
        writes: usize,
        refuse_next: bool,
        full: bool,
    }

    impl AsyncWrite for Stingy {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if std::mem::replace(&mut self.refuse_next, false) || self.full {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.refuse_next = true;
            self.writes += 1;
            let mut left = self.step;
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(left);
                self.taken.extend_from_slice(&buf[..take]);
                left -= take;
                n += take;
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn stingy(step: usize, vectored: bool) -> Stingy {
        Stingy {
            taken: Vec::new(),
            step,
            vectored,
            writes: 0,
            refuse_next: false,
            full: false,
        }
    }

    /// What tungstenite makes of the same frame (the reference nobody here wrote).
    fn tungstenite_bytes(opcode: u8, body: &[u8]) -> Vec<u8> {
        use tungstenite::protocol::frame::Frame;
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        let data = if opcode == TEXT {
            Data::Text
        } else {
            Data::Binary
        };
        let frame = Frame::message(Bytes::copy_from_slice(body), OpCode::Data(data), true);
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn frames_leave_whole_and_in_order_however_little_the_socket_takes() {
        for vectored in [true, false] {
            for step in [1, 3, 7, 64, 100_000] {
                let mut outbox = Outbox::new(stingy(step, vectored), 1 << 20);
                let bodies: Vec<Vec<u8>> = [0usize, 1, 125, 126, 65_535, 65_536, 70_000]
                    .iter()
                    .map(|&len| (0..len).map(|i| (i % 251) as u8).collect())
                    .collect();
                let mut expected = Vec::new();
                for (i, body) in bodies.iter().enumerate() {
                    let opcode = if i % 2 == 0 { TEXT } else { BINARY };
                    outbox.push_frame(opcode, Bytes::from(body.clone()));
                    expected.extend(tungstenite_bytes(opcode, body));
                    // The library's own bytes between them keep their place.
                    let wrote = Pin::new(&mut outbox).poll_write(&mut noop(), b"\x8a\x00");
                    assert!(matches!(wrote, Poll::Ready(Ok(2))));
                    expected.extend_from_slice(b"\x8a\x00");
                }
                poll_fn(|cx| Pin::new(&mut outbox).poll_flush(cx))
                    .await
                    .unwrap();
                assert!(outbox.is_empty(), "the drained queue kept its storage");
                assert_eq!(
                    outbox.io.taken, expected,
                    "step {step}, vectored {vectored}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_gathered_batch_leaves_in_one_write() {
        let mut outbox = Outbox::new(stingy(1 << 20, true), 1 << 20);
        for _ in 0..50 {
            outbox.push_frame(TEXT, Bytes::from_static(b"a chat line"));
        }
        poll_fn(|cx| Pin::new(&mut outbox).poll_flush(cx))
            .await
            .unwrap();
        assert_eq!(outbox.io.writes, 1);
        assert_eq!(outbox.io.taken.len(), 50 * 13);
    }

    #[test]
    fn the_librarys_writes_wait_past_the_limit_while_the_socket_is_full() {
        let mut full = stingy(1, true);
        full.full = true;
        let mut outbox = Outbox::new(full, 8);
        let mut cx = noop();
        assert!(matches!(
            Pin::new(&mut outbox).poll_write(&mut cx, &[1; 8]),
            Poll::Ready(Ok(8))
        ));
        assert!(
            Pin::new(&mut outbox)
                .poll_write(&mut cx, &[2; 4])
                .is_pending()
        );
        assert_eq!(outbox.queued(), 8, "nothing more went in");
        // Pushed frames are the caller's to bound: they go in.
        outbox.push_frame(TEXT, Bytes::from_static(b"x"));
        assert_eq!(outbox.queued(), 11);
        // Once the socket takes them, the library's bytes go in again.
        outbox.io.full = false;
        outbox.io.step = 1 << 10;
        let drained = Pin::new(&mut outbox).poll_flush(&mut cx);
        assert!(matches!(drained, Poll::Ready(Ok(()))));
        assert_eq!(outbox.io.taken.len(), 11);
        assert!(matches!(
            Pin::new(&mut outbox).poll_write(&mut cx, &[2; 4]),
            Poll::Ready(Ok(4))
        ));
    }

    #[test]
    fn tiny_writes_are_bounded_by_what_they_cost_not_only_their_bytes() {
        let mut full = stingy(1, true);
        full.full = true;
        let mut outbox = Outbox::new(full, 64 * 1024);
        let mut cx = noop();
        let mut taken = 0;
        while Pin::new(&mut outbox)
            .poll_write(&mut cx, b"\x8a\x00")
            .is_ready()
        {
            taken += 1;
            assert!(taken < 64 * 1024 / 2, "the queue never said wait");
        }
        assert!(
            taken * (2 + size_of::<Chunk>()) <= 64 * 1024,
            "{taken} pongs"
        );
        assert!(Pin::new(&mut outbox).poll_write(&mut cx, b"").is_ready());
    }

    #[tokio::test]
    async fn reads_go_straight_through() {
        let (client, server) = tokio::io::duplex(64);
        let mut outbox = Outbox::new(server, 1024);
        let mut client = client;
        tokio::io::AsyncWriteExt::write_all(&mut client, b"hello")
            .await
            .unwrap();
        let mut got = [0u8; 5];
        outbox.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }

    fn noop() -> Context<'static> {
        Context::from_waker(std::task::Waker::noop())
    }
}
