//! Two nodes (the binary) over one store, linked over NATS (`--node-link nats://…`): a
//! broadcast and a join notice cross over NATS; with NATS stopped they cross over HTTP,
//! nothing lost; with NATS back they cross over it again. The NATS server is the test's
//! own (its port), stopped by its PID.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::binary::Binary;
use common::nats::PrivateNats;
use common::ws::{join, next_of, room_url};

/// The value of the series `key` (`name{labels}`) in `node`'s metrics, 0 when absent.
async fn metric(node: &Binary, key: &str) -> f64 {
    let text = common::metrics_text(&node.push_url()).await;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits until `key` in `node`'s metrics satisfies `ok`, at most 15 s.
async fn until(node: &Binary, key: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let started = Instant::now();
    loop {
        let value = metric(node, key).await;
        if ok(value) {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{key} is {value} after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CONNECTED: &str = "wsgw_node_link_connected";
const OK: &str = r#"wsgw_node_link_calls_total{outcome="ok"}"#;
const DISCONNECTED: &str = r#"wsgw_node_link_calls_total{outcome="fallback_disconnected"}"#;
const SERVED: &str = r#"wsgw_node_link_served_total{request="batch"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_each_other_over_nats_and_over_http_while_nats_is_down() {
    let mut nats = PrivateNats::start();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("connections.db").display());
    let node = || {
        Binary::launch()
            .args(["--store", &store, "--node-link", &nats.url()])
            .args(["--sweep-interval-secs", "0"])
            .stderr(Stdio::null())
            .start()
    };
    let (a, b) = (node(), node());
    assert_eq!(until(&a, CONNECTED, |v| v == 1.0).await, 1.0);
    let room = format!("link{}", std::process::id());
    let mut sender = join(&room_url(a.app, &room)).await;
    let mut remote = join(&room_url(b.app, &room)).await;

    // B's register told the room: the notice crossed to A's client over NATS.
    let joined = next_of(&mut sender, "join").await;
    assert_eq!(joined["online"], 2, "{joined}");
    sender.send(Message::text("over nats")).await.unwrap();
    assert_eq!(next_of(&mut remote, "chat").await["text"], "over nats");
    until(&a, OK, |v| v >= 1.0).await;
    assert!(metric(&b, SERVED).await >= 1.0);
    assert_eq!(metric(&a, DISCONNECTED).await, 0.0);

    // NATS gone: the nodes know it, and broadcasts cross over HTTP.
    nats.halt();
    until(&a, CONNECTED, |v| v == 0.0).await;
    for i in 0..3 {
        let text = format!("over http {i}");
        sender.send(Message::text(text.as_str())).await.unwrap();
        assert_eq!(next_of(&mut remote, "chat").await["text"], text);
    }
    until(&a, DISCONNECTED, |v| v >= 3.0).await;

    // NATS back on its port: both nodes reconnect (B subscribes again), and the next
    // broadcasts cross over NATS again.
    nats.resume();
    until(&a, CONNECTED, |v| v == 1.0).await;
    until(&b, CONNECTED, |v| v == 1.0).await;
    let ok_before = metric(&a, OK).await;
    let started = Instant::now();
    let mut i = 0;
    // Until B's subscription is back, A's requests find no responder and go over HTTP:
    // every line arrives either way; one that went over NATS shows in A's counter.
    while metric(&a, OK).await <= ok_before {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no call over NATS 15 s after it came back"
        );
        let text = format!("back {i}");
        sender.send(Message::text(text.as_str())).await.unwrap();
        assert_eq!(next_of(&mut remote, "chat").await["text"], text);
        i += 1;
    }
}

const GROUP: &str = r#"wsgw_node_link_calls_total{outcome="group"}"#;
const GROUP_SHORT: &str = r#"wsgw_node_link_calls_total{outcome="group_short"}"#;
const SERVED_GROUP: &str = r#"wsgw_node_link_served_total{request="group"}"#;

/// `text` from `sender` reaches `receiver`.
async fn crosses(sender: &mut common::ws::Ws, receiver: &mut common::ws::Ws, text: &str) {
    sender.send(Message::text(text)).await.unwrap();
    assert_eq!(next_of(receiver, "chat").await["text"], text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_lines_cross_on_group_subjects_and_never_go_missing_around_them() {
    let mut nats = PrivateNats::start();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("connections.db").display());
    let nats_url = nats.url();
    let node = |groups: bool| {
        let mut node = Binary::launch()
            .args(["--store", &store, "--node-link", &nats_url])
            .args(["--sweep-interval-secs", "0"])
            // The burst below sends faster than a client may by default.
            .args(["--rate", "1000"])
            .stderr(Stdio::null());
        if groups {
            node = node.args(["--node-link-groups"]);
        }
        node.start()
    };
    let (a, b) = (node(true), node(true));
    until(&a, CONNECTED, |v| v == 1.0).await;
    until(&b, CONNECTED, |v| v == 1.0).await;
    let room = format!("groups{}", std::process::id());
    let mut sender = join(&room_url(a.app, &room)).await;
    let mut here = join(&room_url(a.app, &room)).await;
    let mut remote = join(&room_url(b.app, &room)).await;
    next_of(&mut sender, "join").await;

    // One message on the room's subject: B's member gets it from B's own group, A's from
    // A's hub, and no id crosses. B subscribes to the room's subject once it holds the
    // room, a moment after its member's welcome: until then a line reaches B's member by
    // id, so lines go until one has gone on the group, each of them arriving.
    let started = Instant::now();
    let mut i = 0;
    while metric(&a, GROUP).await < 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no line on a group subject 20 s after B's member joined"
        );
        let text = format!("on the group {i}");
        crosses(&mut sender, &mut remote, &text).await;
        assert_eq!(next_of(&mut here, "chat").await["text"], text);
        i += 1;
    }
    assert!(metric(&b, SERVED_GROUP).await >= 1.0);

    // Lines sent back to back go without waiting for one another's answers, and arrive in
    // order on both nodes.
    let burst: Vec<String> = (0..50).map(|i| format!("in a burst {i}")).collect();
    for text in &burst {
        sender.send(Message::text(text.as_str())).await.unwrap();
    }
    for text in &burst {
        assert_eq!(next_of(&mut remote, "chat").await["text"], text.as_str());
        assert_eq!(next_of(&mut here, "chat").await["text"], text.as_str());
    }

    // NATS gone: lines go by walk and ids over HTTP, none lost.
    nats.halt();
    until(&a, CONNECTED, |v| v == 0.0).await;
    for i in 0..3 {
        crosses(&mut sender, &mut remote, &format!("over http {i}")).await;
    }
    until(&a, DISCONNECTED, |v| v >= 3.0).await;

    // NATS back: until B serves the group subject again, A hears no answer from it and
    // reaches its member by id; every line arrives, and they go on the group again.
    nats.resume();
    until(&a, CONNECTED, |v| v == 1.0).await;
    let groups_before = metric(&a, GROUP).await;
    let started = Instant::now();
    let mut i = 0;
    while metric(&a, GROUP).await <= groups_before {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no line on a group subject 20 s after NATS came back"
        );
        crosses(&mut sender, &mut remote, &format!("back {i}")).await;
        i += 1;
    }
    let by_ids = metric(&b, SERVED).await;
    crosses(&mut sender, &mut remote, "on the group again").await;
    assert_eq!(metric(&b, SERVED).await, by_ids, "a line went by ids");

    // A node without groups in the room: A hears nothing from it, waits a while, and
    // reaches its member by id.
    let c = node(false);
    until(&c, CONNECTED, |v| v == 1.0).await;
    let mut plain = join(&room_url(c.app, &room)).await;
    crosses(&mut sender, &mut plain, "to a node without groups").await;
    assert_eq!(
        next_of(&mut remote, "chat").await["text"],
        "to a node without groups"
    );
    assert!(metric(&a, GROUP_SHORT).await >= 1.0);
    // B answered: it was not sent the line again by id.
    crosses(&mut sender, &mut plain, "once").await;
    assert_eq!(next_of(&mut remote, "chat").await["text"], "once");
}

#[test]
fn a_node_link_that_is_not_nats_or_http_is_refused_at_start() {
    let out = common::binary::command()
        .args(["--node-link", "redis://127.0.0.1:6379"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("node link"), "{stderr}");
}

#[test]
fn group_subjects_without_a_nats_link_are_refused_at_start() {
    let out = common::binary::command()
        .args(["--node-link-groups"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--node-link-groups needs"), "{stderr}");
}

#[test]
fn a_nats_server_that_is_not_there_stops_the_start_with_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("connections.db").display());
    let out = common::binary::command()
        .args(["--listen", "127.0.0.1:0", "--push-listen", "127.0.0.1:0"])
        .args(["--store", &store])
        .args([
            "--node-link",
            &format!("nats://user:secret@127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password was shown: {stderr}"
    );
}

/// Whether some node serves `group`'s subject: NATS answers a request no subscriber would
/// get with "no responders" at once, and a serving node answers anything. `None` while a
/// subscription is being let go (NATS still routes to it, and no one answers).
async fn served(probe: &async_nats::Client, group: &str) -> Option<bool> {
    let subject = gateway::link::group_subject(group);
    match probe.request(subject, "not a request".into()).await {
        Ok(_) => Some(true),
        Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => Some(false),
        Err(err) if err.kind() == async_nats::RequestErrorKind::TimedOut => None,
        Err(err) => panic!("asking who serves {group}: {err}"),
    }
}

/// Waits until `group`'s subject is served (or not), at most 15 s.
async fn until_served(probe: &async_nats::Client, group: &str, wanted: bool) {
    let started = Instant::now();
    while served(probe, group).await != Some(wanted) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{group} served: not {wanted} after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_subscribes_to_the_subjects_of_the_groups_it_holds_and_no_other() {
    use gateway::{Hub, QueueBound};
    use lifecycle::ConnectionInfo;
    use std::sync::Arc;

    let nats = PrivateNats::start();
    let hub = Arc::new(Hub::default());
    let fallback = Arc::new(lifecycle::HttpPusher::new(None).unwrap());
    let node = "http://127.0.0.1:9";
    let link =
        gateway::link::NatsLink::connect(&nats.url(), node, hub.clone(), 1024, fallback, true)
            .await
            .unwrap();
    let probe = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_millis(500)))
        .connect(nats.url())
        .await
        .unwrap();
    let info = |id: &str| {
        Arc::new(ConnectionInfo {
            id: id.into(),
            ..ConnectionInfo::default()
        })
    };
    let lease = Duration::from_secs(60);

    // A group held before the link looked, and one joined after.
    let _a = hub.insert(info("a"), QueueBound::frames(8));
    let _b = hub.insert(info("b"), QueueBound::frames(8));
    assert_eq!(hub.join("r1", "a", lease), gateway::hub::Joined::Yes);
    until_served(&probe, "r1", true).await;
    assert_eq!(hub.join("r2", "b", lease), gateway::hub::Joined::Yes);
    assert_eq!(hub.join("r1", "b", lease), gateway::hub::Joined::Yes);
    until_served(&probe, "r2", true).await;
    // No room this node holds no member of is served here.
    assert_eq!(served(&probe, "r3").await, Some(false), "no member here");
    // A group is let go with its last member, whether it left or its connection ended.
    assert!(hub.leave("r2", "b"));
    until_served(&probe, "r2", false).await;
    hub.remove("a");
    assert_eq!(served(&probe, "r1").await, Some(true), "b is still in r1");
    hub.remove("b");
    until_served(&probe, "r1", false).await;
    // Back again, served again.
    let mut c = hub.insert(info("c"), QueueBound::frames(8));
    assert_eq!(hub.join("r1", "c", lease), gateway::hub::Joined::Yes);
    until_served(&probe, "r1", true).await;

    // Another node's broadcast reaches the room's node; one to a room no other node
    // serves ends at NATS's "no responders", without the wait for answers.
    use lifecycle::{Payload, Pusher};
    let sender = gateway::link::NatsLink::connect(
        &nats.url(),
        "http://127.0.0.1:10",
        Arc::new(Hub::default()),
        1024,
        Arc::new(lifecycle::HttpPusher::new(None).unwrap()),
        true,
    )
    .await
    .unwrap();
    let line = Payload::Text("hello r1".into());
    let published = sender.publish("r1", None, &line, 1).await.unwrap();
    assert_eq!(
        (published.reached, published.nodes),
        (1, vec![node.to_owned()])
    );
    assert_eq!(
        c.try_next().map(|frame| frame.len()),
        Some("hello r1".len())
    );
    let started = Instant::now();
    let published = sender.publish("r3", None, &line, 1).await.unwrap();
    assert_eq!(published.reached, 0);
    assert!(
        started.elapsed() < gateway::link::GROUP_WAIT,
        "waited {:?} for a room no node serves",
        started.elapsed()
    );
    drop(link);
    until_served(&probe, "r1", false).await;
}
