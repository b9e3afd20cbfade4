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
/// The tests come from the one list of scenarios, [`with_scenarios!`](crate::with_scenarios),
/// as [`SCENARIOS`](crate::SCENARIOS) does; the expansion also defines `COVERED`, the names
/// of the tests it generated.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::with_scenarios!($crate::__scenario_tests; $harness);

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

/// One `#[test]` per scenario of the list, running the scenario of that name, and
/// `COVERED`, their names.
#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_tests {
    ($harness:expr; $($clause:literal => $name:ident,)*) => {
        /// The scenario names this expansion covers (checked against `SCENARIOS`).
        #[allow(dead_code)]
        pub const COVERED: &[&str] = &[$(stringify!($name),)*];

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
