//! The command that runs a function of each Lambda `Runtime`, and the environment the
//! runtime adds:
//! - `python3.*`: AWS's Python runtime interface client, `python3 -m awslambdaric HANDLER`
//!   (`--python` names the interpreter; it must have `awslambdaric`).
//! - `nodejs*`: AWS's Node.js runtime interface client when `--node-ric` names it
//!   (`aws-lambda-ric`: 4.x needs Node.js 22, 3.x builds natively with cmake and
//!   autotools), else the node's own runtime loop (`node-runtime.mjs`, written to a
//!   private folder of the node's in the temp folder); with `--node-path` on `NODE_PATH` (Lambda's Node.js runtimes carry the AWS
//!   SDK v3 there).
//! - `provided.*`: the `bootstrap` in the code folder.

use super::SamArgs;

/// The Node.js runtime loop: the Lambda Runtime API's client for a handler module.
const NODE_RUNTIME: &str = include_str!("node-runtime.mjs");

/// `text` quoted for `sh`.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The command for `runtime` with `handler`; none for a runtime the node cannot run.
pub fn command(runtime: &str, handler: Option<&str>, args: &SamArgs) -> Option<String> {
    if runtime.starts_with("python3") {
        let handler = handler?;
        Some(format!(
            "exec {} -m awslambdaric {}",
            quoted(&args.python),
            quoted(handler)
        ))
    } else if runtime.starts_with("nodejs") {
        let handler = handler?;
        let script = match &args.node_ric {
            Some(package) => package.join("bin/index.mjs").display().to_string(),
            None => node_runtime()?,
        };
        Some(format!("exec node {} {}", quoted(&script), quoted(handler)))
    } else if runtime.starts_with("provided") {
        Some("exec ./bootstrap".to_owned())
    } else {
        None
    }
}

/// What `runtime` adds to a function's environment.
pub fn environment(runtime: &str, args: &SamArgs) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if runtime.starts_with("nodejs")
        && let Some(dir) = &args.node_path
    {
        let mut path = dir.display().to_string();
        if let Ok(existing) = std::env::var("NODE_PATH")
            && !existing.is_empty()
        {
            path = format!("{path}:{existing}");
        }
        env.push(("NODE_PATH".to_owned(), path));
    }
    // As Lambda names its managed runtimes (`AWS_Lambda_python3.12`).
    if runtime.starts_with("python3") || runtime.starts_with("nodejs") {
        env.push((
            "AWS_EXECUTION_ENV".to_owned(),
            format!("AWS_Lambda_{runtime}"),
        ));
    }
    env
}

/// The Node.js runtime loop's file, in a folder of this process's own (made 0700 with
/// `create_dir`, so nothing another user planted in the shared temp folder is run or
/// written through); none when the temp folder cannot take it.
fn node_runtime() -> Option<String> {
    use std::os::unix::fs::DirBuilderExt;
    static WRITTEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!(
                "wsgw-node-runtime-{}-{:08x}",
                std::process::id(),
                fingerprint(NODE_RUNTIME)
            ));
            std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
            let path = dir.join("node-runtime.mjs");
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .ok()?;
            std::io::Write::write_all(&mut file, NODE_RUNTIME.as_bytes()).ok()?;
            Some(path.display().to_string())
        })
        .clone()
}

/// FNV-1a of `text`: a name that changes with the script.
fn fingerprint(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}
