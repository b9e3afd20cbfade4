//! What the host does, as metrics (labelled by function name: a fixed, configured set,
//! never an id).

use std::time::Duration;

/// An invocation ended with `outcome` (`ok`, or [`crate::Failure::outcome`]) after `took`.
pub(crate) fn invocation(function: &str, outcome: &'static str, took: Duration) {
    metrics::counter!("wsgw_function_invocations_total", "function" => function.to_owned(),
        "outcome" => outcome)
    .increment(1);
    metrics::histogram!("wsgw_function_invocation_seconds", "function" => function.to_owned())
        .record(took.as_secs_f64());
}

/// An instance started (a cold start); `live` instances of the function now.
pub(crate) fn instance_started(function: &str, live: usize) {
    metrics::counter!("wsgw_function_cold_starts_total", "function" => function.to_owned())
        .increment(1);
    metrics::gauge!("wsgw_function_instances", "function" => function.to_owned()).set(live as f64);
}

/// An instance ended; `live` instances of the function now.
pub(crate) fn instance_ended(function: &str, live: usize) {
    metrics::gauge!("wsgw_function_instances", "function" => function.to_owned()).set(live as f64);
}

/// An instance finished its init (start → first `invocation/next`) in `took`.
pub(crate) fn init_done(function: &str, took: Duration) {
    metrics::histogram!("wsgw_function_init_seconds", "function" => function.to_owned())
        .record(took.as_secs_f64());
}
