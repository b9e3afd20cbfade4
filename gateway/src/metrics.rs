//! What a node does, as metrics: recorded through the `metrics` facade (free when no
//! recorder is installed, as in a library user's process or a test), exposed in
//! Prometheus's text format at `/metrics` on the push listener when the binary installs the
//! recorder ([`install`]).
//!
//! | metric | labels | counts |
//! |---|---|---|
//! | `wsgw_connections_open` (gauge) | | connections this node holds |
//! | `wsgw_tasks_alive` (gauge) | | the runtime's tasks when scraped |
//! | `wsgw_handshakes_total` | `outcome` | accepted, refused, failed, timed_out, full |
//! | `wsgw_closes_total` | `code` | connections ended, by the close code cleanup hears |
//! | `wsgw_function_calls_total` | `function`, `outcome` | connect / message / disconnect: ok, failed, timed_out |
//! | `wsgw_function_call_seconds` (histogram) | `function` | |
//! | `wsgw_push_calls_total` | `route`, `status` | push-back API requests, by route template |
//! | `wsgw_push_recipients_total` | `result` | frames offered to a connection: sent, gone, overflow |
//! | `wsgw_store_calls_total`, `wsgw_store_call_seconds` | `backend`, `op`, `outcome` | see `store_core::Metered` |
//! | `wsgw_sweeps_total`, `wsgw_swept_records_total`, `wsgw_sweep_seconds` | `outcome` | see `store_core::Sweeper` |
//!
//! Every label takes a bounded set of values: no connection id, room or URL is ever a label
//! (a close code outside the ones the protocol and the gateway use is `other`).

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets, seconds: from a linked-in function's sub-millisecond call to a slow
/// HTTP function's timeout.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs this process's Prometheus recorder; its handle renders `/metrics`. Once per
/// process (the recorder is global): a second call is an error.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .map_err(|e| format!("metrics buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics recorder: {e}"))?;
    describe();
    store_core::describe_metrics();
    Ok(handle)
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
    metrics::counter!("wsgw_handshakes_total", "outcome" => outcome).increment(1);
}

/// A connection ended with close `code`.
pub fn closed(code: u16) {
    metrics::counter!("wsgw_closes_total", "code" => code_label(code)).increment(1);
}

/// The codes counted under their own label; any other is `other`.
fn code_label(code: u16) -> &'static str {
    match code {
        1000 => "1000",
        1001 => "1001",
        1002 => "1002",
        1003 => "1003",
        1005 => "1005",
        1006 => "1006",
        1007 => "1007",
        1008 => "1008",
        1009 => "1009",
        1011 => "1011",
        4408 => "4408",
        _ => "other",
    }
}

/// A function call for `function` ended with `outcome` after `took`.
pub fn function_call(function: &'static str, outcome: &'static str, took: Duration) {
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

/// Frames offered to connections: queued, for a connection not here, or to a full queue.
pub fn recipients(sent: u64, gone: u64, overflow: u64) {
    for (result, n) in [("sent", sent), ("gone", gone), ("overflow", overflow)] {
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
}
