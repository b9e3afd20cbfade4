//! `$connect` REQUEST authorizers, as AWS API Gateway runs them for WebSocket APIs
//! (`--authorizer-url`, `--authorizer-identity-source`): before `$connect`, the handshake's
//! identity sources must all be there (else 401, the authorizer not called); the
//! authorizer gets AWS's REQUEST authorizer event and answers an IAM policy. An explicit
//! `Deny` on the method ARN, or no `Allow` of it, is 403; an authorizer that failed with
//! `Unauthorized` 401; one that failed otherwise, or answered no policy, 500. Allowed, its
//! `principalId` and `context` (with `integrationLatency`) become
//! `requestContext.authorizer` of every event of the connection.
//!
//! Followed: "Controlling access to WebSocket APIs with AWS Lambda REQUEST authorizers" and
//! "Output from an API Gateway Lambda authorizer" (AWS API Gateway developer guide), and
//! captured events (Powertools' test events). Policy wildcards as IAM's: `*` any run of
//! characters (`/` included), `?` one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lifecycle::ConnectionInfo;
use serde_json::{Map, Value, json};

use super::{header_case, hosted, read_capped};
use crate::ids::{now_ms, request_time};

/// Largest authorizer answer read (AWS's limit on an authorizer's result).
const MAX_ANSWER_BYTES: usize = 8 * 1024;

/// Where an identity comes from (`route.request.header.X`, `route.request.querystring.X`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A handshake header (names compared case-insensitively).
    Header(String),
    /// A query-string parameter.
    Query(String),
}

impl std::str::FromStr for IdentitySource {
    type Err = String;

    fn from_str(given: &str) -> Result<Self, String> {
        let given = given.trim();
        if let Some(name) = given.strip_prefix("route.request.header.") {
            return Ok(IdentitySource::Header(name.to_owned()));
        }
        if let Some(name) = given.strip_prefix("route.request.querystring.") {
            return Ok(IdentitySource::Query(name.to_owned()));
        }
        Err(format!(
            "`{given}`: an identity source is route.request.header.NAME or \
             route.request.querystring.NAME"
        ))
    }
}

/// A `$connect` authorizer's settings.
#[derive(Debug, Clone)]
pub struct AuthorizerConfig {
    /// Where the authorizer function is POSTed its event.
    pub url: String,
    /// What the handshake must carry before the authorizer is asked.
    pub identity_sources: Vec<IdentitySource>,
    /// The region and account in the method ARN.
    pub region: String,
    /// The account id in the method ARN.
    pub account: String,
}

/// Why a handshake was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// 401: an identity source is missing, or the authorizer said `Unauthorized`.
    Unauthorized,
    /// 403: the policy does not allow the method ARN.
    Forbidden,
    /// 500: the authorizer failed, or answered no policy (said why, for the log).
    Failed(String),
}

impl Refused {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refused::Unauthorized => 401,
            Refused::Forbidden => 403,
            Refused::Failed(_) => 500,
        }
    }

    /// The body AWS answers with.
    pub fn body(&self) -> Value {
        match self {
            Refused::Unauthorized => json!({ "message": "Unauthorized" }),
            Refused::Forbidden => json!({ "message": "Forbidden" }),
            Refused::Failed(_) => json!({ "message": null }),
        }
    }
}

/// A `$connect` authorizer, ready to call.
#[derive(Debug, Clone)]
pub struct Authorizer {
    /// Its settings.
    config: AuthorizerConfig,
    /// Pooled HTTP client.
    client: reqwest::Client,
    /// The functions the node runs, when the authorizer is one of them (its URL an ARN).
    host: Option<Arc<function_host::Host>>,
}

/// What the node says of itself in the event.
#[derive(Debug, Clone, Copy)]
pub struct Naming<'a> {
    /// The stage.
    pub stage: &'a str,
    /// The API id.
    pub api_id: &'a str,
    /// The domain clients reach (`requestContext.domainName`).
    pub domain: &'a str,
}

impl Authorizer {
    /// The authorizer of `config` (run by `host` when its URL is a hosted function's
    /// ARN); `Err` when no HTTP client can be made.
    pub fn new(
        config: AuthorizerConfig,
        host: Option<Arc<function_host::Host>>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Authorizer {
            config,
            client,
            host,
        })
    }

    /// The authorizer's answer when the node runs it: as Lambda's Invoke API would give
    /// it (a handler's error as a crash with its `errorMessage`).
    async fn call_hosted(
        &self,
        name: &str,
        event: &Value,
    ) -> Result<(bool, reqwest::StatusCode, Vec<u8>), Refused> {
        let body = serde_json::to_vec(event).map_err(|e| Refused::Failed(e.to_string()))?;
        let Some(host) = &self.host else {
            return Err(Refused::Failed(format!(
                "{name}: this node runs no functions"
            )));
        };
        match host.invoke(name, body.into()).await {
            Ok(answer) if answer.len() <= MAX_ANSWER_BYTES => {
                Ok((false, reqwest::StatusCode::OK, answer.to_vec()))
            }
            Ok(_) => Err(Refused::Failed(
                "the authorizer's answer is too long".into(),
            )),
            // `throw new Error("Unauthorized")`: the handler's whole message decides.
            Err(function_host::Failure::Function { message, .. }) => {
                let body =
                    serde_json::to_vec(&json!({ "errorMessage": message })).unwrap_or_default();
                Ok((true, reqwest::StatusCode::OK, body))
            }
            Err(failure) => Err(Refused::Failed(format!("{name}: {failure}"))),
        }
    }

    /// The method ARN of `$connect` on this node.
    fn method_arn(&self, naming: Naming<'_>) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/$connect",
            self.config.region, self.config.account, naming.api_id, naming.stage
        )
    }

    /// Decides `info`'s handshake (request `request_id`, the one its `$connect` event
    /// carries) within `timeout`: `Ok` with what later events carry as
    /// `requestContext.authorizer`, or why not.
    pub async fn authorize(
        &self,
        info: &ConnectionInfo,
        naming: Naming<'_>,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Value, Refused> {
        let present = |source: &IdentitySource| match source {
            IdentitySource::Header(name) => info.header(name).is_some_and(|v| !v.is_empty()),
            IdentitySource::Query(name) => info.query(name).is_some_and(|v| !v.is_empty()),
        };
        if !self.config.identity_sources.iter().all(present) {
            return Err(Refused::Unauthorized);
        }
        let arn = self.method_arn(naming);
        let event = request_event(info, naming, &arn, request_id);
        let started = Instant::now();
        let hosted_name = hosted::function_name(&self.config.url);
        let timeout = hosted_name
            .and_then(|name| hosted::bound(self.host.as_deref(), name))
            .unwrap_or(timeout);
        let call = async {
            if let Some(name) = hosted_name {
                return self.call_hosted(name, &event).await;
            }
            let response = self
                .client
                .post(&self.config.url)
                .json(&event)
                .send()
                .await
                .map_err(|e| Refused::Failed(format!("{}: {e}", self.config.url)))?;
            let crashed = response.headers().contains_key("x-amz-function-error");
            let status = response.status();
            let body = read_capped(response, MAX_ANSWER_BYTES)
                .await
                .map_err(|e| Refused::Failed(format!("reading the answer: {e}")))?;
            Ok::<_, Refused>((crashed, status, body))
        };
        let (crashed, status, body) = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Refused::Failed("the authorizer timed out".into()))??;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if crashed || !status.is_success() {
            // `throw new Error("Unauthorized")` / `raise Exception("Unauthorized")`.
            return Err(match answer.get("errorMessage").and_then(Value::as_str) {
                Some("Unauthorized") => Refused::Unauthorized,
                _ => Refused::Failed(format!("the authorizer failed ({status})")),
            });
        }
        let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        decide(&answer, &arn, latency)
    }
}

/// AWS's REQUEST authorizer event for `$connect`.
fn request_event(info: &ConnectionInfo, naming: Naming<'_>, arn: &str, request_id: &str) -> Value {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Value> = Map::new();
    for (name, value) in &info.headers {
        let name = header_case(name);
        headers.insert(name.clone(), json!(value));
        let values = multi_headers.entry(name).or_insert_with(|| json!([]));
        if let Value::Array(values) = values {
            values.push(json!(value));
        }
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Value> = Map::new();
    for (name, value) in &info.query {
        query.insert(name.clone(), json!(value));
        let values = multi_query.entry(name.clone()).or_insert_with(|| json!([]));
        if let Value::Array(values) = values {
            values.push(json!(value));
        }
    }
    let at = now_ms();
    json!({
        "type": "REQUEST",
        "methodArn": arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": request_id,
            "requestTime": request_time(at),
            "messageDirection": "IN",
            "stage": naming.stage,
            "connectedAt": info.connected_at_ms,
            "requestTimeEpoch": at,
            "identity": { "sourceIp": info.source_ip },
            "requestId": request_id,
            "domainName": naming.domain,
            "connectionId": info.id,
            "apiId": naming.api_id,
        },
    })
}

/// The authorizer's `answer` for `arn`: what events carry, or why not.
fn decide(answer: &Value, arn: &str, latency_ms: u64) -> Result<Value, Refused> {
    let failed = |why: &str| Refused::Failed(why.to_owned());
    let principal = answer
        .get("principalId")
        .and_then(Value::as_str)
        .ok_or_else(|| failed("no principalId"))?;
    let statements = match answer
        .get("policyDocument")
        .and_then(|p| p.get("Statement"))
    {
        Some(Value::Array(statements)) => statements.clone(),
        Some(statement @ Value::Object(_)) => vec![statement.clone()],
        _ => return Err(failed("no policyDocument.Statement")),
    };
    let mut allowed = false;
    for statement in &statements {
        let strings = |field: &str| -> Vec<String> {
            match statement.get(field) {
                Some(Value::String(one)) => vec![one.clone()],
                Some(Value::Array(many)) => many
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let acts = strings("Action")
            .iter()
            .any(|action| wildcard(action, "execute-api:Invoke"));
        let covers = strings("Resource")
            .iter()
            .any(|resource| wildcard(resource, arn));
        if !(acts && covers) {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some(effect) if effect.eq_ignore_ascii_case("deny") => {
                return Err(Refused::Forbidden);
            }
            Some(effect) if effect.eq_ignore_ascii_case("allow") => allowed = true,
            _ => return Err(failed("a statement's Effect is neither Allow nor Deny")),
        }
    }
    if !allowed {
        return Err(Refused::Forbidden);
    }
    let mut authorizer = match answer.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(context)) => {
            if context.values().any(|v| v.is_object() || v.is_array()) {
                return Err(failed("context values are strings, numbers or booleans"));
            }
            context.clone()
        }
        Some(_) => return Err(failed("context is not an object")),
    };
    authorizer.insert("principalId".into(), json!(principal));
    authorizer.insert("integrationLatency".into(), json!(latency_ms));
    Ok(Value::Object(authorizer))
}

/// IAM's wildcards: `*` any run of characters, `?` one; the rest as it is.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    // Greedy matching with one backtrack point: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/$connect";

    fn policy(effect: &str, resource: &str) -> Value {
        json!({
            "principalId": "me",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ]},
            "context": {"tier": 3, "admin": false, "name": "ann"},
        })
    }

    #[test]
    fn policies_are_read_as_aws_reads_them() {
        let allowed = decide(&policy("Allow", ARN), ARN, 7).unwrap();
        assert_eq!(allowed["principalId"], "me");
        assert_eq!(
            (allowed["tier"].as_u64(), allowed["admin"].as_bool()),
            (Some(3), Some(false))
        );
        assert_eq!(allowed["integrationLatency"], 7);
        for resource in [
            "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*",
            "*",
            "arn:aws:execute-api:*:*:abc/*",
        ] {
            assert!(
                decide(&policy("Allow", resource), ARN, 0).is_ok(),
                "{resource}"
            );
        }
        // Two segments where $connect has one: no match, so no Allow.
        let narrow = decide(
            &policy(
                "Allow",
                "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/*",
            ),
            ARN,
            0,
        );
        assert_eq!(narrow, Err(Refused::Forbidden));
        assert_eq!(
            decide(&policy("Deny", ARN), ARN, 0),
            Err(Refused::Forbidden)
        );
        let mut both = policy("Allow", "*");
        both["policyDocument"]["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Action": "execute-api:*", "Effect": "Deny", "Resource": ARN}));
        assert_eq!(
            decide(&both, ARN, 0),
            Err(Refused::Forbidden),
            "an explicit Deny wins"
        );
        assert!(matches!(
            decide(&json!({"statusCode": 401}), ARN, 0),
            Err(Refused::Failed(_))
        ));
        let mut nested = policy("Allow", ARN);
        nested["context"] = json!({"obj": {"a": 1}});
        assert!(matches!(decide(&nested, ARN, 0), Err(Refused::Failed(_))));
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("a*c", "a/b/c"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "abbc"));
        assert!(!wildcard("abc", "abcd"));
        assert!(wildcard("*", ""));
        let long = "a".repeat(10_000);
        assert!(!wildcard(&format!("{}b", "*a".repeat(50)), &long));
    }

    #[test]
    fn identity_sources_parse() {
        assert_eq!(
            "route.request.header.Auth".parse::<IdentitySource>(),
            Ok(IdentitySource::Header("Auth".into()))
        );
        assert_eq!(
            " route.request.querystring.token".parse::<IdentitySource>(),
            Ok(IdentitySource::Query("token".into()))
        );
        assert!("route.request.body.x".parse::<IdentitySource>().is_err());
    }
}
