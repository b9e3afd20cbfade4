//! What a function is (its command, environment and limits) and what the host tells every
//! function (region, account), as settings.

use std::path::PathBuf;
use std::time::Duration;

/// One function: a command that runs a runtime client (`python3 -m awslambdaric app.handler`,
/// a `bootstrap`), and the limits Lambda would give it.
#[derive(Clone)]
pub struct FunctionSpec {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, its ARN, the metrics' label):
    /// letters, digits, `-` and `_`, 64 at most, as Lambda's.
    pub name: String,
    /// Run under `sh -c`, in `dir`.
    pub command: String,
    /// The working directory and `LAMBDA_TASK_ROOT` (none: the node's own directory).
    pub dir: Option<PathBuf>,
    /// `_HANDLER`, when known (a template's `Handler`).
    pub handler: Option<String>,
    /// Environment on top of the node's and Lambda's (a template's `Environment`).
    pub env: Vec<(String, String)>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB (reported, not enforced).
    pub memory_mb: u32,
    /// How long one invocation may run before its instance is killed.
    pub timeout: Duration,
    /// Instances at most at once; invocations beyond wait for one.
    pub concurrency: usize,
    /// An instance idle this long is stopped.
    pub idle: Duration,
}

impl std::fmt::Debug for FunctionSpec {
    // The environment may carry secrets (a template's keys): names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionSpec")
            .field("name", &self.name)
            .field("command", &self.command)
            .field("dir", &self.dir)
            .field("handler", &self.handler)
            .field(
                "env",
                &self.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("memory_mb", &self.memory_mb)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("idle", &self.idle)
            .finish()
    }
}

impl FunctionSpec {
    /// `command` as function `name`, with Lambda's defaults: 128 MB, a 3 s timeout, 10
    /// instances, stopped after 5 idle minutes.
    pub fn new(name: &str, command: &str) -> Self {
        FunctionSpec {
            name: name.to_owned(),
            command: command.to_owned(),
            dir: None,
            handler: None,
            env: Vec::new(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            concurrency: 10,
            idle: Duration::from_secs(300),
        }
    }

    /// Whether `name` is a name Lambda accepts.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// What the host tells every function about where it runs.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, and the functions' ARNs.
    pub region: String,
    /// The account id in the functions' ARNs.
    pub account: String,
    /// How long an instance may take from its start to its first `invocation/next`
    /// (Lambda's init phase: 10 s).
    pub init_timeout: Duration,
    /// Invocations waiting for an instance, per function, at most; beyond, an invocation
    /// fails at once as throttled.
    pub max_pending: usize,
    /// How long a stopping instance gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            region: "us-east-1".into(),
            account: "000000000000".into(),
            init_timeout: Duration::from_secs(10),
            max_pending: 1000,
            stop_grace: Duration::from_secs(2),
        }
    }
}

impl HostSettings {
    /// Function `name`'s ARN, as `Lambda-Runtime-Invoked-Function-Arn` gives it.
    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }
}
