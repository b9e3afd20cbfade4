//! [`conformance_tests!`]: one test per scenario, plus the model check, for a backend.

/// Expands to one `#[test]` per scenario of [`SCENARIOS`](crate::SCENARIOS) and a
/// `model_check` test, all against `$harness`: an expression whose type implements
/// [`Harness`](crate::Harness).
///
/// - The expression is evaluated **once per test** (28 times), and must not need a runtime
///   (the model check evaluates it before building its own): keep it a cheap constructor,
///   e.g. one that reads a server URL from the environment, and let
///   [`Harness::open`](crate::Harness::open) do the per-scenario work.
/// - Each test runs on its own multi-thread tokio runtime of two workers, built by this
///   crate: the calling crate needs no `tokio` dependency (nor `async-trait`: implement
///   `Harness` with `#[conformance::async_trait]`).
/// - The model check runs [`cases_from_env`](crate::cases_from_env) random histories
///   (`CONFORMANCE_CASES`, default [`DEFAULT_CASES`](crate::DEFAULT_CASES) = 256, what CI
///   demands).
///
/// The list of names below must match `SCENARIOS`; the conformance crate's own tests check
/// that it does.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        /// The scenario names this expansion covers (checked against `SCENARIOS`).
        #[allow(dead_code)]
        pub const COVERED: &[&str] = &[
            "register_grants_lease_from_store_clock",
            "register_replaces_existing_record",
            "register_revives_expired_id",
            "register_rejects_bad_ttl_and_writes_nothing",
            "max_size_values_round_trip",
            "renew_extends_live_lease",
            "renew_after_expiry_is_not_found",
            "renew_after_remove_is_not_found",
            "renew_of_unknown_id_is_not_found",
            "renew_rejects_bad_ttl_and_keeps_lease",
            "remove_is_idempotent",
            "remove_of_expired_record_answers_false",
            "get_of_absent_id_is_none",
            "lease_ends_exactly_at_expiry",
            "list_of_empty_room_is_one_empty_page",
            "list_rejects_bad_page_sizes",
            "list_orders_ids_by_bytes",
            "list_never_returns_expired_records",
            "pagination_returns_each_id_once",
            "page_tokens_survive_a_text_round_trip",
            "walk_during_changes_never_duplicates",
            "rooms_are_isolated",
            "list_room_equals_a_walk_of_pages",
            "count_counts_only_live_members_of_the_room",
            "sweep_deletes_only_expired_records",
            "concurrent_register_of_200_ids",
            "concurrent_register_of_one_id_leaves_one_record",
        ];

        $crate::__scenario_tests!($harness;
            register_grants_lease_from_store_clock,
            register_replaces_existing_record,
            register_revives_expired_id,
            register_rejects_bad_ttl_and_writes_nothing,
            max_size_values_round_trip,
            renew_extends_live_lease,
            renew_after_expiry_is_not_found,
            renew_after_remove_is_not_found,
            renew_of_unknown_id_is_not_found,
            renew_rejects_bad_ttl_and_keeps_lease,
            remove_is_idempotent,
            remove_of_expired_record_answers_false,
            get_of_absent_id_is_none,
            lease_ends_exactly_at_expiry,
            list_of_empty_room_is_one_empty_page,
            list_rejects_bad_page_sizes,
            list_orders_ids_by_bytes,
            list_never_returns_expired_records,
            pagination_returns_each_id_once,
            page_tokens_survive_a_text_round_trip,
            walk_during_changes_never_duplicates,
            rooms_are_isolated,
            list_room_equals_a_walk_of_pages,
            count_counts_only_live_members_of_the_room,
            sweep_deletes_only_expired_records,
            concurrent_register_of_200_ids,
            concurrent_register_of_one_id_leaves_one_record,
        );

        #[test]
        fn model_check() {
            let harness = ::std::sync::Arc::new($harness);
            let cases = $crate::cases_from_env();
            if let Err(why) = $crate::model_check(harness, cases) {
                panic!("model check failed: {why}");
            }
        }
    };
}

/// One `#[test]` per name, running the scenario of that name.
#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_tests {
    ($harness:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::__block_on(async {
                    $crate::__run_named(&$harness, stringify!($name)).await
                });
            }
        )*
    };
}

/// Runs `future` to completion on a fresh multi-thread runtime of two workers (what each
/// generated test does, so the calling crate needs no tokio of its own).
#[doc(hidden)]
pub fn __block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance test")
        .block_on(future)
}

/// Runs the scenario called `name` against `harness`; panics with the failure.
#[doc(hidden)]
pub async fn __run_named<H: crate::Harness>(harness: &H, name: &str) {
    let scenario = crate::SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario named {name}"));
    if let Some((_, why)) = harness.known_limits().iter().find(|(n, _)| *n == name) {
        eprintln!("{name}: not run against this server: {why}");
        return;
    }
    if let Err(failure) = crate::run_scenario(harness, scenario.run).await {
        panic!("{} ({}): {failure}", scenario.name, scenario.clause);
    }
}
