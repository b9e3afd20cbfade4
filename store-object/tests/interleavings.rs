//! The renew-vs-remove interleaving check against the in-memory client: the store's own
//! logic with no server in the way, once with an atomic `If-Match` and once with a server
//! that ignores it (the store must then verify by re-reading).

use std::sync::Arc;

use store_object::ObjectClient;
use store_object::test_util::{MemoryObjects, check_renew_remove_interleavings};

#[tokio::test]
async fn renew_and_remove_in_every_gap_of_each_other_never_resurrect() {
    let objects: Arc<dyn ObjectClient> = Arc::new(MemoryObjects::default());
    check_renew_remove_interleavings(&|| objects.clone(), "interleave/").await;
}

#[tokio::test]
async fn without_if_match_the_store_verifies_and_still_never_resurrects() {
    let objects: Arc<dyn ObjectClient> = Arc::new(MemoryObjects::ignoring_if_match());
    let probe =
        store_object::ObjectStore::new(objects.clone(), "probe/", store_core::system_clock())
            .unwrap();
    assert!(!probe.conditional_writes_honoured().await.unwrap());
    check_renew_remove_interleavings(&|| objects.clone(), "interleave/").await;
}

#[tokio::test]
async fn the_probe_sees_an_atomic_if_match() {
    let objects: Arc<dyn ObjectClient> = Arc::new(MemoryObjects::default());
    let store =
        store_object::ObjectStore::new(objects.clone(), "p/", store_core::system_clock()).unwrap();
    assert!(store.conditional_writes_honoured().await.unwrap());
    // The probe object is gone again.
    assert!(objects.list("p/", None, 10).await.unwrap().keys.is_empty());
}
