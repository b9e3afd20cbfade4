//! Where the functions run, as settings: an app linked in, or HTTP functions by route.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use lifecycle::App;

use super::{FunctionCodec, RouteSelection};

/// The functions reached over HTTP, by route, as a cloud gateway's integrations.
#[derive(Debug, Clone)]
pub struct HttpRoutes {
    /// The register / `$connect` function; none accepts every connection.
    pub connect: Option<String>,
    /// The cleanup / `$disconnect` function; none calls nothing.
    pub disconnect: Option<String>,
    /// The transport / `$default` function: messages no other route takes.
    pub default: Option<String>,
    /// Named routes (`sendmessage` → URL), chosen by [`HttpRoutes::selection`].
    pub custom: BTreeMap<String, String>,
    /// How a message picks its route (AWS `$request.body.action`); none sends all to
    /// `$default`.
    pub selection: Option<RouteSelection>,
    /// Routes whose function's answer goes back to the caller (AWS's two-way routes: a
    /// route response on the route), whatever `route_responses` says for the rest.
    pub two_way: BTreeSet<String>,
}

impl HttpRoutes {
    /// register, transport, cleanup: the Tencent layout (and AWS without custom routes).
    pub fn lifecycle(register: &str, transport: &str, cleanup: &str) -> Self {
        HttpRoutes {
            connect: Some(register.to_owned()),
            disconnect: Some(cleanup.to_owned()),
            default: Some(transport.to_owned()),
            custom: BTreeMap::new(),
            selection: None,
            two_way: BTreeSet::new(),
        }
    }
}

/// Where the functions run.
#[derive(Clone)]
pub enum FunctionMode {
    /// An app linked into the node, called with the neutral event.
    InProcess(Arc<dyn App>),
    /// Each event POSTed to a URL in a cloud's dialect.
    Http {
        /// The URLs, by route.
        routes: HttpRoutes,
        /// The event shapes and answer semantics the functions speak.
        dialect: &'static dyn FunctionCodec,
        /// Send a message function's answer body back to the caller (AWS's two-way
        /// routes with a route response); off, answers are dropped as AWS does without one.
        route_responses: bool,
    },
}

impl fmt::Debug for FunctionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FunctionMode::InProcess(app) => f.debug_tuple("InProcess").field(app).finish(),
            FunctionMode::Http {
                routes,
                dialect,
                route_responses,
            } => f
                .debug_struct("Http")
                .field("routes", routes)
                .field("dialect", &dialect.name())
                .field("route_responses", route_responses)
                .finish(),
        }
    }
}

impl FunctionMode {
    /// In words, for the node's first log line.
    pub fn describe(&self) -> String {
        match self {
            FunctionMode::InProcess(_) => "an app, linked in".to_owned(),
            FunctionMode::Http { dialect, .. } => format!("{} functions over HTTP", dialect.name()),
        }
    }
}
