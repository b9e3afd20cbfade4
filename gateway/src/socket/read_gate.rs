//! [`ReadGate`]: the read side of a session's socket is polled only when the socket woke it.
//!
//! A session's task wakes for many things besides its client: every pushed frame, a kick,
//! a timer. Each pass used to go through the WebSocket library's read as well, and that
//! is not free when nothing came: the library fills its read space with zeros before every
//! read attempt, the socket's readiness is checked, wakers are registered. In a broadcast
//! to a thousand connections, every frame paid for that once per recipient. The gate lets
//! a read through only when one may find something: the socket woke the gate since the
//! last read came back empty, or the last read returned a frame (more may be buffered).
//! No wake is missed: tokio-tungstenite hands the socket a proxy waker for every read and
//! write, and each proxy wakes the waker of the last read, which is the gate's. So a
//! readable socket, a writable one (a pong waiting for room is written by the next read)
//! and tokio's cooperative budget running out all open it. This holds while every read
//! goes through the gate and every write through the library (`Socket::poll_frame`,
//! `Socket::poll_write_out`); the one write with the task's own waker, the write queue's
//! second flush, runs only once the client's Close is read, when nothing is read again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::task::{ArcWake, AtomicWaker, waker_ref};

/// Whether a read may find something, and the task to wake when it may.
#[derive(Debug)]
pub(super) struct ReadGate {
    /// True when the next poll reads: the socket woke the gate since the last read came
    /// back empty, or the last read returned something (the library may hold more).
    open: AtomicBool,
    /// The session's task, woken with the gate.
    task: AtomicWaker,
}

impl ReadGate {
    /// An open gate: bytes may already wait (read with the handshake).
    pub(super) fn new() -> Arc<Self> {
        Arc::new(ReadGate {
            open: AtomicBool::new(true),
            task: AtomicWaker::new(),
        })
    }

    /// Runs `read` with the gate's waker when the gate is open; else `Pending`, with the
    /// task registered to be woken when it opens. `read` must hand the waker it is given
    /// to whatever it waits for (as a read of the socket does).
    pub(super) fn poll<T>(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        // Registered before the gate is looked at: a wake in between is not lost.
        self.task.register(cx.waker());
        // Closed before the read: a wake during the read opens it again.
        if !self.open.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = waker_ref(self);
        let read = read(&mut Context::from_waker(&waker));
        if read.is_ready() {
            self.open.store(true, Ordering::Release);
        }
        read
    }
}

impl ArcWake for ReadGate {
    fn wake_by_ref(gate: &Arc<Self>) {
        gate.open.store(true, Ordering::Release);
        gate.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Waker;

    use super::*;

    /// Counts its wakes.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl ArcWake for Counter {
        fn wake_by_ref(counter: &Arc<Self>) {
            counter.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_read_runs_only_after_the_socket_woke_the_gate() {
        let task = Arc::new(Counter::default());
        let task_waker = futures::task::waker(task.clone());
        let mut cx = Context::from_waker(&task_waker);
        let gate = ReadGate::new();
        let reads = std::cell::Cell::new(0);
        let socket_waker = std::cell::RefCell::new(None::<Waker>);
        let read = |cx: &mut Context<'_>| {
            reads.set(reads.get() + 1);
            *socket_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        };
        // Open at first; empty, so closed after.
        assert!(gate.poll(&mut cx, read).is_pending());
        // Woken for something else (a pushed frame): no read.
        assert!(gate.poll(&mut cx, read).is_pending());
        assert!(gate.poll(&mut cx, read).is_pending());
        assert_eq!(reads.get(), 1);
        // The socket wakes the waker the read was given: the task wakes, the next poll reads.
        socket_waker.take().unwrap().wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert!(gate.poll(&mut cx, read).is_pending());
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn after_a_frame_the_next_poll_reads_again() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let gate = ReadGate::new();
        let mut reads = 0;
        assert_eq!(
            gate.poll(&mut cx, |_| {
                reads += 1;
                Poll::Ready(1)
            }),
            Poll::Ready(1)
        );
        // The library may hold a second frame already read: no wake will come for it.
        assert_eq!(
            gate.poll(&mut cx, |_| {
                reads += 1;
                Poll::Ready(2)
            }),
            Poll::Ready(2)
        );
        assert_eq!(reads, 2);
    }

    #[test]
    fn a_wake_during_the_read_is_not_lost() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let gate = ReadGate::new();
        // The socket became ready while the read was on its way out empty.
        let polled = gate.poll(&mut cx, |cx| {
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        assert!(polled.is_pending());
        let mut read = false;
        let _ = gate.poll(&mut cx, |_| {
            read = true;
            Poll::<()>::Pending
        });
        assert!(read);
    }
}
