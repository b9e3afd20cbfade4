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
//!
//! Watched (a node link subscribing only to the groups this node holds), the groups note
//! which names gained their first member or lost their last, up to
//! [`MAX_PENDING_CHANGES`] names between two looks; past that the watcher is told to look
//! at every group instead.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::Conn;

/// Group names noted as changed between two looks of the watcher; past it the watcher
/// reads every group's name instead, so a storm of rooms cannot grow the note.
pub const MAX_PENDING_CHANGES: usize = 4096;

/// What changed in the set of groups held here since the watcher last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChanges {
    /// These names opened or closed (or both): each with whether it is held now.
    Some(Vec<(Arc<str>, bool)>),
    /// Too many changed to note: every group held now, the watcher's whole set.
    All(Vec<Arc<str>>),
}

/// The names that changed since the watcher last looked, and how to wake it.
#[derive(Debug)]
struct Watch {
    /// Woken (one permit, so a burst of changes is one look) when a name is noted.
    notify: Arc<Notify>,
    /// Opened or closed since the last look (whether held now is read at the look).
    changed: HashSet<Arc<str>>,
    /// More than [`MAX_PENDING_CHANGES`] changed: the next look reads every group.
    overflowed: bool,
}

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
    /// Who is told when a group opens or closes; none unless a node link asked, so a node
    /// without one notes nothing.
    watch: Option<Watch>,
}

impl Groups {
    /// Starts noting which groups open and close; the returned `Notify` is woken when one
    /// does (a second watcher replaces the first).
    pub(super) fn watch(&mut self) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.watch = Some(Watch {
            notify: notify.clone(),
            changed: HashSet::new(),
            // The first look reads every group already here.
            overflowed: true,
        });
        notify.notify_one();
        notify
    }

    /// What changed since the last call (nothing when not watched).
    pub(super) fn changes(&mut self) -> GroupChanges {
        let Some(watch) = &mut self.watch else {
            return GroupChanges::Some(Vec::new());
        };
        if std::mem::take(&mut watch.overflowed) {
            watch.changed.clear();
            return GroupChanges::All(self.names());
        }
        let changed = std::mem::take(&mut watch.changed);
        GroupChanges::Some(
            changed
                .into_iter()
                .map(|name| {
                    let held = self.by_name.contains_key(&name);
                    (name, held)
                })
                .collect(),
        )
    }

    /// The name of every group.
    pub(super) fn names(&self) -> Vec<Arc<str>> {
        self.by_name.keys().cloned().collect()
    }

    /// Notes that `name` opened or closed, for the watcher if there is one.
    fn note(&mut self, name: &Arc<str>) {
        let Some(watch) = &mut self.watch else {
            return;
        };
        if !watch.overflowed {
            if watch.changed.len() < MAX_PENDING_CHANGES {
                watch.changed.insert(name.clone());
            } else {
                watch.changed.clear();
                watch.overflowed = true;
            }
        }
        watch.notify.notify_one();
    }

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
            None => {
                let key = Arc::from(name);
                self.note(&key);
                key
            }
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
                self.note(group);
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
