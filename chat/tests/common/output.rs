//! Reading what a child process (the gateway binary, Chromium) writes.

use std::io::{BufRead, BufReader, Read};

/// Reads `output` (a child's stdout or stderr) line by line until `find` picks a value out
/// of a line, then keeps reading the rest on a thread of its own: a child whose pipe has
/// been closed gets a write error on its next line, and Rust's `println!` panics on that.
/// `None` when the output ends (or fails) first.
pub fn find_then_drain<T>(
    output: impl Read + Send + 'static,
    mut find: impl FnMut(&str) -> Option<T>,
) -> Option<T> {
    let mut lines = BufReader::new(output).lines();
    let found = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| find(&line));
    std::thread::spawn(move || lines.for_each(drop));
    found
}

/// Runs `command` to its end (loopback never proxied): its stdout, or a panic with its
/// output when it could not start or did not succeed. `what` names it in the panic.
pub fn succeeds(mut command: std::process::Command, what: &str) -> String {
    let out = command
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}
