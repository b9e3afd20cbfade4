//! `conformance --store <URL>`: runs the whole suite against a user's own storage and
//! prints a pass/fail table per contract clause; exits non-zero on any failure.
//!
//! All data goes to one fresh namespace (a table suffix, tree prefix or key prefix) and
//! is deleted through the contract after each scenario; the emptied namespace is left
//! behind and named in the output.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use clap::Parser;
use conformance::{Harness, fresh_namespace, run_all};
use store::{OpenOptions, open_with, redact};
use store_core::{ConnectionStore, Result, SharedClock};

/// Check a connection store against the contract.
#[derive(Debug, Parser)]
#[command(name = "conformance", version)]
struct Args {
    /// The store URL: sled://DIR, sqlite://FILE, postgres://…, mysql://…, s3://…, oss://…
    #[arg(long, env = "STORE_URL", hide_env_values = true)]
    store: String,
    /// Random histories for the model check (0 skips it); 256 is what CI runs.
    #[arg(long, default_value_t = conformance::DEFAULT_CASES)]
    cases: u32,
}

/// Opens every scenario's store from the URL, in the run's one namespace.
struct UrlHarness {
    /// The user's store URL (may hold a password: never printed unredacted).
    url: String,
    /// This run's namespace.
    namespace: String,
}

#[async_trait]
impl Harness for UrlHarness {
    async fn open(&self, _namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        open_with(
            &self.url,
            OpenOptions {
                clock,
                namespace: Some(self.namespace.clone()),
            },
        )
        .await
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let namespace = fresh_namespace();
    println!("store:     {}", redact(&args.store));
    println!("namespace: {namespace}");
    let harness = Arc::new(UrlHarness {
        url: args.store.clone(),
        namespace,
    });
    // Fail fast, with the store's own words, when the URL cannot be opened at all.
    if let Err(err) = harness.open("probe", store_core::system_clock()).await {
        eprintln!("cannot open the store: {err}");
        return ExitCode::from(2);
    }
    let report = run_all(harness, args.cases).await;
    println!("{report}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
