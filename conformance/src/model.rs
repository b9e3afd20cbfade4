//! The model check: random sequences of operations applied to the backend under test and
//! to [`MemoryStore`], the reference model, on one shared manual clock. Every observable
//! answer must be the same.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use store_core::{
    Clock, Connection, ConnectionId, ConnectionStore, Endpoint, ErrorKind, Lease, MAX_TTL,
    ManualClock, MemoryStore, Metadata, Registration, RoomMember, RoomName, collect_room,
};

use crate::harness::{Harness, fresh_namespace};

/// Cases the model check runs by default (CI demands at least 256).
pub const DEFAULT_CASES: u32 = 256;

/// `CONFORMANCE_CASES` from the environment, else [`DEFAULT_CASES`].
pub fn cases_from_env() -> u32 {
    std::env::var("CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Ids chosen to share prefixes and span the alphabet, so key layouts get exercised.
const IDS: [&str; 9] = ["a", "a-b", "a.b", "a_b", "A", "0", "ab", "b", "a@b"];
/// Rooms that prefix each other.
const ROOMS: [&str; 3] = ["r", "r-1", "r1"];
/// Lease lengths, from instantly-expiring to long.
const TTLS_MS: [u64; 5] = [1, 10, 100, 1_000, 60_000];

/// One step of a random history.
#[derive(Clone)]
enum Op {
    Register {
        id: usize,
        room: usize,
        ttl: usize,
        node: u8,
        tag: u8,
    },
    Renew {
        id: usize,
        ttl: usize,
    },
    Remove {
        id: usize,
    },
    Get {
        id: usize,
    },
    Walk {
        room: usize,
        page: usize,
    },
    /// The whole room in one call (`list_room`), which must equal a walk.
    ListRoom {
        room: usize,
    },
    Count {
        room: usize,
    },
    Sweep,
    Advance {
        ms: u64,
    },
    /// Moves the clock to exactly one lease's expiry (or 1 ms before it): leases end on a
    /// millisecond, and an off-by-one there is the commonest backend bug.
    ToLeaseEnd {
        pick: usize,
        early: bool,
    },
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Register {
                id,
                room,
                ttl,
                node,
                tag,
            } => write!(
                f,
                "register({:?} in {:?}, ttl {} ms, node {node}, tag {tag})",
                IDS[id], ROOMS[room], TTLS_MS[ttl]
            ),
            Op::Renew { id, ttl } => write!(f, "renew({:?}, {} ms)", IDS[id], TTLS_MS[ttl]),
            Op::Remove { id } => write!(f, "remove({:?})", IDS[id]),
            Op::Get { id } => write!(f, "get({:?})", IDS[id]),
            Op::Walk { room, page } => write!(f, "walk({:?}, page {page})", ROOMS[room]),
            Op::ListRoom { room } => write!(f, "list_room({:?})", ROOMS[room]),
            Op::Count { room } => write!(f, "count({:?})", ROOMS[room]),
            Op::Sweep => write!(f, "sweep"),
            Op::Advance { ms } => write!(f, "advance({ms} ms)"),
            Op::ToLeaseEnd { pick, early } => {
                write!(
                    f,
                    "to_lease_end(#{pick}{})",
                    if early { " - 1 ms" } else { "" }
                )
            }
        }
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    let room = 0..ROOMS.len();
    let ttl = 0..TTLS_MS.len();
    prop_oneof![
        4 => (id.clone(), room.clone(), ttl.clone(), 0u8..3, 0u8..4)
            .prop_map(|(id, room, ttl, node, tag)| Op::Register { id, room, ttl, node, tag }),
        3 => (id.clone(), ttl).prop_map(|(id, ttl)| Op::Renew { id, ttl }),
        2 => id.clone().prop_map(|id| Op::Remove { id }),
        2 => id.prop_map(|id| Op::Get { id }),
        2 => (room.clone(), 1usize..4).prop_map(|(room, page)| Op::Walk { room, page }),
        1 => room.clone().prop_map(|room| Op::ListRoom { room }),
        2 => room.prop_map(|room| Op::Count { room }),
        1 => Just(Op::Sweep),
        3 => prop_oneof![Just(0u64), Just(1), 0u64..120, Just(1_000), Just(60_000)]
            .prop_map(|ms| Op::Advance { ms }),
        3 => (0usize..8, any::<bool>()).prop_map(|(pick, early)| Op::ToLeaseEnd { pick, early }),
    ]
}

/// An answer, in a form two stores can be compared by.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Lease(Result<Lease, ErrorKind>),
    Removed(Result<bool, ErrorKind>),
    Got(Result<Option<Connection>, ErrorKind>),
    Walked(Result<Vec<RoomMember>, ErrorKind>),
    Counted(Result<u64, ErrorKind>),
    Swept(Result<u64, ErrorKind>),
    Nothing,
}

/// Applies `op` to `store`. `leases` are the lease ends granted so far, for `ToLeaseEnd`.
async fn apply(
    store: &dyn ConnectionStore,
    clock: &ManualClock,
    leases: &[u64],
    op: &Op,
) -> Answer {
    fn kind<T>(r: store_core::Result<T>) -> Result<T, ErrorKind> {
        r.map_err(|e| e.kind())
    }
    let cid = |i: usize| ConnectionId::new(IDS[i]).expect("model ids are valid");
    let rname = |i: usize| RoomName::new(ROOMS[i]).expect("model rooms are valid");
    match *op {
        Op::Register {
            id,
            room,
            ttl,
            node,
            tag,
        } => {
            let registration = Registration {
                room: rname(room),
                endpoint: Endpoint::new(format!("http://node-{node}:8081")).expect("valid"),
                metadata: Metadata::new().with("tag", tag.to_string()).expect("valid"),
                ttl: Duration::from_millis(TTLS_MS[ttl]),
            };
            Answer::Lease(kind(store.register(&cid(id), &registration).await))
        }
        Op::Renew { id, ttl } => Answer::Lease(kind(
            store
                .renew(&cid(id), Duration::from_millis(TTLS_MS[ttl]))
                .await,
        )),
        Op::Remove { id } => Answer::Removed(kind(store.remove(&cid(id)).await)),
        Op::Get { id } => Answer::Got(kind(store.get(&cid(id)).await)),
        Op::Walk { room, page } => {
            Answer::Walked(kind(collect_room(store, &rname(room), page).await))
        }
        Op::ListRoom { room } => Answer::Walked(kind(store.list_room(&rname(room)).await)),
        Op::Count { room } => Answer::Counted(kind(store.count(&rname(room)).await)),
        Op::Sweep => Answer::Swept(kind(store.sweep().await)),
        Op::Advance { ms } => {
            clock.advance(Duration::from_millis(ms));
            Answer::Nothing
        }
        Op::ToLeaseEnd { pick, early } => {
            let now = clock.now_ms();
            let ahead: Vec<u64> = leases.iter().copied().filter(|&end| end > now).collect();
            if !ahead.is_empty() {
                let end = ahead[pick % ahead.len()];
                clock.set(if early { end - 1 } else { end }.max(now));
            }
            Answer::Nothing
        }
    }
}

/// Runs `cases` random histories against fresh stores from `harness`; `Err` carries the
/// smallest failing history proptest found and the first diverging answer.
pub fn model_check(harness: Arc<dyn Harness>, cases: u32) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(op_strategy(), 1..40);
    runner
        .run(&strategy, |ops| {
            runtime
                .block_on(check_history(harness.as_ref(), &ops))
                .map_err(TestCaseError::fail)
        })
        .map_err(|e| e.to_string())
}

async fn check_history(harness: &dyn Harness, ops: &[Op]) -> Result<(), String> {
    let namespace = fresh_namespace();
    let clock = ManualClock::starting_now();
    let model = MemoryStore::with_clock(Arc::new(clock.clone()));
    let store = harness
        .open(&namespace, Arc::new(clock.clone()))
        .await
        .map_err(|e| format!("could not open the store: {e}"))?;
    let mut verdict = Ok(());
    let mut leases: Vec<u64> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let expected = apply(&model, &clock, &leases, op).await;
        // Time ops move the one shared clock; the backend must not move it a second time.
        let actual = match op {
            Op::Advance { .. } | Op::ToLeaseEnd { .. } => Answer::Nothing,
            _ => apply(store.as_ref(), &clock, &leases, op).await,
        };
        if let Answer::Lease(Ok(lease)) = &expected {
            leases.push(lease.expires_at_ms);
        }
        if expected != actual {
            verdict = Err(format!(
                "step {step} {op:?}: the model answered {expected:?}, {} answered \
                 {actual:?}; history: {:?}",
                store.backend(),
                &ops[..=step]
            ));
            break;
        }
    }
    // Empty the store through the contract, so a harness that reuses one namespace (the
    // CLI does) starts every case from nothing.
    clock.advance(MAX_TTL + Duration::from_secs(1));
    let swept = crate::harness::sweep_retrying(store.as_ref()).await;
    drop(store);
    if let Err(e) = swept {
        verdict = verdict.and(Err(format!("final sweep failed: {e}")));
    }
    harness
        .cleanup(&namespace)
        .await
        .map_err(|e| format!("cleanup failed: {e}"))?;
    verdict
}
