//! What a node does, as metrics: recorded through the `metrics` facade (free when no
//! recorder is installed, as in a library user's process or a test), exposed in
//! Prometheus's text format at `/metrics` on the push listener when the binary installs the
//! recorder ([`install`]).
//!
//! | metric | labels | counts |
//! |---|---|---|
//! | `wsgw_connections_open` (gauge) | | connections this node holds |
//! | `wsgw_tasks_alive` (gauge) | | the runtime's tasks when scraped |
//! | `wsgw_handshakes_total` | `outcome` | accepted, refused, unauthorized (an authorizer said no), failed, timed_out, full |
//! | `wsgw_closes_total` | `code` | connections ended, by the close code cleanup hears |
//! | `wsgw_function_calls_total` | `function`, `outcome` | connect / message / disconnect: ok, failed, timed_out |
//! | `wsgw_function_call_seconds` (histogram) | `function` | |
//! | `wsgw_push_calls_total` | `route`, `status` | push-back API requests, by route template |
//! | `wsgw_push_recipients_total` | `result` | frames offered to a connection: sent, gone, overflow |
//! | `wsgw_store_calls_total`, `wsgw_store_call_seconds` | `backend`, `op`, `outcome` | see `store_core::Metered` |
//! | `wsgw_sweeps_total`, `wsgw_swept_records_total`, `wsgw_sweep_seconds` | `outcome` | see `store_core::Sweeper` |
//! | `wsgw_node_link_connected` (gauge) | | 1 while the NATS node link is connected, 0 while it is not (calls go over HTTP) |
//! | `wsgw_node_link_calls_total` | `outcome` | calls to other nodes over NATS: ok, failed, or over HTTP instead (fallback_disconnected, fallback_no_responders, fallback_too_large); group broadcasts: group (every member expected was reached), group_short (some were left to the caller) |
//! | `wsgw_node_link_groups` (gauge) | | with group subjects: the groups whose subject this node is subscribed to (those it holds members of) |
//! | `wsgw_node_link_served_total` | `request` | other nodes' requests over NATS served: batch, close, group, refused |
//!
//! Every label takes a bounded set of values: no connection id, room or URL is ever a label
//! (a close code outside the ones the protocol and the gateway use is `other`). So every
//! family is described (`# HELP`, `# TYPE`) and its known series are at zero from the first
//! scrape ([`describe_and_zero`]; the store's calls once the store is open, [`zero_store`]);
//! of the push calls only the batch route's `200` is zeroed, the rest appear when first
//! answered (which routes a node serves depends on its configuration).

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets, seconds: from a linked-in function's sub-millisecond call to a slow
/// HTTP function's timeout.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `wsgw_handshakes_total`'s outcomes (every value the handshake counts).
const HANDSHAKE_OUTCOMES: [&str; 6] = [
    "accepted",
    "refused",
    "unauthorized",
    "failed",
    "timed_out",
    "full",
];

/// The close codes counted under their own label ([`code_label`]); any other is `other`.
const CLOSE_CODES: [(u16, &str); 11] = [
    (1000, "1000"),
    (1001, "1001"),
    (1002, "1002"),
    (1003, "1003"),
    (1005, "1005"),
    (1006, "1006"),
    (1007, "1007"),
    (1008, "1008"),
    (1009, "1009"),
    (1011, "1011"),
    (4408, "4408"),
];

/// The functions a node calls (`wsgw_function_calls_total{function}`).
const FUNCTIONS: [&str; 3] = ["connect", "message", "disconnect"];

/// How a function call ends (`wsgw_function_calls_total{outcome}`).
const CALL_OUTCOMES: [&str; 3] = ["ok", "failed", "timed_out"];

/// The push-back route every node mounts whatever its wires and channels (the batch
/// call), zeroed with the status it answers on success. The wires' and channels' routes
/// depend on the node's configuration, and a status on what happened: those series
/// appear when first answered.
const ALWAYS_PUSH_ROUTE: &str = "/batch";

/// What became of a frame offered to a connection (`wsgw_push_recipients_total{result}`).
const RECIPIENT_RESULTS: [&str; 3] = ["sent", "gone", "overflow"];

/// `store_core::Sweeper`'s outcomes (`wsgw_sweeps_total{outcome}`).
const SWEEP_OUTCOMES: [&str; 3] = ["ok", "failed", "skipped"];

/// `store_core::Metered`'s operations (`wsgw_store_calls_total{op}`).
const STORE_OPS: [&str; 8] = [
    "register",
    "renew",
    "remove",
    "get",
    "list",
    "list_room",
    "count",
    "sweep",
];

/// Installs this process's Prometheus recorder; its handle renders `/metrics`. Once per
/// process (the recorder is global): a second call is an error. Every family is described
/// and present at zero from the first scrape ([`describe_and_zero`]), except the store's
/// calls, whose backend is known only once the store is open ([`zero_store`]).
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = builder()?.install_recorder()?;
    describe_and_zero();
    Ok(handle)
}

/// The recorder's settings.
fn builder() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    PrometheusBuilder::new().set_buckets(&BUCKETS)
}

/// Describes every family of the node's and its store's metrics (help text, units) and
/// registers at zero each series whose labels are known before any traffic, so that a
/// first scrape lists every family; the store's calls wait for [`zero_store`] (their
/// `backend` label). [`install`] calls it; call it yourself after installing a recorder of
/// your own.
pub fn describe_and_zero() {
    describe();
    store_core::describe_metrics();
    metrics::gauge!("wsgw_connections_open").increment(0.0);
    metrics::gauge!("wsgw_tasks_alive").increment(0.0);
    for outcome in HANDSHAKE_OUTCOMES {
        metrics::counter!("wsgw_handshakes_total", "outcome" => outcome).increment(0);
    }
    for code in CLOSE_CODES
        .map(|(_, label)| label)
        .into_iter()
        .chain(["other"])
    {
        metrics::counter!("wsgw_closes_total", "code" => code).increment(0);
    }
    for function in FUNCTIONS {
        for outcome in CALL_OUTCOMES {
            metrics::counter!("wsgw_function_calls_total", "function" => function, "outcome" => outcome)
                .increment(0);
        }
        // A histogram's series exists once registered: empty buckets, zero sum and count.
        let _ = metrics::histogram!("wsgw_function_call_seconds", "function" => function);
    }
    metrics::counter!("wsgw_push_calls_total", "route" => ALWAYS_PUSH_ROUTE, "status" => "200")
        .increment(0);
    for result in RECIPIENT_RESULTS {
        metrics::counter!("wsgw_push_recipients_total", "result" => result).increment(0);
    }
    for outcome in SWEEP_OUTCOMES {
        metrics::counter!("wsgw_sweeps_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("wsgw_swept_records_total").increment(0);
    let _ = metrics::histogram!("wsgw_sweep_seconds");
}

/// Registers the store calls of `backend` (a [`store_core::Metered`] store's
/// `backend()`) at zero: every operation with `ok` and every error kind, and each
/// operation's latency histogram. Call it once the node's store is open.
pub fn zero_store(backend: &'static str) {
    use store_core::ErrorKind;
    let kinds = [
        ErrorKind::NotFound,
        ErrorKind::InvalidInput,
        ErrorKind::Conflict,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Config,
        ErrorKind::Backend,
    ];
    let outcomes = ["ok", "timeout"]
        .into_iter()
        .chain(kinds.map(ErrorKind::as_str));
    for op in STORE_OPS {
        for outcome in outcomes.clone() {
            metrics::counter!("wsgw_store_calls_total", "backend" => backend, "op" => op, "outcome" => outcome)
                .increment(0);
        }
        let _ = metrics::histogram!("wsgw_store_call_seconds", "backend" => backend, "op" => op);
    }
}

/// Help text for the node's metrics.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "wsgw_connections_open",
        "WebSocket connections this node holds."
    );
    describe_gauge!(
        "wsgw_tasks_alive",
        "Tasks alive in the node's runtime when scraped (sockets, functions, sweeps)."
    );
    describe_counter!(
        "wsgw_handshakes_total",
        "Handshakes, by outcome (accepted, refused, failed, timed_out, full)."
    );
    describe_counter!(
        "wsgw_closes_total",
        "Connections ended, by close code (other: a code outside the known set)."
    );
    describe_counter!(
        "wsgw_function_calls_total",
        "Function calls, by function (connect, message, disconnect) and outcome."
    );
    describe_histogram!(
        "wsgw_function_call_seconds",
        metrics::Unit::Seconds,
        "Function call latency, by function."
    );
    describe_counter!(
        "wsgw_push_calls_total",
        "Push-back API requests, by route template and HTTP status."
    );
    describe_counter!(
        "wsgw_push_recipients_total",
        "Frames offered to connections, by result (sent, gone, overflow)."
    );
}

/// How often recorded histogram samples are folded into their buckets, so that a node
/// nobody scrapes keeps no growing backlog of samples.
pub const UPKEEP: Duration = Duration::from_secs(5);

/// The node now holds `open` connections.
pub fn connections_open(open: usize) {
    metrics::gauge!("wsgw_connections_open").set(open as f64);
}

/// The runtime has `tasks` tasks alive (read when scraped): a leak shows as growth.
pub fn tasks_alive(tasks: usize) {
    metrics::gauge!("wsgw_tasks_alive").set(tasks as f64);
}

/// A handshake ended with `outcome`.
pub fn handshake(outcome: &'static str) {
    debug_assert!(
        HANDSHAKE_OUTCOMES.contains(&outcome),
        "handshake outcome {outcome} is not zeroed"
    );
    metrics::counter!("wsgw_handshakes_total", "outcome" => outcome).increment(1);
}

/// A connection ended with close `code`.
pub fn closed(code: u16) {
    metrics::counter!("wsgw_closes_total", "code" => code_label(code)).increment(1);
}

/// The codes counted under their own label; any other is `other`.
fn code_label(code: u16) -> &'static str {
    CLOSE_CODES
        .iter()
        .find(|(known, _)| *known == code)
        .map_or("other", |&(_, label)| label)
}

/// A function call for `function` ended with `outcome` after `took`.
pub fn function_call(function: &'static str, outcome: &'static str, took: Duration) {
    debug_assert!(
        FUNCTIONS.contains(&function) && CALL_OUTCOMES.contains(&outcome),
        "function call {function}/{outcome} is not zeroed"
    );
    metrics::counter!("wsgw_function_calls_total", "function" => function, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("wsgw_function_call_seconds", "function" => function)
        .record(took.as_secs_f64());
}

/// A push-back API request to `route` (its template, e.g. `/@connections/{id}`) answered
/// `status`.
pub fn push_call(route: String, status: u16) {
    metrics::counter!("wsgw_push_calls_total", "route" => route, "status" => status.to_string())
        .increment(1);
}

/// How a call to another node over NATS ended (`wsgw_node_link_calls_total{outcome}`).
const LINK_OUTCOMES: [&str; 7] = [
    "ok",
    "failed",
    "fallback_disconnected",
    "fallback_no_responders",
    "fallback_too_large",
    "group",
    "group_short",
];

/// Other nodes' requests over NATS (`wsgw_node_link_served_total{request}`).
const LINK_REQUESTS: [&str; 4] = ["batch", "close", "group", "refused"];

/// Registers the node link's series at zero (a node on NATS calls it once connected).
pub fn zero_node_link() {
    metrics::describe_counter!(
        "wsgw_node_link_calls_total",
        "Calls to other nodes over the NATS node link, by how they ended"
    );
    metrics::describe_gauge!(
        "wsgw_node_link_connected",
        "1 while the NATS node link is connected, 0 while calls go over HTTP"
    );
    metrics::describe_gauge!(
        "wsgw_node_link_groups",
        "Group subjects the NATS node link is subscribed to (the groups held here)"
    );
    metrics::gauge!("wsgw_node_link_groups").set(0.0);
    metrics::describe_counter!(
        "wsgw_node_link_served_total",
        "Requests from other nodes over the NATS node link, by kind"
    );
    for outcome in LINK_OUTCOMES {
        metrics::counter!("wsgw_node_link_calls_total", "outcome" => outcome).increment(0);
    }
    for request in LINK_REQUESTS {
        metrics::counter!("wsgw_node_link_served_total", "request" => request).increment(0);
    }
}

/// Whether the NATS node link is connected now.
pub fn node_link_connected(connected: bool) {
    metrics::gauge!("wsgw_node_link_connected").set(if connected { 1.0 } else { 0.0 });
}

/// The node link is subscribed to `groups` group subjects.
pub fn node_link_groups(groups: usize) {
    metrics::gauge!("wsgw_node_link_groups").set(groups as f64);
}

/// A call to another node over NATS ended with `outcome` (one of `LINK_OUTCOMES`).
pub fn node_link_call(outcome: &'static str) {
    metrics::counter!("wsgw_node_link_calls_total", "outcome" => outcome).increment(1);
}

/// A request from another node over NATS was served as `request` (one of
/// `LINK_REQUESTS`).
pub fn node_link_served(request: &'static str) {
    metrics::counter!("wsgw_node_link_served_total", "request" => request).increment(1);
}

/// Frames offered to connections: queued, for a connection not here, or to a full queue.
pub fn recipients(sent: u64, gone: u64, overflow: u64) {
    for (result, n) in RECIPIENT_RESULTS.into_iter().zip([sent, gone, overflow]) {
        if n > 0 {
            metrics::counter!("wsgw_push_recipients_total", "result" => result).increment(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_outside_the_known_set_share_one_label() {
        assert_eq!(code_label(1000), "1000");
        assert_eq!(code_label(4408), "4408");
        assert_eq!(code_label(4000), "other");
        assert_eq!(code_label(3999), "other");
    }

    /// The key of a sample line (`name{labels}`) is `name`'s.
    fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    #[test]
    fn a_fresh_recorder_shows_every_family_described_and_at_zero() {
        let recorder = builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_and_zero();
            zero_store("memory");
        });
        let text = handle.render();

        // (family, type, how many series)
        let families = [
            ("wsgw_connections_open", "gauge", 1),
            ("wsgw_tasks_alive", "gauge", 1),
            ("wsgw_handshakes_total", "counter", 6),
            ("wsgw_closes_total", "counter", 12),
            ("wsgw_function_calls_total", "counter", 9),
            ("wsgw_function_call_seconds", "histogram", 3),
            ("wsgw_push_calls_total", "counter", 1),
            ("wsgw_push_recipients_total", "counter", 3),
            // 8 operations × ok, timeout and 7 error kinds.
            ("wsgw_store_calls_total", "counter", 72),
            ("wsgw_store_call_seconds", "histogram", 8),
            ("wsgw_sweeps_total", "counter", 3),
            ("wsgw_swept_records_total", "counter", 1),
            ("wsgw_sweep_seconds", "histogram", 1),
        ];
        let typed: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(typed.len(), families.len(), "families:\n{text}");
        for (family, kind, count) in families {
            assert!(
                text.contains(&format!("# HELP {family} ")),
                "no help for {family}:\n{text}"
            );
            assert!(
                typed.contains(&format!("{family} {kind}").as_str()),
                "{family} is not a {kind}:\n{text}"
            );
            // A histogram's series, by its count.
            let sampled = match kind {
                "histogram" => format!("{family}_count"),
                _ => family.to_owned(),
            };
            let samples = series(&text, &sampled);
            assert_eq!(samples.len(), count, "{sampled}:\n{text}");
            for sample in samples {
                assert!(sample.ends_with(" 0"), "not zero: {sample}");
            }
        }
        // Every sample of every family (buckets, sums included) is zero.
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(line.ends_with(" 0"), "not zero: {line}");
        }
        // The label values the code emits, spelled out (dashboards query them).
        for sample in [
            r#"wsgw_handshakes_total{outcome="accepted"} 0"#,
            r#"wsgw_handshakes_total{outcome="refused"} 0"#,
            r#"wsgw_handshakes_total{outcome="unauthorized"} 0"#,
            r#"wsgw_handshakes_total{outcome="failed"} 0"#,
            r#"wsgw_handshakes_total{outcome="timed_out"} 0"#,
            r#"wsgw_handshakes_total{outcome="full"} 0"#,
            r#"wsgw_closes_total{code="1000"} 0"#,
            r#"wsgw_closes_total{code="4408"} 0"#,
            r#"wsgw_closes_total{code="other"} 0"#,
            r#"wsgw_function_calls_total{function="connect",outcome="ok"} 0"#,
            r#"wsgw_function_calls_total{function="message",outcome="timed_out"} 0"#,
            r#"wsgw_function_calls_total{function="disconnect",outcome="failed"} 0"#,
            r#"wsgw_function_call_seconds_count{function="message"} 0"#,
            r#"wsgw_push_calls_total{route="/batch",status="200"} 0"#,
            r#"wsgw_push_recipients_total{result="sent"} 0"#,
            r#"wsgw_push_recipients_total{result="gone"} 0"#,
            r#"wsgw_push_recipients_total{result="overflow"} 0"#,
            r#"wsgw_store_calls_total{backend="memory",op="register",outcome="ok"} 0"#,
            r#"wsgw_store_calls_total{backend="memory",op="list_room",outcome="unavailable"} 0"#,
            r#"wsgw_store_calls_total{backend="memory",op="register",outcome="timeout"} 0"#,
            r#"wsgw_store_call_seconds_count{backend="memory",op="sweep"} 0"#,
            r#"wsgw_sweeps_total{outcome="ok"} 0"#,
            r#"wsgw_sweeps_total{outcome="failed"} 0"#,
            r#"wsgw_sweeps_total{outcome="skipped"} 0"#,
            r#"wsgw_swept_records_total 0"#,
            r#"wsgw_sweep_seconds_count 0"#,
        ] {
            assert!(text.lines().any(|l| l == sample), "no {sample}:\n{text}");
        }
    }
}
