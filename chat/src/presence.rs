//! Join and leave notices, coalesced per room: each notice costs a walk of the room and a
//! frame to every member, so a storm of N joins sent one by one costs N walks and N² frames.
//! Notices are gathered for a short window and sent by one flusher per room: one walk and
//! one frame per member for everything that happened in the window. A lone notice still goes
//! out as the plain `join` / `leave` frame, and so do a few (up to [`MAX_PLAIN`], each its
//! own frame, after one walk); more go as one `presence` frame, which names the first
//! [`MAX_NAMED`] of each kind and counts the rest, so a room's queue never keeps more than
//! that either, however far behind its flusher falls (see [`Batch`]). The window
//! grows with the room (at least twice the last flush's time), so flushing never takes more
//! than about a third of the time, and the last flush after a storm reports the exact count.
//!
//! The flusher is a task of the process running the functions: it needs one that outlives
//! an invocation (the gateway's linked-in chat, the `chat-functions` server). With a zero
//! window every notice is sent at once, inside the function, as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use store_core::RoomName;

/// One join or leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `name` (connection `id`) joined.
    Joined {
        /// The new connection (a lone notice skips it when its welcome was exact).
        id: String,
        /// Its anonymous name.
        name: String,
        /// Its welcome carried the exact count (no flush was pending); else the flush
        /// tells it too.
        exact: bool,
    },
    /// `name` left.
    Left {
        /// Its anonymous name.
        name: String,
    },
}

/// Notices waiting, by room. A room is in the map exactly while its flusher runs.
#[derive(Debug, Default)]
pub struct PendingNotices {
    /// The rooms' queues; the lock is never held across an `.await`.
    rooms: Mutex<HashMap<RoomName, RoomQueue>>,
}

/// One room's gathering notices.
#[derive(Debug)]
struct RoomQueue {
    /// What the next flush sends (bounded, whatever the rate of joins and leaves).
    batch: Batch,
    /// The count as last walked or counted, moved by the notices since: what a welcome
    /// says during a storm, instead of counting the room once per join (which is quadratic
    /// again). `None` until known (a queue a leave started).
    online: Option<u64>,
}

/// What one flush sends: the notices in arrival order, at most [`MAX_NAMED`] joins and
/// [`MAX_NAMED`] leaves of them, and how many more of each came. A frame never names more
/// than that, so a room's queue stays this small however far its flushes fall behind (a
/// node whose store is slow under load once held every notice of every room until the
/// flusher reached it: memory that grew for as long as the node stayed behind).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Kept in arrival order, for the plain frames of a small batch and the names of a
    /// `presence` frame.
    pub notices: Vec<Notice>,
    /// Joins counted but not kept.
    pub more_joined: u64,
    /// Leaves counted but not kept.
    pub more_left: u64,
    /// Joins in `notices` (so a push need not count them).
    kept_joined: usize,
    /// Leaves in `notices`.
    kept_left: usize,
}

impl Batch {
    /// Adds `notice`: kept while fewer than [`MAX_NAMED`] of its kind are, else counted.
    pub fn push(&mut self, notice: Notice) {
        let (kept, more) = match notice {
            Notice::Joined { .. } => (&mut self.kept_joined, &mut self.more_joined),
            Notice::Left { .. } => (&mut self.kept_left, &mut self.more_left),
        };
        if *kept < MAX_NAMED {
            *kept += 1;
            self.notices.push(notice);
        } else {
            *more += 1;
        }
    }

    /// Adds what came after this batch.
    pub fn append(&mut self, later: Batch) {
        for notice in later.notices {
            self.push(notice);
        }
        self.more_joined += later.more_joined;
        self.more_left += later.more_left;
    }

    /// Every notice of the batch, kept or counted.
    pub fn len(&self) -> u64 {
        self.notices.len() as u64 + self.more_joined + self.more_left
    }

    /// No notice at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept joins' and leaves' names, in order.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        let (mut joined, mut left) = (Vec::new(), Vec::new());
        for notice in &self.notices {
            match notice {
                Notice::Joined { name, .. } => joined.push(name.clone()),
                Notice::Left { name } => left.push(name.clone()),
            }
        }
        (joined, left)
    }
}

/// Most notices a flush sends as plain `join` / `leave` frames; more make one `presence`
/// frame.
pub const MAX_PLAIN: usize = 8;

/// Most names of each kind a `presence` frame lists (and a room's queue keeps); the
/// others are counted. A storm's frame stays about 1 KiB: a frame naming 1,000 joiners
/// (about 20 KiB) would go to every member of the room, each flush of the storm, and wait
/// in the queue of each member that reads slowly.
pub const MAX_NAMED: usize = 50;

impl PendingNotices {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, RoomQueue>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// While `room`'s flusher runs with a known count: the count a joiner's welcome
    /// says (one more than known); the caller then queues its notice with `push`, whose
    /// flush brings the exact one. `None` when no flusher runs: count the room instead.
    pub fn estimate_join(&self, room: &RoomName) -> Option<u64> {
        self.lock().get(room)?.online.map(|n| n + 1)
    }

    /// Puts the `batch` a failed flush took back before what `room` gathered since (its
    /// flusher is still running: it retries them).
    pub fn requeue(&self, room: &RoomName, mut batch: Batch) {
        let mut rooms = self.lock();
        let queue = rooms.entry(room.clone()).or_insert_with(|| RoomQueue {
            batch: Batch::default(),
            online: None,
        });
        batch.append(std::mem::take(&mut queue.batch));
        queue.batch = batch;
    }

    /// Queues `notice` for `room` (`online`: the count the caller knows, if any); true
    /// when the caller must start the room's flusher (none runs).
    pub fn push(&self, room: &RoomName, notice: Notice, online: Option<u64>) -> bool {
        let mut rooms = self.lock();
        match rooms.get_mut(room) {
            Some(queue) => {
                queue.online = match (&notice, online, queue.online) {
                    (_, Some(online), _) => Some(online),
                    (_, None, None) => None,
                    (Notice::Joined { .. }, None, Some(n)) => Some(n + 1),
                    (Notice::Left { .. }, None, Some(n)) => Some(n.saturating_sub(1)),
                };
                queue.batch.push(notice);
                false
            }
            None => {
                let mut batch = Batch::default();
                batch.push(notice);
                rooms.insert(room.clone(), RoomQueue { batch, online });
                true
            }
        }
    }

    /// Everything gathered for `room`, to send now; `None` when there is nothing, and then
    /// the room's flusher must stop (the next notice starts another).
    pub fn take(&self, room: &RoomName) -> Option<Batch> {
        let mut rooms = self.lock();
        let queue = rooms.get_mut(room)?;
        if queue.batch.is_empty() {
            rooms.remove(room);
            return None;
        }
        Some(std::mem::take(&mut queue.batch))
    }

    /// A flush walked `room` and found `online` (the connections queued since mostly
    /// registered before that walk, so they are in it).
    pub fn walked(&self, room: &RoomName, online: u64) {
        if let Some(queue) = self.lock().get_mut(room) {
            queue.online = Some(online);
        }
    }
}

/// The wait before the next flush: `base`, or twice what the last flush took when that
/// is longer (a big room flushes less often), at most 5 s.
pub fn next_window(base: Duration, last_flush: Duration) -> Duration {
    base.max(last_flush * 2).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(n: usize) -> Notice {
        Notice::Joined {
            id: format!("c{n}"),
            name: format!("n{n}"),
            exact: true,
        }
    }

    #[test]
    fn one_flusher_per_room_which_stops_once_the_queue_is_empty() {
        let pending = PendingNotices::default();
        let room = RoomName::new("r").unwrap();
        let other = RoomName::new("o").unwrap();
        assert_eq!(pending.estimate_join(&room), None);
        assert!(
            pending.push(&room, joined(1), Some(10)),
            "the first starts a flusher"
        );
        assert!(
            !pending.push(&room, joined(2), None),
            "later ones join its queue"
        );
        assert!(
            pending.push(&other, joined(3), Some(1)),
            "another room has its own"
        );
        assert_eq!(pending.estimate_join(&room), Some(12));
        let taken = pending.take(&room).unwrap();
        assert_eq!(taken.notices, vec![joined(1), joined(2)]);
        assert!(
            !pending.push(&room, joined(4), None),
            "still flushing: queued"
        );
        pending.requeue(&room, taken);
        pending.walked(&room, 20);
        assert_eq!(
            pending.estimate_join(&room),
            Some(21),
            "the walked count, plus one"
        );
        assert_eq!(
            pending.take(&room).unwrap().notices,
            vec![joined(1), joined(2), joined(4)],
            "a failed flush's notices come first again"
        );
        assert_eq!(pending.take(&room), None, "empty: the flusher stops");
        assert!(
            pending.push(&room, joined(5), None),
            "so the next notice starts one"
        );
        assert_eq!(
            pending.estimate_join(&room),
            None,
            "a queue started without a count gives no estimate"
        );
    }

    fn left(n: usize) -> Notice {
        Notice::Left {
            name: format!("n{n}"),
        }
    }

    #[test]
    fn a_queue_keeps_a_bounded_number_of_notices_and_counts_the_rest() {
        let pending = PendingNotices::default();
        let room = RoomName::new("r").unwrap();
        // A flusher that falls far behind: 10,000 joins and 7,000 leaves, interleaved.
        for n in 0..10_000 {
            pending.push(&room, joined(n), None);
            if n % 10 < 7 {
                pending.push(&room, left(n), None);
            }
        }
        let batch = pending.take(&room).unwrap();
        assert_eq!(batch.len(), 17_000, "every notice is counted");
        assert_eq!(batch.notices.len(), 2 * MAX_NAMED, "but few are kept");
        assert_eq!((batch.more_joined, batch.more_left), (9_950, 6_950));
        let (joins, leaves) = batch.names();
        assert_eq!(joins.first().map(String::as_str), Some("n0"), "in order");
        assert_eq!(joins.len(), MAX_NAMED);
        assert_eq!(leaves.last(), Some(&"n70".to_owned()));
        assert!(pending.take(&room).is_none(), "a flush takes everything");
    }

    #[test]
    fn a_requeued_batch_goes_first_and_keeps_its_counts() {
        let pending = PendingNotices::default();
        let room = RoomName::new("r").unwrap();
        for n in 0..MAX_NAMED + 3 {
            pending.push(&room, joined(n), None);
        }
        let failed = pending.take(&room).unwrap();
        pending.push(&room, left(1), None);
        pending.push(&room, joined(999), None);
        pending.requeue(&room, failed);
        let batch = pending.take(&room).unwrap();
        assert_eq!(batch.len(), MAX_NAMED as u64 + 5);
        assert_eq!(batch.notices.first(), Some(&joined(0)));
        assert_eq!(
            batch.notices.last(),
            Some(&left(1)),
            "the join after it is counted"
        );
        assert_eq!((batch.more_joined, batch.more_left), (4, 0));
    }

    #[test]
    fn the_window_grows_with_the_cost_of_a_flush_within_bounds() {
        let base = Duration::from_millis(50);
        assert_eq!(next_window(base, Duration::from_millis(5)), base);
        assert_eq!(
            next_window(base, Duration::from_millis(40)),
            Duration::from_millis(80)
        );
        assert_eq!(
            next_window(base, Duration::from_secs(60)),
            Duration::from_secs(5)
        );
    }
}
