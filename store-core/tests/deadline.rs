//! A store call past its deadline: it fails as `Unavailable` on time, counts as a
//! `timeout`, is reported stuck until it answers, and a store that never answers cannot
//! pile up more than `MAX_STUCK` stuck calls; a call whose caller gives up runs on to its
//! answer all the same (a write is never cut between its steps).

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusBuilder;
use store_core::{
    ConnectionId, Endpoint, ErrorKind, Gated, MAX_STUCK, MemoryStore, Metadata, Metered,
    Registration, RoomName,
};

fn registration(room: &str) -> Registration {
    Registration {
        room: RoomName::new(room).unwrap(),
        endpoint: Endpoint::new("http://127.0.0.1:1").unwrap(),
        metadata: Metadata::new(),
        ttl: Duration::from_secs(60),
    }
}

#[test]
fn a_call_past_the_deadline_fails_as_unavailable_counts_as_timeout_and_stays_watched() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let gated = Gated::new(Arc::new(MemoryStore::new()));
            let limit = Duration::from_millis(200);
            let store = Metered::wrap_with_deadline(Arc::new(gated.clone()), limit);
            let id = ConnectionId::new("a").unwrap();
            store.register(&id, &registration("r")).await.unwrap();
            assert_eq!(store.stuck_calls().unwrap().count, 0);

            gated.shut();
            let started = Instant::now();
            let err = store.register(&id, &registration("s")).await.unwrap_err();
            let took = started.elapsed();
            assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
            assert!(err.to_string().contains("within 200 ms"), "{err}");
            assert!(took >= limit && took < limit * 3, "answered after {took:?}");
            let stuck = store.stuck_calls().unwrap();
            assert_eq!(stuck.count, 1);
            assert_eq!(stuck.oldest.unwrap().0, "register");
            let text = handle.render();
            assert!(
                text.contains(
                    r#"wsgw_store_calls_total{backend="memory",op="register",outcome="timeout"} 1"#
                ),
                "{text}"
            );

            // Answered at last: watched no longer, and the store works again.
            gated.open();
            let give_up = Instant::now() + Duration::from_secs(5);
            while store.stuck_calls().unwrap().count > 0 {
                assert!(Instant::now() < give_up, "the stuck call never left");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The late call did its work (the record moved), as a late write does.
            assert_eq!(store.get(&id).await.unwrap().unwrap().room.as_str(), "s");
        })
    });
}

#[tokio::test(start_paused = true)]
async fn a_store_that_never_answers_holds_at_most_max_stuck_calls() {
    let gated = Gated::new(Arc::new(MemoryStore::new()));
    let store = Metered::wrap_with_deadline(Arc::new(gated.clone()), Duration::from_millis(10));
    gated.shut();
    let room = RoomName::new("r").unwrap();
    for _ in 0..MAX_STUCK {
        assert_eq!(
            store.count(&room).await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
    }
    assert_eq!(store.stuck_calls().unwrap().count, MAX_STUCK);
    // The next is not made at all: it fails at once, and nothing more is watched.
    let started = tokio::time::Instant::now();
    let err = store.count(&room).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(err.to_string().contains("not made"), "{err}");
    assert_eq!(store.stuck_calls().unwrap().count, MAX_STUCK);
    // A store without a deadline reports nothing stuck.
    assert!(Metered::wrap(Arc::new(gated)).stuck_calls().is_none());
}

#[tokio::test]
async fn a_call_whose_caller_gives_up_runs_on_to_its_answer() {
    let gated = Gated::new(Arc::new(MemoryStore::new()));
    let store = Metered::wrap_with_deadline(Arc::new(gated.clone()), Duration::from_secs(60));
    let id = ConnectionId::new("a").unwrap();
    store.register(&id, &registration("r")).await.unwrap();

    // The caller (a function past its own, shorter deadline) drops the call while the
    // store has not answered.
    gated.shut();
    let gave_up = tokio::time::timeout(Duration::from_millis(50), store.remove(&id)).await;
    assert!(
        gave_up.is_err(),
        "the store could not have answered: its gate is shut"
    );
    assert_eq!(
        store.stuck_calls().unwrap().count,
        0,
        "within its deadline, it is not stuck"
    );

    // The remove was not lost with its caller: once the store answers, it is done.
    gated.open();
    let give_up = Instant::now() + Duration::from_secs(10);
    while store.get(&id).await.unwrap().is_some() {
        assert!(Instant::now() < give_up, "the abandoned remove never ran");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_register_whose_caller_gives_up_is_dropped_with_it() {
    let gated = Gated::new(Arc::new(MemoryStore::new()));
    let store = Metered::wrap_with_deadline(Arc::new(gated.clone()), Duration::from_secs(60));
    let id = ConnectionId::new("a").unwrap();
    // The handshake it belongs to fails and runs its cleanup: a register that landed
    // later would leave a record for a connection that never was.
    gated.shut();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        store.register(&id, &registration("r")),
    )
    .await;
    assert!(gave_up.is_err(), "the store could not have answered");
    gated.open();
    // Turns enough for a call that ran on to land (the remove above lands in fewer).
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(
        store.get(&id).await.unwrap().is_none(),
        "the register ran on"
    );
}
