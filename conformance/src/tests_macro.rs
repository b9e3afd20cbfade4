//! [`conformance_tests!`]: one test per scenario, plus the model check, for a backend.

/// Expands to one `#[tokio::test]` per scenario of [`SCENARIOS`](crate::SCENARIOS) and a
/// `model_check` test, all against `$harness` (an expression of a type implementing
/// [`Harness`](crate::Harness) + `Clone`).
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

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn register_grants_lease_from_store_clock() {
            $crate::__run_named(&$harness, "register_grants_lease_from_store_clock").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn register_replaces_existing_record() {
            $crate::__run_named(&$harness, "register_replaces_existing_record").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn register_revives_expired_id() {
            $crate::__run_named(&$harness, "register_revives_expired_id").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn register_rejects_bad_ttl_and_writes_nothing() {
            $crate::__run_named(&$harness, "register_rejects_bad_ttl_and_writes_nothing").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn max_size_values_round_trip() {
            $crate::__run_named(&$harness, "max_size_values_round_trip").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn renew_extends_live_lease() {
            $crate::__run_named(&$harness, "renew_extends_live_lease").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn renew_after_expiry_is_not_found() {
            $crate::__run_named(&$harness, "renew_after_expiry_is_not_found").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn renew_after_remove_is_not_found() {
            $crate::__run_named(&$harness, "renew_after_remove_is_not_found").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn renew_of_unknown_id_is_not_found() {
            $crate::__run_named(&$harness, "renew_of_unknown_id_is_not_found").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn renew_rejects_bad_ttl_and_keeps_lease() {
            $crate::__run_named(&$harness, "renew_rejects_bad_ttl_and_keeps_lease").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn remove_is_idempotent() {
            $crate::__run_named(&$harness, "remove_is_idempotent").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn remove_of_expired_record_answers_false() {
            $crate::__run_named(&$harness, "remove_of_expired_record_answers_false").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn get_of_absent_id_is_none() {
            $crate::__run_named(&$harness, "get_of_absent_id_is_none").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn lease_ends_exactly_at_expiry() {
            $crate::__run_named(&$harness, "lease_ends_exactly_at_expiry").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_of_empty_room_is_one_empty_page() {
            $crate::__run_named(&$harness, "list_of_empty_room_is_one_empty_page").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_rejects_bad_page_sizes() {
            $crate::__run_named(&$harness, "list_rejects_bad_page_sizes").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_orders_ids_by_bytes() {
            $crate::__run_named(&$harness, "list_orders_ids_by_bytes").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_never_returns_expired_records() {
            $crate::__run_named(&$harness, "list_never_returns_expired_records").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn pagination_returns_each_id_once() {
            $crate::__run_named(&$harness, "pagination_returns_each_id_once").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn page_tokens_survive_a_text_round_trip() {
            $crate::__run_named(&$harness, "page_tokens_survive_a_text_round_trip").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn walk_during_changes_never_duplicates() {
            $crate::__run_named(&$harness, "walk_during_changes_never_duplicates").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rooms_are_isolated() {
            $crate::__run_named(&$harness, "rooms_are_isolated").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn list_room_equals_a_walk_of_pages() {
            $crate::__run_named(&$harness, "list_room_equals_a_walk_of_pages").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn count_counts_only_live_members_of_the_room() {
            $crate::__run_named(&$harness, "count_counts_only_live_members_of_the_room").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sweep_deletes_only_expired_records() {
            $crate::__run_named(&$harness, "sweep_deletes_only_expired_records").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_register_of_200_ids() {
            $crate::__run_named(&$harness, "concurrent_register_of_200_ids").await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_register_of_one_id_leaves_one_record() {
            $crate::__run_named(&$harness, "concurrent_register_of_one_id_leaves_one_record").await;
        }

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
