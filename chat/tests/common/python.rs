//! The Python the cloud-client tests run (`TEST_PYTHON`, which scripts/test sets to the
//! venv it makes with boto3, requests and websockets; else `python3`), and their scripts.

use std::path::PathBuf;

/// The interpreter.
pub fn python() -> String {
    std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A script of `tests/clouds/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clouds")
        .join(name)
}
