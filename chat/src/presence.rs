//! Join and leave notices, coalesced per room: each notice costs a walk of the room and a
//! frame to every member, so a storm of N joins sent one by one costs N walks and N² frames.
//! Notices are gathered for a short window and sent by one flusher per room: one walk and
//! one frame per member for everything that happened in the window. A lone notice still goes
//! out as the plain `join` / `leave` frame, and so do a few (up to [`MAX_PLAIN`], each its
//! own frame, after one walk); more go as one `presence` frame. The window
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
    /// In arrival order.
    notices: Vec<Notice>,
    /// The count as last walked or counted, moved by the notices since: what a welcome
    /// says during a storm, instead of counting the room once per join (which is quadratic
    /// again). `None` until known (a queue a leave started).
    online: Option<u64>,
}

/// Most notices a flush sends as plain `join` / `leave` frames; more make one `presence`
/// frame.
pub const MAX_PLAIN: usize = 8;

/// Most notices one flush takes; the rest wait for the next (bounded frames).
pub const MAX_PER_FLUSH: usize = 1_000;

/// Most names of each kind a `presence` frame lists; the others are counted. A storm's
/// frame stays about 1 KiB: every member's socket keeps a write buffer as large as the
/// largest frame it ever held, so a frame naming 1,000 joiners (about 20 KiB) would stay
/// in the memory of every connection in the room.
pub const MAX_NAMED: usize = 50;

/// The first [`MAX_NAMED`] of `names`, and how many more there were.
pub fn named(mut names: Vec<String>) -> (Vec<String>, u64) {
    let more = names.len().saturating_sub(MAX_NAMED);
    names.truncate(MAX_NAMED);
    (names, more as u64)
}

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

    /// Puts `notices` a failed flush took back at the front of `room`'s queue (its
    /// flusher is still running: it retries them).
    pub fn requeue(&self, room: &RoomName, notices: Vec<Notice>) {
        let mut rooms = self.lock();
        let queue = rooms.entry(room.clone()).or_insert_with(|| RoomQueue {
            notices: Vec::new(),
            online: None,
        });
        queue.notices.splice(0..0, notices);
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
                queue.notices.push(notice);
                false
            }
            None => {
                let queue = RoomQueue {
                    notices: vec![notice],
                    online,
                };
                rooms.insert(room.clone(), queue);
                true
            }
        }
    }

    /// The notices to send now (at most [`MAX_PER_FLUSH`]); `None` when there are none, and
    /// then the room's flusher must stop (the next notice starts another).
    pub fn take(&self, room: &RoomName) -> Option<Vec<Notice>> {
        let mut rooms = self.lock();
        let queue = rooms.get_mut(room)?;
        if queue.notices.is_empty() {
            rooms.remove(room);
            return None;
        }
        let n = queue.notices.len().min(MAX_PER_FLUSH);
        Some(queue.notices.drain(..n).collect())
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
        assert_eq!(taken, vec![joined(1), joined(2)]);
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
            pending.take(&room).unwrap(),
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

    #[test]
    fn a_flush_takes_a_bounded_batch() {
        let pending = PendingNotices::default();
        let room = RoomName::new("r").unwrap();
        for n in 0..MAX_PER_FLUSH + 5 {
            pending.push(&room, joined(n), None);
        }
        assert_eq!(pending.take(&room).unwrap().len(), MAX_PER_FLUSH);
        assert_eq!(pending.take(&room).unwrap().len(), 5);
        assert_eq!(pending.take(&room), None);
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

    #[test]
    fn a_presence_frame_names_a_bounded_number_and_counts_the_rest() {
        let names: Vec<String> = (0..MAX_NAMED + 7).map(|n| format!("n{n}")).collect();
        let (listed, more) = named(names.clone());
        assert_eq!(listed, names[..MAX_NAMED]);
        assert_eq!(more, 7);
        assert_eq!(named(vec!["a".into()]), (vec!["a".to_owned()], 0));
    }
}
