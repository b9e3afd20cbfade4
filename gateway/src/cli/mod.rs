//! The node's command line, reusable: [`NodeArgs`] holds every flag of a node (listeners,
//! push API credentials, HTTP functions and their dialect, Alibaba's channel, names,
//! limits, logs) as `clap` arguments a binary flattens into its own, and turns them into
//! the node's settings. What only an app knows (its store, its functions linked in, its
//! page) stays in the app's binary.
//!
//! # Layout
//! - `mod.rs`: [`NodeArgs`] and what it turns into; [`ArgsError`]; logs and exits.
//! - `functions.rs`: [`FunctionArgs`], the functions a node runs itself (`--function`).
//! - `sam/`: [`SamArgs`], a WebSocket API's SAM / CloudFormation template as the node's
//!   routes and functions (`--sam`).
//! - `made_tls.rs`: the push API's certificate the node makes (`--make-tls`).

mod functions;
pub mod made_tls;
pub mod sam;

pub use functions::{FunctionArgs, Step, function_name};
pub use sam::{SamArgs, SamError};

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::PossibleValuesParser;

use crate::channel::aliyun::{AliyunConfig, AliyunConfigError, AppKey, BackendKind, HttpApi};
use crate::config::{CredentialError, Limits, Naming, PushAuth};
use crate::invoke::authorizer::{AuthorizerConfig, IdentitySource};
use crate::invoke::{FunctionMode, HttpRoutes, RouteSelection};
use crate::link::NodeLink;
use crate::tls::TlsFiles;
use crate::wire;

/// A node's flags. (Its `Debug` hides the push token and secret.)
#[derive(clap::Args, Clone)]
pub struct NodeArgs {
    /// Page and WebSocket address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Push-back API address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub push_listen: SocketAddr,
    /// Push-back URL advertised to functions (default: `http://<push-listen>`).
    #[arg(long)]
    pub push_url: Option<String>,
    /// Bearer token for the push-back API.
    #[arg(long, env = "PUSH_TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,
    /// Access key id whose AWS Signature V4 the push-back API accepts (with the secret).
    #[arg(
        long,
        env = "PUSH_AWS_ACCESS_KEY_ID",
        requires = "aws_secret_access_key"
    )]
    pub aws_access_key_id: Option<String>,
    /// Its secret access key.
    #[arg(
        long,
        env = "PUSH_AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "aws_access_key_id"
    )]
    pub aws_secret_access_key: Option<String>,
    /// The dialect HTTP functions speak (events and answers).
    #[arg(long, alias = "event-shape", default_value = "tencent",
          value_parser = PossibleValuesParser::new(wire::names()))]
    pub dialect: String,
    /// HTTP functions: the register / $connect function's URL.
    #[arg(long)]
    pub register_url: Option<String>,
    /// The transport / $default function's URL.
    #[arg(long)]
    pub transport_url: Option<String>,
    /// The cleanup / $disconnect function's URL.
    #[arg(long)]
    pub cleanup_url: Option<String>,
    /// A named route's function, NAME=URL (repeat for more); chosen by --route-selection.
    #[arg(long = "route", value_parser = parse_route)]
    pub routes: Vec<(String, String)>,
    /// Route selection expression, e.g. '$request.body.action'.
    #[arg(long)]
    pub route_selection: Option<RouteSelection>,
    /// Send a message function's answer body back to its caller (AWS route responses).
    #[arg(long)]
    pub route_responses: bool,
    /// A route whose function's answer body goes back to its caller (an AWS route with a
    /// route response); repeat for more. --route-responses does so for every route.
    #[arg(long = "route-response")]
    pub two_way_routes: Vec<String>,
    #[command(flatten)]
    pub hosted: FunctionArgs,
    #[command(flatten)]
    pub template: SamArgs,
    /// Serve Alibaba's channel (on with an app linked in, or with any --aliyun-*-url).
    #[arg(long)]
    pub aliyun: bool,
    /// Alibaba channel: the backend of REGISTER API calls (else calls go to the functions).
    #[arg(long)]
    pub aliyun_register_url: Option<String>,
    /// Alibaba channel: the backend of UNREGISTER API calls.
    #[arg(long)]
    pub aliyun_unregister_url: Option<String>,
    /// Alibaba channel: the base URL of other API calls (their path appended).
    #[arg(long)]
    pub aliyun_api_url: Option<String>,
    /// Alibaba channel: the heartbeat interval told to clients, milliseconds (default 25000,
    /// or half the lease when that is shorter).
    #[arg(long)]
    pub aliyun_keepalive_ms: Option<u64>,
    /// Alibaba channel: another path the notify API answers at on the push listener (as
    /// Alibaba lets each API choose its path, e.g. /notify); repeat for more.
    /// /aliyun/notify always answers (nodes forward notifies there).
    #[arg(long = "aliyun-notify-path")]
    pub aliyun_notify_paths: Vec<String>,
    /// Alibaba: a plain HTTP API on the app listener, PATH=URL (PATH ending in /* takes
    /// every path under it), optionally with ,auth=app or ,auth=anonymous (default: app
    /// when app keys are given); repeat for more.
    #[arg(long = "aliyun-http-api")]
    pub aliyun_http_apis: Vec<String>,
    /// Alibaba: how backends are called: http (services) or fc (Function Compute event
    /// functions: API Gateway's FC event in, the function's return read as the answer).
    #[arg(long, value_enum, default_value_t = BackendKind::Http)]
    pub aliyun_backend: BackendKind,
    /// Alibaba: an app key whose APP signatures the notify API and APP-auth HTTP APIs
    /// take (paired in order with --aliyun-app-secret); repeat for more.
    #[arg(long = "aliyun-app-key", env = "ALIYUN_APP_KEY")]
    pub aliyun_app_keys: Vec<String>,
    /// Alibaba: the secret of the app key given in the same position.
    #[arg(
        long = "aliyun-app-secret",
        env = "ALIYUN_APP_SECRET",
        hide_env_values = true
    )]
    pub aliyun_app_secrets: Vec<String>,
    /// Lease of a connection record, seconds (clients heartbeat every 15 s).
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,
    /// How a linked-in app reaches the connections other nodes hold: `http` (their
    /// push-back API) or a NATS server, nats://host:port, with user:password@ before the
    /// host if NATS asks for them (one binary request per node and broadcast; HTTP where
    /// NATS cannot carry a call).
    #[arg(long, env = "NODE_LINK", hide_env_values = true, default_value = "http",
          value_parser = parse_node_link)]
    pub node_link: NodeLink,
    /// With a NATS node link: broadcasts to a group (a chat room) are one message on the
    /// group's subject, which each node holding members of it serves, instead of a
    /// request with the recipients' ids per node. Every node of the deployment should run
    /// with it: a broadcast waits a while (0.5 s) for a node without it, then reaches
    /// that node's members by their ids.
    #[arg(long, env = "NODE_LINK_GROUPS")]
    pub node_link_groups: bool,
    /// Stage name in events.
    #[arg(long, default_value_t = Naming::default().stage)]
    pub stage: String,
    /// API id (AWS apiId, Tencent serviceName) in events.
    #[arg(long, default_value_t = Naming::default().api_id)]
    pub api_id: String,
    /// A `$connect` REQUEST authorizer (AWS): its function is POSTed AWS's authorizer event
    /// before `$connect` and answers an IAM policy.
    #[arg(long)]
    pub authorizer_url: Option<String>,
    /// What a handshake must carry before the authorizer is asked (else 401), comma
    /// separated: route.request.header.NAME, route.request.querystring.NAME.
    #[arg(long, value_delimiter = ',')]
    pub authorizer_identity_source: Vec<IdentitySource>,
    /// The AWS region in method ARNs.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The AWS account id in method ARNs.
    #[arg(long, default_value = "000000000000")]
    pub aws_account_id: String,
    /// TLS certificate chain (PEM) for both listeners (wss://, https://); re-read on SIGHUP.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// The push listener's own certificate (PEM), when it needs one of its own.
    #[arg(long)]
    pub push_tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    pub push_tls_key: Option<PathBuf>,
    /// Messages of one connection invoked at once where the dialect invokes them
    /// concurrently (AWS); beyond it the node stops reading that client until one is done.
    #[arg(long, default_value_t = Limits::default().max_inflight_per_connection)]
    pub max_inflight_per_connection: usize,
    /// Largest client message, bytes.
    #[arg(long, default_value_t = Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Idle timeout, seconds.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    pub idle_timeout_secs: u64,
    /// Max connection age, seconds.
    #[arg(long, default_value_t = Limits::default().max_connection_age.as_secs())]
    pub max_age_secs: u64,
    /// Messages per second per connection.
    #[arg(long, default_value_t = Limits::default().messages_per_second)]
    pub rate: u32,
    /// Max open connections on this node.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Frames queued for one client at most; one more closes it as too slow (4408).
    #[arg(long, default_value_t = Limits::default().outbound_queue)]
    pub outbound_queue: usize,
    /// Bytes queued for one client at most, the same way.
    #[arg(long, default_value_t = Limits::default().outbound_queue_bytes)]
    pub outbound_queue_bytes: usize,
    /// How long a function may take, milliseconds (then 504 at a handshake); a function
    /// the node runs (--function) is killed past it, and its call fails as timed out.
    #[arg(long, default_value_t = millis(Limits::default().function_timeout))]
    pub function_timeout_ms: u64,
    /// Bytes a socket reads at a time (kept per connection; larger messages still arrive
    /// whole).
    #[arg(long, default_value_t = Limits::default().read_buffer_bytes)]
    pub read_buffer_bytes: usize,
    /// Bytes of outgoing frames gathered into one socket write, at most.
    #[arg(long, default_value_t = Limits::default().write_buffer_bytes)]
    pub write_buffer_bytes: usize,
    /// Seconds a client may take to send a whole request head (a handshake, a push call);
    /// then its connection is closed. A push call's body gets as long again (then 408).
    #[arg(long, default_value_t = Limits::default().header_timeout.as_secs())]
    pub header_timeout_secs: u64,
    /// Bytes of push request bodies held at once before their Signature V4 is checked
    /// (more: 503 at once); also the largest such body (413).
    #[arg(long, default_value_t = Limits::default().pre_auth_body_bytes)]
    pub pre_auth_body_bytes: usize,
    /// Seconds a write to a client may stay pending (it takes nothing); then it is closed
    /// as too slow (4408).
    #[arg(long, default_value_t = Limits::default().write_timeout.as_secs())]
    pub write_timeout_secs: u64,
    /// Seconds between keep-alive pings on a connection (two unanswered close it, 1001):
    /// shorter than the idle timeout of whatever sits between the node and its clients.
    #[arg(long, default_value_t = Limits::default().ping_interval.as_secs())]
    pub ping_interval_secs: u64,
    /// Threads for blocking store calls (sled, SQLite) at most.
    #[arg(long, default_value_t = 16)]
    pub blocking_threads: usize,
    /// Threads running the node's connections and functions (default: one a CPU). Nodes
    /// that share a machine split its CPUs among them: each with all of them, they would
    /// run more workers than there are CPUs, and pay for it in wake-ups and switches.
    #[arg(long)]
    pub worker_threads: Option<std::num::NonZeroUsize>,
    /// Log lines as text or as JSON objects (one per line).
    #[arg(long, default_value = "text", value_parser = PossibleValuesParser::new(["text", "json"]))]
    pub log_format: String,
}

impl std::fmt::Debug for NodeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "***" } else { "none" };
        f.debug_struct("NodeArgs")
            .field("listen", &self.listen)
            .field("push_listen", &self.push_listen)
            .field("push_url", &self.push_url)
            .field("push_token", &hidden(self.push_token.is_some()))
            .field("aws_access_key_id", &self.aws_access_key_id)
            .field(
                "aws_secret_access_key",
                &hidden(self.aws_secret_access_key.is_some()),
            )
            .field("dialect", &self.dialect)
            .field("node_link", &self.node_link.name())
            .field("node_link_groups", &self.node_link_groups)
            .field("limits", &self.limits())
            .field("worker_threads", &self.worker_threads)
            .finish_non_exhaustive()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn parse_node_link(text: &str) -> Result<NodeLink, String> {
    NodeLink::parse(text).map_err(|err| err.to_string())
}

fn parse_route(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, url)) if !name.is_empty() && !url.is_empty() => {
            Ok((name.to_owned(), url.to_owned()))
        }
        _ => Err(format!("`{text}`: expected NAME=URL")),
    }
}

/// Flags that cannot work together, or cannot work at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// Named routes were given for a dialect without them.
    #[error("--route and --route-selection are AWS's: add --dialect aws")]
    RoutesNeedAws,
    /// Named routes were given without a way to pick one.
    #[error("--route needs --route-selection (e.g. '$request.body.action')")]
    RoutesNeedSelection,
    /// One route was given two functions.
    #[error("route `{0}` has two functions (a URL flag and --function, or --function twice)")]
    RouteTwice(String),
    /// The functions the node would run cannot be.
    #[error("--function: {0}")]
    Functions(#[from] function_host::SpecError),
    /// The template cannot run (why, in words).
    #[error("--sam: {0}")]
    Template(String),
    /// The node cannot make or use its own certificate (why, in words).
    #[error("{0}")]
    MadeTls(String),
    /// A push credential is unusable.
    #[error(
        "push API credentials: {0} (--push-token / PUSH_TOKEN, --aws-access-key-id / \
         PUSH_AWS_ACCESS_KEY_ID, --aws-secret-access-key / PUSH_AWS_SECRET_ACCESS_KEY)"
    )]
    Credentials(#[from] CredentialError),
    /// The push API would be open to the network.
    #[error(
        "the push-back API listens off loopback: set --push-token (or PUSH_TOKEN), an AWS \
         key (--aws-access-key-id, --aws-secret-access-key) or Alibaba app keys \
         (--aliyun-app-key, --aliyun-app-secret)"
    )]
    OpenPushApi,
    /// A certificate without its key, or the other way round.
    #[error("{cert} and {key} go together")]
    TlsUnpaired {
        /// The certificate's flag.
        cert: &'static str,
        /// The key's flag.
        key: &'static str,
    },
    /// App keys and secrets do not pair up.
    #[error("{keys} --aliyun-app-key but {secrets} --aliyun-app-secret: give them in pairs")]
    AppKeysUnpaired {
        /// Keys given.
        keys: usize,
        /// Secrets given.
        secrets: usize,
    },
    /// An Alibaba setting is wrong.
    #[error(transparent)]
    Aliyun(#[from] AliyunConfigError),
}

impl NodeArgs {
    /// True when function URLs are given (else the app's functions are linked in).
    pub fn uses_http_functions(&self) -> bool {
        self.register_url.is_some()
            || self.transport_url.is_some()
            || self.cleanup_url.is_some()
            || !self.routes.is_empty()
            || !self.hosted.functions.is_empty()
    }

    /// These flags with `--sam`'s template applied (unchanged without one): the AWS
    /// dialect, the template's stage, route selection, routes (to functions the node runs),
    /// `$connect` authorizer and functions. A route the flags give as well is an error; the
    /// template's notes (what the node does not run) are logged.
    pub fn with_template(mut self) -> Result<NodeArgs, ArgsError> {
        if self.template.make_tls {
            self.make_push_tls()?;
        }
        let place = sam::Place {
            region: &self.region,
            account: &self.aws_account_id,
            api_id: &self.api_id,
        };
        let loaded = sam::load(&self.template, &place);
        let Some(setup) = loaded.map_err(|e| ArgsError::Template(e.to_string()))? else {
            return Ok(self);
        };
        for note in &setup.notes {
            tracing::warn!("{note}");
        }
        "aws".clone_into(&mut self.dialect);
        if let Some(stage) = setup.stage {
            self.stage = stage;
        }
        if self.route_selection.is_none()
            && let Some(selection) = setup.route_selection
        {
            self.route_selection = Some(selection.parse().map_err(
                |e: crate::invoke::BadRouteSelection| {
                    ArgsError::Template(format!("RouteSelectionExpression: {e}"))
                },
            )?);
        }
        for (route, arn) in setup.routes {
            // A template's routes are AWS's: only `$`-keys are lifecycle steps (a route
            // named `cleanup` is a named route there).
            let slot = match route.as_str() {
                "$connect" => &mut self.register_url,
                "$disconnect" => &mut self.cleanup_url,
                "$default" => &mut self.transport_url,
                _ => {
                    if self.routes.iter().any(|(name, _)| *name == route) {
                        return Err(ArgsError::RouteTwice(route));
                    }
                    self.routes.push((route, arn));
                    continue;
                }
            };
            if slot.replace(arn).is_some() {
                return Err(ArgsError::RouteTwice(route));
            }
        }
        if let Some((arn, sources)) = setup.authorizer
            && self.authorizer_url.is_none()
        {
            self.authorizer_url = Some(arn);
            self.authorizer_identity_source = sources;
        }
        self.two_way_routes.extend(setup.two_way);
        self.hosted.template_functions = setup.functions;
        Ok(self)
    }

    /// `--make-tls`: the push listener gets a certificate the node makes for AWS's host
    /// name of the API (and loopback), and the functions it runs trust its CA.
    fn make_push_tls(&mut self) -> Result<(), ArgsError> {
        if self.push_tls_cert.is_some() || self.push_tls_key.is_some() {
            return Err(ArgsError::MadeTls(
                "--make-tls makes the push listener's certificate: leave out \
                 --push-tls-cert and --push-tls-key"
                    .into(),
            ));
        }
        let host = format!("{}.execute-api.{}.amazonaws.com", self.api_id, self.region);
        let made = made_tls::make(&host).map_err(ArgsError::MadeTls)?;
        tracing::info!(
            ca = %made.ca.display(),
            %host,
            "the push API serves a certificate the node made (for {host}, localhost and \
             127.0.0.1); its functions trust its CA; to reach it by that name, add \
             `127.0.0.1 {host}` to /etc/hosts and give --push-url https://{host}:PORT"
        );
        self.push_tls_cert = Some(made.files.cert);
        self.push_tls_key = Some(made.files.key);
        self.hosted.extra_env = made_tls::trust(&made.ca);
        Ok(())
    }

    /// Whether a named (not lifecycle) route is given, by URL or as a function.
    fn has_named_routes(&self) -> bool {
        !self.routes.is_empty()
            || self
                .hosted
                .functions
                .iter()
                .any(|(route, _)| Step::of(route) == Step::Named)
    }

    /// The functions the node runs itself (`--function`), if any.
    pub fn function_host(&self) -> Result<Option<Arc<function_host::Host>>, ArgsError> {
        if self.hosted.functions.is_empty() && self.hosted.template_functions.is_empty() {
            return Ok(None);
        }
        let settings = FunctionArgs::settings(&self.region, &self.aws_account_id);
        let specs = self.hosted.specs(self.limits().function_timeout);
        Ok(Some(Arc::new(function_host::Host::new(settings, specs)?)))
    }

    /// The HTTP functions the flags name, if any; `Err` when the route flags cannot work.
    pub fn http_functions(&self) -> Result<Option<FunctionMode>, ArgsError> {
        if (self.route_selection.is_some() || self.has_named_routes()) && self.dialect != "aws" {
            return Err(ArgsError::RoutesNeedAws);
        }
        if self.has_named_routes() && self.route_selection.is_none() {
            return Err(ArgsError::RoutesNeedSelection);
        }
        if !self.uses_http_functions() {
            return Ok(None);
        }
        let dialect = wire::by_name(&self.dialect).expect("clap allows only known dialects");
        let mut routes = HttpRoutes {
            connect: self.register_url.clone(),
            disconnect: self.cleanup_url.clone(),
            default: self.transport_url.clone(),
            custom: self.routes.iter().cloned().collect::<BTreeMap<_, _>>(),
            selection: self.route_selection.clone(),
            two_way: self.two_way_routes.iter().cloned().collect(),
        };
        for (route, _) in &self.hosted.functions {
            let arn = crate::invoke::hosted::arn(
                &self.region,
                &self.aws_account_id,
                &function_name(route),
            );
            let slot = match Step::of(route) {
                Step::Connect => &mut routes.connect,
                Step::Disconnect => &mut routes.disconnect,
                Step::Default => &mut routes.default,
                Step::Named => {
                    if routes.custom.insert(route.clone(), arn).is_some() {
                        return Err(ArgsError::RouteTwice(route.clone()));
                    }
                    continue;
                }
            };
            if slot.replace(arn).is_some() {
                return Err(ArgsError::RouteTwice(route.clone()));
            }
        }
        Ok(Some(FunctionMode::Http {
            routes,
            dialect,
            route_responses: self.route_responses,
        }))
    }

    /// The push API's credentials (closed to callers without one when Alibaba app keys are
    /// given); `Err` when one is unusable, or none is set while the push listener is off
    /// loopback.
    pub fn push_auth(&self) -> Result<PushAuth, ArgsError> {
        let auth = PushAuth::new(
            self.push_token.clone(),
            self.aws_access_key_id.clone(),
            self.aws_secret_access_key.clone(),
        )?;
        let mut auth = auth;
        // App keys guard the notify API (APP signatures, even on loopback); every other
        // route then demands its own credentials, and has none without a token or a key.
        auth.closed = !self.aliyun_app_keys.is_empty();
        if !self.push_listen.ip().is_loopback() && !auth.is_required() {
            return Err(ArgsError::OpenPushApi);
        }
        Ok(auth)
    }

    /// Whether Alibaba's devices may connect: asked for, or with a backend URL, or with
    /// `app_linked` (an app's functions take the devices' calls). (Its notify API is
    /// served either way.)
    pub fn aliyun_clients(&self, app_linked: bool) -> bool {
        self.aliyun
            || app_linked
            || self.aliyun_register_url.is_some()
            || self.aliyun_unregister_url.is_some()
            || self.aliyun_api_url.is_some()
    }

    /// Alibaba's channel as the flags set it; `Err` when keys and secrets do not pair up,
    /// or an HTTP API is malformed.
    pub fn aliyun(&self) -> Result<AliyunConfig, ArgsError> {
        let (keys, secrets) = (&self.aliyun_app_keys, &self.aliyun_app_secrets);
        if keys.len() != secrets.len() {
            return Err(ArgsError::AppKeysUnpaired {
                keys: keys.len(),
                secrets: secrets.len(),
            });
        }
        let app_keys: Vec<AppKey> = keys
            .iter()
            .zip(secrets)
            .map(|(key, secret)| AppKey {
                key: key.clone(),
                secret: secret.clone(),
            })
            .collect();
        let http_apis = self
            .aliyun_http_apis
            .iter()
            .map(|given| HttpApi::parse(given, !app_keys.is_empty()))
            .collect::<Result<Vec<_>, _>>()?;
        let lease = Duration::from_secs(self.lease_secs);
        let config = AliyunConfig {
            register_url: self.aliyun_register_url.clone(),
            unregister_url: self.aliyun_unregister_url.clone(),
            api_url: self.aliyun_api_url.clone(),
            keepalive: self.aliyun_keepalive_ms.map_or_else(
                || Duration::from_secs(25).min(lease / 2),
                Duration::from_millis,
            ),
            lease,
            notify_paths: self.aliyun_notify_paths.clone(),
            backend: self.aliyun_backend,
            http_apis,
            app_keys,
            ..AliyunConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The lease of a connection record.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    /// Stage and API id.
    pub fn naming(&self) -> Naming {
        Naming {
            stage: self.stage.clone(),
            api_id: self.api_id.clone(),
        }
    }

    /// The limits the flags set.
    pub fn limits(&self) -> Limits {
        Limits {
            max_inflight_per_connection: self.max_inflight_per_connection,
            max_message_bytes: self.max_message_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connection_age: Duration::from_secs(self.max_age_secs),
            messages_per_second: self.rate,
            max_connections: self.max_connections,
            outbound_queue: self.outbound_queue,
            outbound_queue_bytes: self.outbound_queue_bytes,
            function_timeout: Duration::from_millis(self.function_timeout_ms),
            read_buffer_bytes: self.read_buffer_bytes,
            write_buffer_bytes: self.write_buffer_bytes,
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(self.write_timeout_secs.max(1)),
            ping_interval: Duration::from_secs(self.ping_interval_secs.max(1)),
            pre_auth_body_bytes: self.pre_auth_body_bytes,
        }
    }

    /// The push URL to advertise, for a push listener bound at `push_addr` (so
    /// `--push-listen 127.0.0.1:0` advertises the real port).
    pub fn push_url(&self, push_addr: SocketAddr) -> String {
        let scheme = if self.push_tls().is_some() {
            "https"
        } else {
            "http"
        };
        self.push_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{push_addr}"))
    }

    /// The `$connect` authorizer the flags set, if any.
    pub fn authorizer(&self) -> Option<AuthorizerConfig> {
        Some(AuthorizerConfig {
            url: self.authorizer_url.clone()?,
            identity_sources: self.authorizer_identity_source.clone(),
            region: self.region.clone(),
            account: self.aws_account_id.clone(),
        })
    }

    /// The app listener's TLS files, if given.
    pub fn tls(&self) -> Option<TlsFiles> {
        let (cert, key) = (self.tls_cert.clone()?, self.tls_key.clone()?);
        Some(TlsFiles { cert, key })
    }

    /// The push listener's: its own, else the app listener's.
    pub fn push_tls(&self) -> Option<TlsFiles> {
        match (self.push_tls_cert.clone(), self.push_tls_key.clone()) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => self.tls(),
        }
    }

    /// `Err` when a certificate comes without its key, or a key without its certificate.
    pub fn check_tls(&self) -> Result<(), ArgsError> {
        let pairs = [
            (
                "--tls-cert",
                self.tls_cert.is_some(),
                "--tls-key",
                self.tls_key.is_some(),
            ),
            (
                "--push-tls-cert",
                self.push_tls_cert.is_some(),
                "--push-tls-key",
                self.push_tls_key.is_some(),
            ),
        ];
        for (cert, has_cert, key, has_key) in pairs {
            if has_cert != has_key {
                return Err(ArgsError::TlsUnpaired { cert, key });
            }
        }
        Ok(())
    }

    /// A multi-threaded runtime whose blocking pool (where the embedded stores run every
    /// call) holds at most `--blocking-threads`: a join storm would otherwise start
    /// hundreds of threads, each keeping its stack and malloc arena resident long after.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .enable_all()
            .max_blocking_threads(self.blocking_threads.max(1));
        if let Some(workers) = self.worker_threads {
            builder.worker_threads(workers.get());
        }
        builder.build()
    }

    /// Logs to stderr (so stdout carries only the addresses a script or test reads), as
    /// text or JSON, filtered by `RUST_LOG` (default `info`).
    pub fn init_logs(&self) {
        init_logs(&self.log_format);
    }
}

/// Logs to stderr as `format` (`text` or `json`), filtered by `RUST_LOG` (default `info`).
pub fn init_logs(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if format == "json" {
        logs.json().with_current_span(true).init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Prints `text` to stdout (where a node tells its addresses). A reader of stdout that went
/// away (a test that read the first line, `| head -1`) must not take the node down, as
/// `println!` would by panicking on the broken pipe: the error is ignored.
pub fn announce(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Resolves on Ctrl-C or SIGTERM: a node's usual shutdown signal.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A binary's exit: success, or the error printed on stderr in words (with its causes,
/// each on a line of its own) and exit code 1. (A `main` returning the error would print
/// its `Debug` form instead.)
pub fn exit(result: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    let Err(error) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    let mut text = format!("Error: {error}");
    let mut cause = error.source();
    while let Some(source) = cause {
        text.push_str(&format!("\n  caused by: {source}"));
        cause = source.source();
    }
    eprintln!("{text}");
    std::process::ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn the_socket_flags_set_the_limits() {
        let limits = |args: &[&str]| {
            let args = std::iter::once("node").chain(args.iter().copied());
            Command::try_parse_from(args).unwrap().node.limits()
        };
        let defaults = limits(&[]);
        assert_eq!(defaults.ping_interval, Limits::default().ping_interval);
        assert_eq!(defaults.write_timeout, Limits::default().write_timeout);
        let set = limits(&["--ping-interval-secs", "7", "--write-timeout-secs", "3"]);
        assert_eq!(set.ping_interval, Duration::from_secs(7));
        assert_eq!(set.write_timeout, Duration::from_secs(3));
        // Zero would ping on every pass of a session's loop.
        let zero = limits(&["--ping-interval-secs", "0"]);
        assert_eq!(zero.ping_interval, Duration::from_secs(1));
    }

    #[test]
    fn worker_threads_set_the_runtime_s_workers() {
        let node = |args: &[&str]| {
            let args = std::iter::once("node").chain(args.iter().copied());
            Command::try_parse_from(args).map(|command| command.node)
        };
        let one = node(&["--worker-threads", "1"]).unwrap().runtime().unwrap();
        assert_eq!(one.metrics().num_workers(), 1);
        let three = node(&["--worker-threads", "3"]).unwrap().runtime().unwrap();
        assert_eq!(three.metrics().num_workers(), 3);
        // A node without workers would never run: refused at the command line.
        assert!(node(&["--worker-threads", "0"]).is_err());
    }
}
