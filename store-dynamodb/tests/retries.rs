//! Writes whose reply is lost: the request reached DynamoDB (moto, `TEST_DYNAMODB_URL`) and
//! was applied, the reply never came back, and the SDK sent it again. A proxy between the
//! store and moto drops the reply of the first request of one operation; the store's
//! answers and the rooms' contents must be as if nothing had been lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use store_core::{ConnectionId, ConnectionStore, Endpoint, Metadata, Registration, RoomName};
use store_dynamodb::{DynamoConfig, DynamoStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn moto_url() -> String {
    std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    )
}

/// The `endpoint=` of a DynamoDB URL (`host:port`).
fn moto_address() -> String {
    let url = moto_url();
    let (_, after) = url
        .split_once("endpoint=http://")
        .expect("an endpoint option");
    after.split('&').next().unwrap().to_owned()
}

/// Reads one HTTP request or response (head and a `content-length` body) from `stream`;
/// `None` at end of stream.
async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = message.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        message.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&message[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while message.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        message.extend_from_slice(&chunk[..read]);
    }
    Some(message)
}

/// A proxy to moto that forwards every request, and drops the reply of the first one
/// whose `X-Amz-Target` is `DynamoDB_20120810.<operation>` (closing the client's
/// connection instead): the request was applied, the store never hears so.
async fn lossy_proxy(operation: &'static str) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let upstream = moto_address();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (flag, upstream) = (flag.clone(), upstream.clone());
            tokio::spawn(async move {
                while let Some(request) = read_message(&mut client).await {
                    let target =
                        format!("x-amz-target: dynamodb_20120810.{operation}").to_ascii_lowercase();
                    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    let mut server = TcpStream::connect(&upstream).await.unwrap();
                    server.write_all(&request).await.unwrap();
                    let Some(response) = read_message(&mut server).await else {
                        return;
                    };
                    if head.contains(&target) && !flag.swap(true, Ordering::SeqCst) {
                        return; // applied upstream; the reply is lost with this socket
                    }
                    if client.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, dropped)
}

/// A store in a fresh table, talking to moto through a proxy that loses the first reply
/// of `operation`.
async fn store_losing_first(operation: &'static str) -> (DynamoStore, Arc<AtomicBool>) {
    let (endpoint, dropped) = lossy_proxy(operation).await;
    let config = DynamoConfig::with_url(&format!("dynamodb://retries?endpoint={endpoint}"))
        .unwrap()
        .with_namespace(&conformance::fresh_namespace())
        .unwrap()
        .with_credentials("test-key", "test-secret");
    (DynamoStore::open(config).await.unwrap(), dropped)
}

fn registration(room: &str) -> Registration {
    Registration {
        room: RoomName::new(room).unwrap(),
        endpoint: Endpoint::new("http://127.0.0.1:8081").unwrap(),
        metadata: Metadata::new(),
        ttl: Duration::from_secs(60),
    }
}

async fn ids_in(store: &DynamoStore, room: &str) -> Vec<String> {
    let members = store
        .list_room(&RoomName::new(room).unwrap())
        .await
        .unwrap();
    members.into_iter().map(|m| m.id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remove_whose_reply_is_lost_still_answers_true_and_unlists_the_id() {
    let (store, dropped) = store_losing_first("DeleteItem").await;
    let id = ConnectionId::new("c1").unwrap();
    store.register(&id, &registration("lobby")).await.unwrap();
    assert!(store.remove(&id).await.unwrap(), "a live connection went");
    assert!(dropped.load(Ordering::SeqCst), "no reply was lost");
    assert!(store.get(&id).await.unwrap().is_none());
    assert_eq!(ids_in(&store, "lobby").await, Vec::<String>::new());
    store.drop_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_whose_record_write_reply_is_lost_leaves_no_entry_behind() {
    let (store, dropped) = store_losing_first("PutItem").await;
    let id = ConnectionId::new("c1").unwrap();
    dropped.store(true, Ordering::SeqCst); // disarmed for the first register...
    store.register(&id, &registration("a")).await.unwrap();
    dropped.store(false, Ordering::SeqCst); // ...armed for the move's record write
    store.register(&id, &registration("b")).await.unwrap();
    assert!(dropped.load(Ordering::SeqCst), "no reply was lost");
    assert_eq!(
        ids_in(&store, "a").await,
        Vec::<String>::new(),
        "left behind"
    );
    assert_eq!(ids_in(&store, "b").await, ["c1"]);
    let record = store.get(&id).await.unwrap().expect("registered");
    assert_eq!(record.room.as_str(), "b");
    store.drop_table().await.unwrap();
}
