//! Each benchmark once, on tiny sizes, against the real backends `scripts/test` starts: it
//! proves the benchmarks run and report sane figures. Nothing here asserts speed.
//! A backend whose URL variable is missing FAILS (run ./scripts/test), it never skips.

use std::path::PathBuf;

use bench::fanout::{self, FanoutArgs};
use bench::list::{self, ListArgs, ListReport};
use bench::report::{self, Results};

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run ./scripts/test"))
}

async fn list_once(store: String) -> ListReport {
    let report = list::run(&ListArgs {
        store,
        sizes: vec![20, 50],
        walks: Some(3),
        fill_concurrency: 8,
    })
    .await
    .expect("the listing benchmark runs");
    assert_eq!(report.rows.len(), 2);
    for (row, n) in report.rows.iter().zip([20, 50]) {
        assert_eq!(row.n, n);
        assert_eq!(row.store.samples, 3);
        assert!(row.store.p50_ms > 0.0 && row.floor.p50_ms > 0.0, "{row:?}");
        assert!(row.ratio.is_finite() && row.ratio > 0.0, "{row:?}");
        // What the store returned: n members of an id, the endpoint and an expiry.
        let member_bytes = (9 + "http://10.0.0.1:8081".len() + 8) as u64;
        assert_eq!(row.store_bytes, n as u64 * member_bytes, "{row:?}");
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_sled_and_sqlite_then_report() {
    let dir = tempfile::tempdir().unwrap();
    let sled = list_once(format!("sled://{}", dir.path().join("sled").display())).await;
    assert_eq!(sled.backend, "sled");
    // The bare scan reads the expired entries too (1.5 N) and keeps the live ones by their
    // expiry, as the SQL floor's `WHERE` does: N.
    assert_eq!(sled.rows[0].floor_rows, 20);
    assert_eq!(sled.rows[0].store_requests, None);
    let sqlite = list_once(format!("sqlite://{}", dir.path().join("b.db").display())).await;
    // The SQL floor filters expired rows in the index: N.
    assert_eq!(sqlite.rows[1].floor_rows, 50);

    let results = dir.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    for report in [&sled, &sqlite] {
        let path = results.join(format!("list-{}.json", report.backend));
        std::fs::write(path, serde_json::to_string(report).unwrap()).unwrap();
    }
    let out = dir.path().join("out");
    let font = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    let written = report::write(&Results::read(&results).unwrap(), &out, &font).unwrap();
    let markdown = std::fs::read_to_string(out.join("BENCHMARKS.md")).unwrap();
    assert!(
        markdown.contains("### sled") && markdown.contains("### sqlite"),
        "{markdown}"
    );
    assert!(markdown.contains("| 50 |"), "{markdown}");
    let plot = out.join("bench-list-latency.png");
    assert!(written.contains(&plot));
    assert_eq!(&std::fs::read(&plot).unwrap()[..4], b"\x89PNG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_postgres() {
    assert_eq!(
        list_once(env_url("TEST_POSTGRES_URL")).await.backend,
        "postgres"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_mysql() {
    assert_eq!(list_once(env_url("TEST_MYSQL_URL")).await.backend, "mysql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_garage_counts_requests_and_prices_them() {
    let report = list_once(env_url("TEST_GARAGE_URL")).await;
    assert_eq!(report.backend, "s3");
    for row in &report.rows {
        // Under 1,000 keys: one LIST per walk for the store and for the floor.
        assert_eq!(row.store_requests, Some(1), "{row:?}");
        assert_eq!(row.floor_requests, 1);
        assert_eq!(row.floor_rows, (row.n + row.n / 2) as u64);
        // USD 0.005 per 1,000 LIST requests.
        assert!(
            (row.cost_per_million.unwrap() - 5.0).abs() < 1e-9,
            "{row:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_oss_protocol() {
    let report = list_once(env_url("TEST_OSS_URL")).await;
    assert_eq!(report.backend, "oss");
    for row in &report.rows {
        assert!(row.store_requests >= Some(1), "{row:?}");
        assert_eq!(row.floor_rows, (row.n + row.n / 2) as u64, "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_through_the_gateway_and_the_floor() {
    let report = fanout::run(&FanoutArgs {
        clients: vec![4],
        messages: 3,
        burst: 40,
        presence_window_ms: 50,
        store: None,
        nodes: 1,
        settle_secs: 1,
        http_functions: false,
        repeat: 1,
        node_link: None,
        node_link_groups: false,
        split_cores: false,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
    })
    .await
    .expect("the fan-out benchmark runs");
    let row = &report.rows[0];
    assert_eq!(row.clients, 4);
    let tuned = row
        .tuned_floor
        .as_ref()
        .expect("the tuned floor is measured");
    let raw = row.floor_raw.as_ref().expect("the raw floor is measured");
    assert!(row.one_node.is_none() && row.link.is_none(), "{row:?}");
    for side in [&row.gateway, &row.floor, tuned, raw] {
        assert_eq!(side.latency.samples, 3);
        assert!(
            side.cpu_us_per_delivery.is_some_and(|cpu| cpu >= 0.0),
            "{side:?}"
        );
        assert!(side.latency.p50_ms > 0.0, "{side:?}");
        assert!(side.deliveries_per_sec > 0.0, "{side:?}");
        assert!(side.rss_base_mib > 0.0, "{side:?}");
        assert!(side.join_secs > 0.0, "{side:?}");
        assert_eq!(side.settle_secs, 1, "{side:?}");
        assert!(
            side.rss_settled_per_connection_kib
                .is_some_and(f64::is_finite),
            "{side:?}"
        );
    }
}

/// Two nodes linked over NATS (a private nats-server), beside one node alone in the same
/// run: the row says how they were linked and their ratio to one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_over_two_nodes_linked_by_nats() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nats = std::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server (installed by .ci/run) must be on PATH");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed().as_secs() < 10,
            "nats-server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Per-node requests, then group subjects: both cross between the nodes.
    let mut reports = Vec::new();
    for groups in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        reports.push(
            fanout::run(&FanoutArgs {
                clients: vec![6],
                messages: 3,
                burst: 40,
                presence_window_ms: 50,
                store: Some(format!(
                    "sqlite://{}",
                    dir.path().join("connections.db").display()
                )),
                nodes: 2,
                settle_secs: 0,
                http_functions: false,
                repeat: 1,
                node_link: Some(format!("nats://127.0.0.1:{port}")),
                node_link_groups: groups,
                // The group run shares the CPUs out among the nodes as well.
                split_cores: groups,
                exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
            })
            .await,
        );
    }
    let _ = nats.kill();
    let _ = nats.wait();
    for (report, link) in reports.into_iter().zip(["nats", "nats-groups"]) {
        let report = report.expect("the fan-out benchmark runs on two nodes over NATS");
        assert!(report.command.contains("--node-link"), "{}", report.command);
        let split = link == "nats-groups";
        assert_eq!(report.command.contains("--split-cores"), split);
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(report.node_workers, split.then(|| (cpus / 2).max(1)));
        let row = &report.rows[0];
        assert_eq!(row.link.as_deref(), Some(link));
        assert_eq!(row.gateway.latency.samples, 3, "{row:?}");
        let one = row.one_node.as_ref().expect("one node alone is measured");
        assert_eq!(one.latency.samples, 3);
        let ratio = row.ratio_to_one_node.expect("the ratio");
        assert!(
            (ratio - row.gateway.deliveries_per_sec / one.deliveries_per_sec).abs() < 1e-9,
            "{row:?}"
        );
    }
}

/// The HTTP-function path: the chat's functions in a process of their own, every message
/// an AWS Lambda proxy invocation and a batch push back through the node's push API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_through_http_functions() {
    let report = fanout::run(&FanoutArgs {
        clients: vec![4],
        messages: 3,
        burst: 40,
        presence_window_ms: 50,
        store: None,
        nodes: 1,
        settle_secs: 0,
        http_functions: true,
        repeat: 1,
        node_link: None,
        node_link_groups: false,
        split_cores: false,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
    })
    .await
    .expect("the fan-out benchmark runs with HTTP functions");
    assert_eq!(report.functions, "http");
    assert!(
        report.command.contains("--http-functions"),
        "{}",
        report.command
    );
    let gateway = &report.rows[0].gateway;
    assert_eq!(gateway.latency.samples, 3);
    assert!(gateway.deliveries_per_sec > 0.0, "{gateway:?}");
    assert!(gateway.join_secs > 0.0, "{gateway:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_redis_standalone_and_cluster() {
    let standalone = list_once(env_url("TEST_REDIS_URL")).await;
    assert_eq!(standalone.backend, "redis");
    let cluster = list_once(env_url("TEST_REDIS_CLUSTER_URL")).await;
    assert_eq!(cluster.backend, "redis-cluster");
    for row in standalone.rows.iter().chain(&cluster.rows) {
        // The floor reads the room's whole index, expired entries too: N + N/2.
        assert_eq!(row.floor_rows, (row.n + row.n / 2) as u64, "{row:?}");
        // One ZRANGE, one ZMSCORE, one HMGET: a page shorter than 1,000 ends the walk.
        assert_eq!(row.floor_requests, 3, "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_samples_the_node_and_ends_with_every_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let report = bench::churn::run(&bench::churn::ChurnArgs {
        store: format!("sled://{}", dir.path().join("churn").display()),
        store_given: true,
        clients: 20,
        secs: 3,
        warmup_secs: 1,
        sample_secs: 1,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
    })
    .await
    .expect("the churn benchmark runs");
    assert!(report.warmup_connections >= 20, "{report:?}");
    assert!(report.connections >= 20, "{report:?}");
    assert!(report.samples.len() >= 3, "{report:?}");
    let last = report.samples.last().unwrap();
    assert_eq!(last.open, 0.0, "every connection was closed: {last:?}");
    assert!(last.tasks >= 0.0 && last.rss_kib > 0, "{last:?}");
    assert!(report.growth_first_half.is_finite() && report.growth_second_half.is_finite());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_on_dynamodb_prices_read_units() {
    let report = list_once(env_url("TEST_DYNAMODB_URL")).await;
    assert_eq!(report.backend, "dynamodb");
    let price = report.price.as_ref().expect("DynamoDB has a read price");
    assert_eq!(price.unit, "read request units");
    for row in &report.rows {
        // The floor reads the room's live entries in one page.
        assert_eq!(row.floor_requests, 1, "{row:?}");
        assert_eq!(row.floor_rows, row.n as u64, "{row:?}");
        let units = row.store_read_units.expect("the server reports read units");
        assert!(units > 0.0, "{row:?}");
        assert!(row.scan_read_units.expect("the scan is measured") > 0.0);
        // USD 0.125 per million read units.
        let cost = row.cost_per_million.expect("priced");
        assert!((cost - units * 0.125).abs() < 1e-9, "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_of_every_kind_are_measured_and_cut_off() {
    let report = bench::hostile::run(&bench::hostile::HostileArgs {
        clients: 2,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
    })
    .await
    .expect("the hostile benchmark runs (and the node ends every hostile client)");
    let kinds: Vec<&str> = report.rows.iter().map(|row| row.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "idle",
            "ping-flood",
            "non-reader",
            "non-reader-pushed",
            "big-fragments",
            "slowloris"
        ]
    );
    for row in &report.rows {
        assert_eq!(row.clients, 2, "{row:?}");
        assert!(
            row.before_kib > 0 && row.peak_kib >= row.before_kib,
            "{row:?}"
        );
        assert!(row.kib_per_client.is_finite(), "{row:?}");
    }
}

/// Pushes through the push API with each credential kind (SigV4 from AWS's SDK) and
/// through the floor, every one delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_with_every_credential_beside_the_floor() {
    use bench::push::server::AuthKind;
    let report = bench::push::run(&bench::push::PushArgs {
        auths: AuthKind::ALL.to_vec(),
        recipients: 3,
        concurrency: 4,
        pushes: 200,
        rounds: 2,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
    })
    .await
    .expect("the push benchmark runs (every push answered 200 and delivered)");
    let auths: Vec<&str> = report.rows.iter().map(|row| row.auth.as_str()).collect();
    assert_eq!(auths, ["none", "bearer", "sigv4"]);
    assert!(
        report.rows[2].client.contains("aws-sdk"),
        "{:?}",
        report.rows[2]
    );
    for row in &report.rows {
        for side in [&row.gateway, &row.floor] {
            assert_eq!(side.pushes, 400, "{row:?}");
            assert_eq!(side.per_call.samples, 400, "{row:?}");
            assert!(side.pushes_per_sec > 0.0, "{row:?}");
            assert!(side.cpu_us_per_push.is_finite(), "{row:?}");
        }
    }
    // The report renders it, from its JSON as committed.
    let dir = tempfile::tempdir().unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let results = Results {
        push: Some(serde_json::from_str(&json).unwrap()),
        ..Results::default()
    };
    let font = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    report::write(&results, dir.path(), &font).unwrap();
    let markdown = std::fs::read_to_string(dir.path().join("BENCHMARKS.md")).unwrap();
    assert!(markdown.contains("## The push API"), "{markdown}");
    assert!(
        markdown.contains("| sigv4 | aws-sdk-apigatewaymanagement"),
        "{markdown}"
    );
}

/// The peer benchmark's handler (Node.js, the AWS SDK v3) as an HTTP function of the node,
/// beside the chat, on the same clients (serverless-offline itself is opt-in: `bench peer`
/// installs it with npm).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_handler_as_an_http_function_beside_the_chat() {
    use bench::peer::{PeerArgs, Target};
    let node_path = std::env::var("TEST_NODE_PATH")
        .expect("TEST_NODE_PATH names node_modules with the AWS SDK v3 (scripts/services.sh)");
    let cache = tempfile::tempdir().unwrap();
    let report = bench::peer::run(&PeerArgs {
        clients: vec![4],
        messages: 3,
        burst: 5,
        chat_deliveries: 30,
        targets: vec![Target::GatewayChat, Target::GatewayHttp],
        cache: cache.path().to_owned(),
        node_path: Some(node_path.into()),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_bench")),
    })
    .await
    .expect("the peer benchmark runs on both gateway targets (every line delivered)")
    .expect("nothing to install without serverless-offline");
    let targets: Vec<&str> = report.rows.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["gateway-chat", "gateway-http"]);
    assert!(report.versions.aws_sdk.is_some(), "{:?}", report.versions);
    assert_eq!(report.versions.serverless_offline, None);
    for row in &report.rows {
        assert!(row.cpu_us_per_delivery.is_finite(), "{row:?}");
        assert!(row.deliveries_per_sec > 0.0 && row.rss_mib > 0.0, "{row:?}");
        assert_eq!(row.ratio_to_peer, None, "{row:?}");
    }
}

/// A function call on both paths and a cold start, a few times each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_on_both_paths() {
    let python = std::env::var("TEST_PYTHON")
        .expect("TEST_PYTHON names a Python with awslambdaric (scripts/services.sh)");
    let report = bench::functions::run(&bench::functions::FunctionsArgs {
        python,
        invocations: 5,
        cold_starts: 1,
    })
    .await
    .expect("the functions benchmark runs");
    let paths: Vec<&str> = report.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["runtime-api", "http"]);
    for row in &report.rows {
        assert_eq!(row.per_invocation.samples, 5, "{row:?}");
        assert!(row.per_invocation.p50_ms > 0.0, "{row:?}");
    }
    let cold = report.rows[0].cold_start.as_ref().expect("a cold start");
    assert!(
        cold.p50_ms >= report.rows[0].per_invocation.p50_ms,
        "{report:?}"
    );
}
