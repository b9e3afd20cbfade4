//! Node-local groups: named sets of this node's connections (a chat room's members here),
//! so a broadcast to a room reaches them without a list of ids, a lookup per id, or a walk
//! of the store. A membership has a lease, as a store record has: it lapses unless joined
//! again before it ends (a caller renewing a record renews the membership with it), so a
//! group counts no member whose record is gone while its socket stays open; and it ends
//! with the connection: the hub drops it when it forgets the connection.
//!
//! Bounds: a connection is in at most [`MAX_GROUPS_PER_CONNECTION`] groups, and a group's
//! name is at most [`MAX_GROUP_LEN`] bytes, so what one connection can make the node hold
//! is bounded whatever a function asks.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Instant;

use super::Conn;

/// Groups one connection may be in at once.
pub const MAX_GROUPS_PER_CONNECTION: usize = 16;

/// Longest group name, in bytes (a store's room name is at most 64).
pub const MAX_GROUP_LEN: usize = 128;

/// What a join came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The connection is in the group (it may have been already).
    Yes,
    /// No such connection on this node.
    NotHeld,
    /// The connection is in [`MAX_GROUPS_PER_CONNECTION`] groups already.
    TooMany,
    /// The name is empty or over [`MAX_GROUP_LEN`] bytes.
    BadName,
}

/// A group's members, by their mailbox's address (stable while the connection is held, and
/// no copy of the id per membership).
pub(super) type Members = HashMap<usize, Member>;

/// One membership.
#[derive(Debug)]
pub(super) struct Member {
    /// How to reach the connection.
    pub(super) conn: Conn,
    /// When the membership lapses unless joined again: broadcasts skip it from then on.
    pub(super) until: Instant,
}

/// Every group with a member on this node.
#[derive(Debug, Default)]
pub(super) struct Groups {
    /// By name; a group is dropped with its last member.
    by_name: HashMap<Arc<str>, Members>,
}

impl Groups {
    /// Adds `conn` to `name` until `until` (a member already in it: its lease moved to
    /// `until`); `memberships` is the connection's own list of its groups.
    pub(super) fn join(
        &mut self,
        name: &str,
        conn: &Conn,
        memberships: &mut Vec<Arc<str>>,
        until: Instant,
    ) -> Joined {
        if name.is_empty() || name.len() > MAX_GROUP_LEN {
            return Joined::BadName;
        }
        if memberships.iter().any(|group| &**group == name) {
            if let Some(member) = self
                .by_name
                .get_mut(name)
                .and_then(|members| members.get_mut(&conn.key()))
            {
                member.until = until;
            }
            return Joined::Yes;
        }
        if memberships.len() >= MAX_GROUPS_PER_CONNECTION {
            return Joined::TooMany;
        }
        // One shared name for the group and every membership in it.
        let key = match self.by_name.get_key_value(name) {
            Some((key, _)) => key.clone(),
            None => Arc::from(name),
        };
        self.by_name.entry(key.clone()).or_default().insert(
            conn.key(),
            Member {
                conn: conn.clone(),
                until,
            },
        );
        // Most connections are in one group: room for exactly that many.
        memberships.reserve_exact(1);
        memberships.push(key);
        Joined::Yes
    }

    /// Takes `conn` out of `name`; false when it was not in it.
    pub(super) fn leave(
        &mut self,
        name: &str,
        conn: &Conn,
        memberships: &mut Vec<Arc<str>>,
    ) -> bool {
        let Some(at) = memberships.iter().position(|group| &**group == name) else {
            return false;
        };
        let group = memberships.swap_remove(at);
        self.remove_member(&group, conn);
        true
    }

    /// Takes `conn` out of every group in `memberships` (it is being forgotten).
    pub(super) fn leave_all(&mut self, conn: &Conn, memberships: &[Arc<str>]) {
        for group in memberships {
            self.remove_member(group, conn);
        }
    }

    fn remove_member(&mut self, group: &Arc<str>, conn: &Conn) {
        if let Entry::Occupied(mut members) = self.by_name.entry(group.clone()) {
            members.get_mut().remove(&conn.key());
            if members.get().is_empty() {
                members.remove();
            }
        }
    }

    /// The members of `name`, if it has any.
    pub(super) fn members(&self, name: &str) -> Option<&Members> {
        self.by_name.get(name)
    }

    /// Groups with at least one member.
    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }
}
