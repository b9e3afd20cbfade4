//! One connection's mailbox: what the hub and the connection's session share. One
//! allocation holds the outbound queue, its bounds, its byte count, the waker of the
//! session waiting on it, and the kick with its reason. It replaced a tokio channel and
//! three `Arc`s, which kept about 2 KiB with every idle connection (the channel's first
//! block of 32 slots, allocated up front, and four allocations' headers and rounding): the
//! queue's storage here is allocated with its first frame and given back once drained,
//! beyond a few slots.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use super::{Kick, Outbound, QueueBound};

/// Slots a drained queue keeps (a connection that is pushed to now and then does not
/// allocate each time); a queue drained with more gives its storage back.
const KEPT_SLOTS: usize = 4;

/// What offering a frame came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    /// Queued.
    Queued,
    /// The queue is full, in frames or bytes.
    Full,
    /// The session is gone, or the hub forgot the connection.
    Closed,
}

/// The queue and what goes with it, under one lock (held for a push or a pop only).
#[derive(Debug, Default)]
struct Queue {
    /// Frames not yet taken, oldest first.
    frames: VecDeque<Outbound>,
    /// Their bytes.
    bytes: usize,
    /// Nothing more goes in: the session is gone or the hub forgot the connection (what
    /// is queued can still be taken).
    closed: bool,
    /// The session waiting for a frame, woken by the next one (or the close).
    waiter: Option<Waker>,
}

impl Queue {
    /// The oldest frame, its bytes taken off; a queue it leaves empty gives back its
    /// storage beyond [`KEPT_SLOTS`].
    fn pop(&mut self) -> Option<Outbound> {
        let frame = self.frames.pop_front()?;
        self.bytes -= frame.len();
        if self.frames.is_empty() && self.frames.capacity() > KEPT_SLOTS {
            self.frames = VecDeque::new();
        }
        Some(frame)
    }
}

/// One connection's mailbox.
#[derive(Debug)]
pub(super) struct Mailbox {
    /// The outbound queue.
    queue: Mutex<Queue>,
    /// How much it may hold.
    bound: QueueBound,
    /// Wakes the session to close the connection.
    kick: Notify,
    /// Why it was kicked (read by the session after the notify), and whether that is
    /// final (the node's shutdown, or a kick before it: later kicks do not change it).
    reason: Mutex<(Option<Kick>, bool)>,
}

impl Mailbox {
    /// An empty mailbox bounded by `bound` (no storage until the first frame).
    pub(super) fn new(bound: QueueBound) -> Self {
        Mailbox {
            queue: Mutex::new(Queue::default()),
            bound,
            kick: Notify::new(),
            reason: Mutex::new((None, false)),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while the lock is held leaves a queue that is still whole.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` unless the queue is full (a frame alone always goes in, whatever its
    /// size: the frame limit bounds it) or closed.
    pub(super) fn offer(&self, frame: Outbound) -> Offered {
        let len = frame.len();
        let waiter = {
            let mut queue = self.queue();
            if queue.closed {
                return Offered::Closed;
            }
            let over_bytes = queue.bytes > 0 && queue.bytes.saturating_add(len) > self.bound.bytes;
            if queue.frames.len() >= self.bound.frames.max(1) || over_bytes {
                return Offered::Full;
            }
            queue.frames.push_back(frame);
            queue.bytes += len;
            queue.waiter.take()
        };
        // Woken outside the lock: the session takes it at once.
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        Offered::Queued
    }

    /// True when a frame is queued.
    pub(super) fn has_more(&self) -> bool {
        !self.queue().frames.is_empty()
    }

    /// The next frame if one is queued.
    pub(super) fn take(&self) -> Option<Outbound> {
        self.queue().pop()
    }

    /// The next frame; `None` once the mailbox is closed and drained. Pending (the task
    /// woken by the next offer or the close) while it is empty and open.
    pub(super) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let mut queue = self.queue();
        if let Some(frame) = queue.pop() {
            return Poll::Ready(Some(frame));
        }
        if queue.closed {
            return Poll::Ready(None);
        }
        match &mut queue.waiter {
            Some(waiter) if waiter.will_wake(cx.waker()) => {}
            waiter => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Takes no more frames; the session, once it has taken what is queued, hears `None`.
    pub(super) fn close(&self) {
        let waiter = {
            let mut queue = self.queue();
            queue.closed = true;
            queue.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// Takes no more frames and lets go of those queued: the session is gone.
    pub(super) fn abandon(&self) {
        let frames = {
            let mut queue = self.queue();
            queue.closed = true;
            queue.bytes = 0;
            queue.waiter = None;
            std::mem::take(&mut queue.frames)
        };
        // Dropped outside the lock.
        drop(frames);
    }

    /// Asks the session to close the connection with `why` (the latest reason is the one
    /// it reads, unless the node's shutdown settled it).
    pub(super) fn kick(&self, why: Kick) {
        let mut reason = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if !reason.1 {
            reason.0 = Some(why);
        }
        drop(reason);
        self.kick.notify_one();
    }

    /// Asks the session to close the connection for the node's shutdown, and settles the
    /// reason: a kick before it keeps its own (the shutdown does not hide why a connection
    /// was closed), and none after it (a full queue, a function's close while the
    /// connections drain) changes it.
    pub(super) fn kick_for_shutdown(&self, why: Kick) {
        let mut reason = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        reason.0.get_or_insert(why);
        reason.1 = true;
        drop(reason);
        self.kick.notify_one();
    }

    /// Why it was kicked, if it was.
    pub(super) fn kicked(&self) -> Option<Kick> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// Resolves when the connection is kicked (registered once by the session: a kick
    /// before the first poll is kept).
    pub(super) fn kick_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.kick.notified()
    }

    /// Slots the queue's storage holds (for the tests: storage is given back).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.queue().frames.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_a_frame_and_by_the_close() {
        let mailbox = std::sync::Arc::new(Mailbox::new(QueueBound::frames(8)));
        let waiting = {
            let mailbox = mailbox.clone();
            tokio::spawn(async move {
                let first = poll_fn(|cx| mailbox.poll_take(cx)).await;
                let end = poll_fn(|cx| mailbox.poll_take(cx)).await;
                (first, end)
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(mailbox.offer(Outbound::text("a")), Offered::Queued);
        tokio::task::yield_now().await;
        mailbox.close();
        let (first, end) = waiting.await.unwrap();
        assert_eq!(first, Some(Outbound::text("a")));
        assert_eq!(end, None);
        assert_eq!(mailbox.offer(Outbound::text("b")), Offered::Closed);
    }

    #[test]
    fn what_was_queued_is_taken_after_the_close_and_storage_is_given_back() {
        let mailbox = Mailbox::new(QueueBound::frames(100));
        assert_eq!(mailbox.capacity(), 0, "no storage before the first frame");
        for i in 0..20 {
            assert_eq!(
                mailbox.offer(Outbound::text(i.to_string())),
                Offered::Queued
            );
        }
        mailbox.close();
        for i in 0..20 {
            assert_eq!(mailbox.take(), Some(Outbound::text(i.to_string())));
        }
        assert_eq!(mailbox.take(), None);
        assert_eq!(
            mailbox.capacity(),
            0,
            "a drained queue of 20 gave its storage back"
        );
        let small = Mailbox::new(QueueBound::frames(100));
        small.offer(Outbound::text("x"));
        small.take();
        assert!(small.capacity() <= KEPT_SLOTS);
    }

    #[test]
    fn an_abandoned_mailbox_lets_its_frames_go_and_takes_no_more() {
        let mailbox = Mailbox::new(QueueBound::frames(100));
        for _ in 0..10 {
            mailbox.offer(Outbound::text("x"));
        }
        mailbox.abandon();
        assert_eq!(mailbox.capacity(), 0);
        assert_eq!(mailbox.take(), None);
        assert_eq!(mailbox.offer(Outbound::text("y")), Offered::Closed);
    }
}
