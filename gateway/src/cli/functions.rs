//! The flags of the functions a node runs itself: `--function ROUTE=COMMAND` and the
//! limits Lambda would give them. Each becomes a hosted function (see
//! [`function_host`]) named after its route, routed by its ARN.

use std::time::Duration;

use function_host::{FunctionSpec, HostSettings};

/// Functions the node starts and supervises.
#[derive(clap::Args, Debug, Clone)]
pub struct FunctionArgs {
    /// A function the node runs itself, ROUTE=COMMAND (repeat for more). ROUTE is
    /// $connect, $disconnect, $default, a named route of --route-selection, or register,
    /// transport, cleanup; COMMAND runs under `sh -c` with the Lambda Runtime API and
    /// Lambda's environment, e.g. 'python3 -m awslambdaric app.handler' (`_HANDLER` is
    /// the command's last word).
    #[arg(long = "function", value_parser = parse_function)]
    pub functions: Vec<(String, String)>,
    /// Instances of one function at most; more invocations wait for one.
    #[arg(long, default_value_t = 10)]
    pub function_concurrency: usize,
    /// Seconds a function's instance may sit idle before it is stopped.
    #[arg(long, default_value_t = 300)]
    pub function_idle_secs: u64,
    /// Memory size told to functions, MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; not enforced).
    #[arg(long, default_value_t = 128)]
    pub function_memory_mb: u32,
    /// Functions of a template (`--sam`), as it sets them (not a flag).
    #[arg(skip)]
    pub template_functions: Vec<FunctionSpec>,
    /// Environment every function gets on top of its own (not a flag: `--make-tls`'s CA).
    #[arg(skip)]
    pub extra_env: Vec<(String, String)>,
}

fn parse_function(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((route, command)) if !route.is_empty() && !command.trim().is_empty() => {
            Ok((route.to_owned(), command.to_owned()))
        }
        _ => Err(format!("`{text}`: expected ROUTE=COMMAND")),
    }
}

/// The lifecycle step a ROUTE of `--function` (or of a template) stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `$connect`, `register`.
    Connect,
    /// `$disconnect`, `cleanup`.
    Disconnect,
    /// `$default`, `transport`.
    Default,
    /// A named route.
    Named,
}

impl Step {
    /// What `route` stands for.
    pub fn of(route: &str) -> Step {
        match route {
            "$connect" | "register" => Step::Connect,
            "$disconnect" | "cleanup" => Step::Disconnect,
            "$default" | "transport" => Step::Default,
            _ => Step::Named,
        }
    }
}

/// `_HANDLER` for a `--function` command: its last word, where runtime clients take their
/// handler (`python3 -m awslambdaric app.send` → `app.send`, `src/index.handler` kept
/// whole); a program's path (a custom runtime's `bootstrap`) gives its file name.
fn handler_of(command: &str) -> String {
    let last = command.split_whitespace().last().unwrap_or_default();
    let last = last.trim_matches(|c| c == '\'' || c == '"');
    let file = last.rsplit('/').next().unwrap_or(last);
    if file.contains('.') { last } else { file }.to_owned()
}

/// The function name a route's function gets: the route without its `$`, any character
/// Lambda does not take in a name as `-`.
pub fn function_name(route: &str) -> String {
    route
        .trim_start_matches('$')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl FunctionArgs {
    /// The functions: `--function`'s, each with `timeout` (the node's function timeout),
    /// then a template's with its own settings (the concurrency and idle flags apply to
    /// all).
    pub fn specs(&self, timeout: Duration) -> Vec<FunctionSpec> {
        let templated = self.template_functions.iter().cloned().map(|mut spec| {
            spec.concurrency = self.function_concurrency;
            spec.idle = Duration::from_secs(self.function_idle_secs);
            spec
        });
        let extra = &self.extra_env;
        self.functions
            .iter()
            .map(|(route, command)| {
                let mut spec = FunctionSpec::new(&function_name(route), command);
                spec.timeout = timeout;
                spec.concurrency = self.function_concurrency;
                spec.idle = Duration::from_secs(self.function_idle_secs);
                spec.memory_mb = self.function_memory_mb;
                spec.handler = Some(handler_of(command));
                spec
            })
            .chain(templated)
            .map(|mut spec| {
                spec.env.extend(extra.iter().cloned());
                spec
            })
            .collect()
    }

    /// What the functions are told about where they run.
    pub fn settings(region: &str, account: &str) -> HostSettings {
        HostSettings {
            region: region.to_owned(),
            account: account.to_owned(),
            ..HostSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_functions_and_steps() {
        assert_eq!(function_name("$connect"), "connect");
        assert_eq!(function_name("sendmessage"), "sendmessage");
        assert_eq!(function_name("send.message"), "send-message");
        assert_eq!(Step::of("register"), Step::Connect);
        assert_eq!(Step::of("$disconnect"), Step::Disconnect);
        assert_eq!(Step::of("transport"), Step::Default);
        assert_eq!(Step::of("sendmessage"), Step::Named);
        assert!(parse_function("sendmessage=python3 -m awslambdaric app.send").is_ok());
        assert!(parse_function("sendmessage=").is_err());
        assert!(parse_function("=cmd").is_err());
        assert_eq!(handler_of("python3 -m awslambdaric app.send"), "app.send");
        assert_eq!(handler_of("exec '/opt/fn/bootstrap'"), "bootstrap");
        assert_eq!(
            handler_of("node ric.mjs  src/index.handler "),
            "src/index.handler"
        );
    }
}
