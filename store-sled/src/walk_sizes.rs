//! [`WalkSizes`]: how many members each room's last walk returned, so the next walk of
//! that room allocates its result once instead of growing it from empty.
//!
//! sled cannot count a prefix without scanning it, and a room walk (`list_room`, one per
//! broadcast) of 100,000 members would otherwise grow its `Vec` through 17 reallocations,
//! copying every member each time. Rooms change size slowly between broadcasts, so the
//! last size is a good guess; a wrong one costs a reallocation or some spare capacity,
//! never a wrong answer.

use std::collections::HashMap;
use std::sync::Mutex;

use store_core::RoomName;

/// Most rooms remembered; past it the map is cleared, so memory stays bounded whatever
/// the number of rooms (a forgotten room is walked once without a hint).
const MAX_ROOMS: usize = 4096;

/// Largest capacity handed out from a hint: a room that was huge once and is small now
/// must not make every walk of it reserve megabytes.
const MAX_HINT: usize = 1 << 20;

/// Last walk size per room. Locked only to read or write one number, never across a scan
/// or an `.await`.
#[derive(Debug, Default)]
pub(crate) struct WalkSizes {
    /// Room → members its last walk returned.
    sizes: Mutex<HashMap<RoomName, usize>>,
}

impl WalkSizes {
    /// The capacity to start a walk of `room` with: its last size and a little room to
    /// grow (joins since then), or 0 when unknown.
    pub fn capacity(&self, room: &RoomName) -> usize {
        let last = self.lock().get(room).copied().unwrap_or(0);
        last.saturating_add(last / 16).min(MAX_HINT)
    }

    /// Records that a walk of `room` returned `size` members.
    pub fn record(&self, room: &RoomName, size: usize) {
        let mut sizes = self.lock();
        if sizes.len() >= MAX_ROOMS && !sizes.contains_key(room) {
            sizes.clear();
        }
        sizes.insert(room.clone(), size);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, usize>> {
        // A poisoned map holds plain numbers that are only hints: keep using it.
        self.sizes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    #[test]
    fn a_room_is_hinted_its_last_size_with_headroom() {
        let sizes = WalkSizes::default();
        assert_eq!(sizes.capacity(&room("a")), 0);
        sizes.record(&room("a"), 1600);
        assert_eq!(sizes.capacity(&room("a")), 1700);
        assert_eq!(sizes.capacity(&room("b")), 0);
        sizes.record(&room("a"), 10);
        assert_eq!(sizes.capacity(&room("a")), 10);
    }

    #[test]
    fn hints_are_bounded_in_rooms_and_in_size() {
        let sizes = WalkSizes::default();
        sizes.record(&room("huge"), usize::MAX);
        assert_eq!(sizes.capacity(&room("huge")), MAX_HINT);
        for i in 0..MAX_ROOMS + 10 {
            sizes.record(&room(&format!("r{i}")), 1);
        }
        assert!(sizes.lock().len() <= MAX_ROOMS);
    }
}
