//! `--sam template.yaml`: a WebSocket API's SAM / CloudFormation template, run as it is.
//! The template's API (`AWS::ApiGatewayV2::Api`, `ProtocolType: WEBSOCKET`, its
//! `RouteSelectionExpression`), routes, Lambda proxy integrations, `REQUEST` authorizer and
//! stage become the node's routes; its functions (`AWS::Serverless::Function`,
//! `AWS::Lambda::Function`: `CodeUri`, `Handler`, `Runtime`, `Environment`, `Timeout`,
//! `MemorySize`, with SAM's `Globals`) become functions the node runs, each under the
//! runtime client of its `Runtime`. Parameters take their defaults unless given with
//! `--parameter NAME=VALUE`; what the node cannot run (a DynamoDB table) is named in a
//! note.
//!
//! # Layout
//! - `mod.rs`: [`SamArgs`], [`load`] (template → [`SamSetup`]), [`SamError`].
//! - `intrinsics.rs`: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If`, … resolved.
//! - `runtimes.rs`: the command that runs a function of each `Runtime`.

mod intrinsics;
mod runtimes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use function_host::FunctionSpec;
use serde_yaml_ng::{Mapping, Value as Yaml};

use crate::invoke::authorizer::IdentitySource;
use crate::invoke::hosted;
use intrinsics::{Names, Scope};

/// The template flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SamArgs {
    /// A SAM / CloudFormation template of a WebSocket API: its routes, integrations,
    /// authorizer, stage and functions become the node's (the AWS dialect; functions run by
    /// the node under their runtime's client).
    #[arg(long)]
    pub sam: Option<PathBuf>,
    /// A template parameter's value, NAME=VALUE (repeat for more; else its Default).
    #[arg(long = "parameter", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// A folder on Node.js functions' module path (`NODE_PATH`), e.g. one holding
    /// `@aws-sdk/*`, which Lambda's Node.js runtimes carry.
    #[arg(long)]
    pub node_path: Option<PathBuf>,
    /// The Python that runs Python functions (with `awslambdaric` installed).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// AWS's Node.js runtime interface client (the `aws-lambda-ric` package folder) to run
    /// Node.js functions with; without it, the node's own runtime loop runs them.
    #[arg(long)]
    pub node_ric: Option<PathBuf>,
    /// Serve the push API over TLS with a certificate the node makes (for
    /// {api-id}.execute-api.{region}.amazonaws.com, localhost and 127.0.0.1), its CA handed
    /// to the functions (NODE_EXTRA_CA_CERTS, AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE): functions
    /// that build `https://` + domainName run unchanged.
    #[arg(long)]
    pub make_tls: bool,
}

fn parse_parameter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}`: expected NAME=VALUE")),
    }
}

/// Why a template cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SamError {
    /// The file cannot be read.
    #[error("{path}: {error}")]
    Io {
        /// The template.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// It is not YAML (or JSON).
    #[error("the template is not YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// It is YAML, but not a template the node can run.
    #[error("the template: {0}")]
    Template(String),
}

fn bad(what: impl Into<String>) -> SamError {
    SamError::Template(what.into())
}

/// What a template makes of a node.
#[derive(Debug, Clone, Default)]
pub struct SamSetup {
    /// The stage (`AWS::ApiGatewayV2::Stage`), if the template has one.
    pub stage: Option<String>,
    /// `RouteSelectionExpression`.
    pub route_selection: Option<String>,
    /// Each route's function, as a hosted function's ARN, by route key.
    pub routes: BTreeMap<String, String>,
    /// Route keys whose answers go back to the caller: a route with a
    /// `RouteResponseSelectionExpression` and an `AWS::ApiGatewayV2::RouteResponse`.
    pub two_way: BTreeSet<String>,
    /// The `$connect` authorizer: its function's ARN and identity sources.
    pub authorizer: Option<(String, Vec<IdentitySource>)>,
    /// The functions the node runs.
    pub functions: Vec<FunctionSpec>,
    /// What the node does not run, and what to do about it.
    pub notes: Vec<String>,
}

/// Where a template runs: the names the node gives itself.
#[derive(Debug, Clone)]
pub struct Place<'a> {
    /// `AWS::Region`.
    pub region: &'a str,
    /// `AWS::AccountId`.
    pub account: &'a str,
    /// The API's id (`Ref` of the API).
    pub api_id: &'a str,
}

/// Reads `args`' template (none: `Ok(None)`).
pub fn load(args: &SamArgs, place: &Place<'_>) -> Result<Option<SamSetup>, SamError> {
    let Some(path) = &args.sam else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|error| SamError::Io {
        path: path.clone(),
        error,
    })?;
    let template: Yaml = serde_yaml_ng::from_str(&text)?;
    let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    Template::new(&template, args, place, dir)?
        .setup()
        .map(Some)
}

/// One resource: its type and properties.
struct Resource<'a> {
    kind: String,
    properties: Option<&'a Yaml>,
}

/// A parsed template.
struct Template<'a> {
    args: &'a SamArgs,
    place: &'a Place<'a>,
    /// The template's folder (`CodeUri` is relative to it).
    dir: PathBuf,
    /// The resources whose condition holds, by logical id.
    resources: BTreeMap<String, Resource<'a>>,
    /// SAM's `Globals.Function`.
    globals: Option<&'a Mapping>,
    parameters: BTreeMap<String, String>,
    conditions: BTreeMap<String, bool>,
}

fn get<'a>(value: Option<&'a Yaml>, key: &str) -> Option<&'a Yaml> {
    value?.as_mapping()?.get(key)
}

impl<'a> Template<'a> {
    fn new(
        template: &'a Yaml,
        args: &'a SamArgs,
        place: &'a Place<'a>,
        dir: PathBuf,
    ) -> Result<Self, SamError> {
        let root = Some(template);
        let mut parameters = BTreeMap::from([
            ("AWS::Region".to_owned(), place.region.to_owned()),
            ("AWS::AccountId".to_owned(), place.account.to_owned()),
            ("AWS::Partition".to_owned(), "aws".to_owned()),
            ("AWS::URLSuffix".to_owned(), "amazonaws.com".to_owned()),
            ("AWS::StackName".to_owned(), "local".to_owned()),
        ]);
        let declared = get(root, "Parameters").and_then(Yaml::as_mapping);
        for (name, value) in &args.parameters {
            if !declared.is_some_and(|d| d.contains_key(name.as_str())) {
                return Err(bad(format!(
                    "--parameter {name}: the template has no such parameter"
                )));
            }
            parameters.insert(name.clone(), value.clone());
        }
        for (name, declaration) in declared.into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| bad("a parameter name is not a string"))?;
            if parameters.contains_key(name) {
                continue;
            }
            let default = get(Some(declaration), "Default").ok_or_else(|| {
                bad(format!(
                    "parameter {name} has no Default: give --parameter {name}=VALUE"
                ))
            })?;
            let default = match default {
                Yaml::Sequence(items) => items
                    .iter()
                    .map(|i| intrinsics::text(&serde_json::to_value(i).unwrap_or_default()))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                other => intrinsics::text(&serde_json::to_value(other).unwrap_or_default())?,
            };
            parameters.insert(name.to_owned(), default);
        }
        let mut resources = BTreeMap::new();
        let all = get(root, "Resources")
            .and_then(Yaml::as_mapping)
            .ok_or_else(|| bad("no Resources"))?;
        let mut this = Template {
            args,
            place,
            dir,
            resources: BTreeMap::new(),
            globals: get(get(root, "Globals"), "Function").and_then(Yaml::as_mapping),
            parameters,
            conditions: BTreeMap::new(),
        };
        this.conditions = this.evaluate_conditions(get(root, "Conditions"))?;
        for (id, resource) in all {
            let id = id
                .as_str()
                .ok_or_else(|| bad("a resource id is not a string"))?;
            if let Some(condition) = get(Some(resource), "Condition") {
                let name = condition.as_str().unwrap_or_default();
                if !this.conditions.get(name).copied().unwrap_or(false) {
                    continue;
                }
            }
            let kind = get(Some(resource), "Type")
                .and_then(Yaml::as_str)
                .ok_or_else(|| bad(format!("resource {id} has no Type")))?;
            resources.insert(
                id.to_owned(),
                Resource {
                    kind: kind.to_owned(),
                    properties: get(Some(resource), "Properties"),
                },
            );
        }
        this.resources = resources;
        Ok(this)
    }

    /// The template's conditions, each evaluated (one may name another).
    fn evaluate_conditions(
        &self,
        declared: Option<&Yaml>,
    ) -> Result<BTreeMap<String, bool>, SamError> {
        let mut known = BTreeMap::new();
        let Some(declared) = declared.and_then(Yaml::as_mapping) else {
            return Ok(known);
        };
        let mut pending: Vec<(&str, &Yaml)> = declared
            .iter()
            .filter_map(|(name, value)| Some((name.as_str()?, value)))
            .collect();
        // Each pass settles at least one condition, or none ever will.
        while !pending.is_empty() {
            let before = pending.len();
            let mut error = None;
            pending.retain(|(name, value)| {
                let scope = Scope {
                    parameters: self.parameters.clone(),
                    conditions: known.clone(),
                    names: &NoResources,
                };
                match scope.condition(value) {
                    Ok(holds) => {
                        known.insert((*name).to_owned(), holds);
                        false
                    }
                    Err(err) => {
                        error = Some(err);
                        true
                    }
                }
            });
            if pending.len() == before {
                return Err(error.unwrap_or_else(|| bad("conditions that cannot be evaluated")));
            }
        }
        Ok(known)
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            parameters: self.parameters.clone(),
            conditions: self.conditions.clone(),
            names: self,
        }
    }

    fn of_kind(&self, kind: &str) -> impl Iterator<Item = (&String, &Resource<'a>)> {
        self.resources.iter().filter(move |(_, r)| r.kind == kind)
    }

    /// Property `key` of `resource`, resolved.
    fn property(
        &self,
        resource: &Resource<'_>,
        key: &str,
    ) -> Result<Option<serde_json::Value>, SamError> {
        let resolved = get(resource.properties, key)
            .map(|value| self.scope().resolve(value))
            .transpose()?;
        // `!Ref AWS::NoValue` removes the property.
        Ok(resolved.filter(|value| !value.is_null()))
    }

    fn property_text(
        &self,
        resource: &Resource<'_>,
        key: &str,
    ) -> Result<Option<String>, SamError> {
        self.property(resource, key)?
            .map(|value| intrinsics::text(&value))
            .transpose()
    }

    /// The function a proxy integration's or authorizer's URI names, as its ARN.
    fn function_target(&self, uri: &str, owner: &str) -> Result<String, SamError> {
        let name = hosted::function_name(uri)
            .ok_or_else(|| bad(format!("{owner}: `{uri}` names no Lambda function")))?;
        if !self
            .resources
            .iter()
            .any(|(id, r)| is_function(&r.kind) && self.function_name(id) == name)
        {
            return Err(bad(format!(
                "{owner}: function `{name}` is not in the template"
            )));
        }
        Ok(hosted::arn(self.place.region, self.place.account, name))
    }

    /// A function resource's name (its `FunctionName` when plain, else its logical id).
    fn function_name(&self, id: &str) -> String {
        self.resources
            .get(id)
            .and_then(|r| get(r.properties, "FunctionName"))
            .and_then(Yaml::as_str)
            .unwrap_or(id)
            .to_owned()
    }

    fn setup(&self) -> Result<SamSetup, SamError> {
        let mut setup = SamSetup::default();
        let apis: Vec<_> = self
            .of_kind("AWS::ApiGatewayV2::Api")
            .filter(|(_, api)| {
                get(api.properties, "ProtocolType").and_then(Yaml::as_str) == Some("WEBSOCKET")
            })
            .collect();
        let [(_, api)] = apis.as_slice() else {
            return Err(bad(format!(
                "{} WebSocket APIs (AWS::ApiGatewayV2::Api, ProtocolType: WEBSOCKET); the node runs one",
                apis.len()
            )));
        };
        setup.route_selection = self.property_text(api, "RouteSelectionExpression")?;
        setup.stage = self
            .of_kind("AWS::ApiGatewayV2::Stage")
            .next()
            .map(|(_, stage)| self.property_text(stage, "StageName"))
            .transpose()?
            .flatten();
        let mut integrations = BTreeMap::new();
        for (id, integration) in self.of_kind("AWS::ApiGatewayV2::Integration") {
            let kind = self
                .property_text(integration, "IntegrationType")?
                .unwrap_or_default();
            if kind != "AWS_PROXY" {
                return Err(bad(format!(
                    "integration {id}: IntegrationType {kind}; the node runs AWS_PROXY (Lambda) integrations"
                )));
            }
            let uri = self
                .property_text(integration, "IntegrationUri")?
                .ok_or_else(|| bad(format!("integration {id} has no IntegrationUri")))?;
            integrations.insert(
                id.clone(),
                self.function_target(&uri, &format!("integration {id}"))?,
            );
        }
        let mut authorizers = BTreeMap::new();
        for (id, authorizer) in self.of_kind("AWS::ApiGatewayV2::Authorizer") {
            let kind = self
                .property_text(authorizer, "AuthorizerType")?
                .unwrap_or_default();
            if kind != "REQUEST" {
                return Err(bad(format!(
                    "authorizer {id}: AuthorizerType {kind}; the node runs REQUEST authorizers"
                )));
            }
            let uri = self
                .property_text(authorizer, "AuthorizerUri")?
                .ok_or_else(|| bad(format!("authorizer {id} has no AuthorizerUri")))?;
            let arn = self.function_target(&uri, &format!("authorizer {id}"))?;
            let sources = match self.property(authorizer, "IdentitySource")? {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        intrinsics::text(item)?
                            .parse()
                            .map_err(|e: String| bad(format!("authorizer {id}: {e}")))
                    })
                    .collect::<Result<Vec<IdentitySource>, SamError>>()?,
                _ => Vec::new(),
            };
            authorizers.insert(id.clone(), (arn, sources));
        }
        // The routes a route response names (`RouteId: !Ref SendRoute`).
        let mut answered = BTreeSet::new();
        for (id, response) in self.of_kind("AWS::ApiGatewayV2::RouteResponse") {
            let route = self
                .property_text(response, "RouteId")?
                .ok_or_else(|| bad(format!("route response {id} has no RouteId")))?;
            answered.insert(route);
        }
        for (id, route) in self.of_kind("AWS::ApiGatewayV2::Route") {
            let key = self
                .property_text(route, "RouteKey")?
                .ok_or_else(|| bad(format!("route {id} has no RouteKey")))?;
            let selects = self
                .property_text(route, "RouteResponseSelectionExpression")?
                .is_some();
            match (selects, answered.contains(id)) {
                (true, true) => {
                    setup.two_way.insert(key.clone());
                }
                (true, false) | (false, true) => setup.notes.push(format!(
                    "route {id} is one-way: a two-way route needs both a \
                     RouteResponseSelectionExpression and an AWS::ApiGatewayV2::RouteResponse"
                )),
                (false, false) => {}
            }
            let target = self
                .property_text(route, "Target")?
                .ok_or_else(|| bad(format!("route {id} has no Target")))?;
            let integration = target.strip_prefix("integrations/").unwrap_or(&target);
            let arn = integrations
                .get(integration)
                .ok_or_else(|| bad(format!("route {id}: no integration `{integration}`")))?;
            setup.routes.insert(key.clone(), arn.clone());
            if let Some(authorizer) = self.property_text(route, "AuthorizerId")? {
                if key != "$connect" {
                    return Err(bad(format!("route {id}: authorizers run on $connect only")));
                }
                let found = authorizers
                    .get(&authorizer)
                    .ok_or_else(|| bad(format!("route {id}: no authorizer `{authorizer}`")))?;
                setup.authorizer = Some(found.clone());
            }
        }
        let used: Vec<&String> = integrations
            .values()
            .chain(authorizers.values().map(|(arn, _)| arn))
            .collect();
        for (id, resource) in &self.resources {
            if is_function(&resource.kind) {
                let name = self.function_name(id);
                let arn = hosted::arn(self.place.region, self.place.account, &name);
                if used.contains(&&arn) {
                    setup.functions.push(self.function(id, &name, resource)?);
                } else {
                    setup
                        .notes
                        .push(format!("function {id} is not behind a route: not started"));
                }
            } else if resource.kind == "AWS::DynamoDB::Table" {
                let table = self.reference(id).unwrap_or_else(|| id.clone());
                setup.notes.push(format!(
                    "{id} (AWS::DynamoDB::Table `{table}`) is not run by the node: give its \
                     functions a DynamoDB-compatible server with that table \
                     (AWS_ENDPOINT_URL_DYNAMODB in the node's environment)"
                ));
            } else if !quietly_skipped(&resource.kind) {
                setup
                    .notes
                    .push(format!("{id} ({}) is not run by the node", resource.kind));
            }
        }
        Ok(setup)
    }

    /// Function resource `id` as the node runs it.
    fn function(
        &self,
        id: &str,
        name: &str,
        resource: &Resource<'_>,
    ) -> Result<FunctionSpec, SamError> {
        let serverless = resource.kind == "AWS::Serverless::Function";
        let scope = self.scope();
        // A property of the function, else (SAM) of Globals.Function.
        let setting = |key: &str| -> Option<&Yaml> {
            get(resource.properties, key).or_else(|| {
                serverless
                    .then(|| self.globals.and_then(|g| g.get(key)))
                    .flatten()
            })
        };
        let text = |key: &str| -> Result<Option<String>, SamError> {
            setting(key).map(|v| scope.string(v)).transpose()
        };
        let runtime =
            text("Runtime")?.ok_or_else(|| bad(format!("function {id} has no Runtime")))?;
        let handler = text("Handler")?;
        let code = if serverless {
            text("CodeUri")?
        } else {
            match setting("Code") {
                Some(Yaml::String(path)) => Some(path.clone()),
                Some(_) => {
                    return Err(bad(format!(
                        "function {id}: Code in S3 or inline; give a local folder"
                    )));
                }
                None => None,
            }
        };
        let dir = self.dir.join(code.unwrap_or_else(|| ".".into()));
        let mut spec = FunctionSpec::new(name, "");
        spec.command = runtimes::command(&runtime, handler.as_deref(), self.args)
            .ok_or_else(|| bad(format!("function {id}: runtime {runtime} is not supported (python3.x, nodejs*, provided*)")))?;
        spec.dir = Some(dir);
        spec.handler = handler;
        if let Some(seconds) = text("Timeout")? {
            // Lambda's range: 1 to 900 seconds.
            let seconds: u64 = seconds
                .parse()
                .ok()
                .filter(|s| (1..=900).contains(s))
                .ok_or_else(|| bad(format!("function {id}: Timeout `{seconds}` (1 to 900 s)")))?;
            spec.timeout = Duration::from_secs(seconds);
        }
        if let Some(memory) = text("MemorySize")? {
            spec.memory_mb = memory
                .parse()
                .map_err(|_| bad(format!("function {id}: MemorySize `{memory}`")))?;
        }
        // Globals' variables first, the function's over them.
        let mut env = BTreeMap::new();
        let globals = serverless
            .then(|| get(self.globals.and_then(|g| g.get("Environment")), "Variables"))
            .flatten();
        for variables in [
            globals,
            get(get(resource.properties, "Environment"), "Variables"),
        ]
        .into_iter()
        .flatten()
        {
            for (key, value) in variables.as_mapping().into_iter().flatten() {
                let key = key.as_str().ok_or_else(|| {
                    bad(format!("function {id}: a variable name is not a string"))
                })?;
                env.insert(key.to_owned(), scope.string(value)?);
            }
        }
        spec.env = runtimes::environment(&runtime, self.args)
            .into_iter()
            .chain(env)
            .collect();
        Ok(spec)
    }
}

fn is_function(kind: &str) -> bool {
    kind == "AWS::Serverless::Function" || kind == "AWS::Lambda::Function"
}

/// Resources that need nothing run locally: what the node is (the API's own parts), and
/// what only AWS enforces (permissions, roles).
fn quietly_skipped(kind: &str) -> bool {
    kind.starts_with("AWS::ApiGatewayV2::")
        || kind.starts_with("AWS::IAM::")
        || kind == "AWS::Lambda::Permission"
}

/// Names of nothing, for evaluating conditions (which may not name resources).
struct NoResources;

impl Names for NoResources {
    fn reference(&self, _: &str) -> Option<String> {
        None
    }
    fn attribute(&self, id: &str, attribute: &str) -> Result<String, SamError> {
        Err(bad(format!("a condition names {id}.{attribute}")))
    }
}

impl Names for Template<'_> {
    fn reference(&self, id: &str) -> Option<String> {
        let resource = self.resources.get(id)?;
        Some(match resource.kind.as_str() {
            "AWS::ApiGatewayV2::Api" => self.place.api_id.to_owned(),
            kind if is_function(kind) => self.function_name(id),
            "AWS::DynamoDB::Table" => match get(resource.properties, "TableName") {
                Some(Yaml::String(name)) => name.clone(),
                // `TableName: !Ref Parameter`, the usual spelling.
                Some(value) => Scope {
                    parameters: self.parameters.clone(),
                    conditions: self.conditions.clone(),
                    names: &NoResources,
                }
                .string(value)
                .unwrap_or_else(|_| id.to_owned()),
                None => id.to_owned(),
            },
            _ => id.to_owned(),
        })
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String, SamError> {
        let resource = self
            .resources
            .get(id)
            .ok_or_else(|| bad(format!("Fn::GetAtt {id}.{attribute}: no resource {id}")))?;
        let (region, account) = (self.place.region, self.place.account);
        match (resource.kind.as_str(), attribute) {
            (kind, "Arn") if is_function(kind) => {
                Ok(hosted::arn(region, account, &self.function_name(id)))
            }
            ("AWS::ApiGatewayV2::Api", "ApiEndpoint") => Ok(format!(
                "wss://{}.execute-api.{region}.amazonaws.com",
                self.place.api_id
            )),
            ("AWS::ApiGatewayV2::Api", "ApiId") => Ok(self.place.api_id.to_owned()),
            ("AWS::DynamoDB::Table", "Arn") => Ok(format!(
                "arn:aws:dynamodb:{region}:{account}:table/{}",
                self.reference(id).unwrap_or_default()
            )),
            (kind, _) => Err(bad(format!(
                "Fn::GetAtt {id}.{attribute} ({kind}) is not supported"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
