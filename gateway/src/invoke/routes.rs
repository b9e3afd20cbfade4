//! AWS-style route selection: a message's route is the value a selection expression reads
//! from its JSON body (`$request.body.action` → `"sendmessage"`), when a route of that name
//! exists; else `$default`.

use std::str::FromStr;

use lifecycle::Payload;
use serde_json::Value;

use super::DEFAULT_ROUTE;
use super::HttpRoutes;

/// A parsed `$request.body.<field>[.<field>…]` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSelection {
    /// The field path into the message's JSON body.
    path: Vec<String>,
}

/// A route selection expression this gateway cannot evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route selection `{expression}`: {why}")]
pub struct BadRouteSelection {
    /// The expression as given.
    expression: String,
    /// What is wrong with it.
    why: &'static str,
}

impl FromStr for RouteSelection {
    type Err = BadRouteSelection;

    fn from_str(expression: &str) -> Result<Self, BadRouteSelection> {
        let bad = |why| BadRouteSelection {
            expression: expression.to_owned(),
            why,
        };
        let fields = expression
            .strip_prefix("$request.body.")
            .ok_or_else(|| bad("only `$request.body.<field>` is supported"))?;
        let path: Vec<String> = fields.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("empty field name"));
        }
        Ok(RouteSelection { path })
    }
}

impl RouteSelection {
    /// The route key `payload` selects, if its body is JSON with a string or number there.
    fn select(&self, payload: &Payload) -> Option<String> {
        let Payload::Text(text) = payload else {
            return None;
        };
        let body: Value = serde_json::from_str(text).ok()?;
        let mut at = &body;
        for field in &self.path {
            at = at.get(field)?;
        }
        match at {
            Value::String(key) => Some(key.clone()),
            Value::Number(key) => Some(key.to_string()),
            Value::Bool(key) => Some(key.to_string()),
            _ => None,
        }
    }
}

/// The route `payload` takes under `routes`, or `None` when none does.
pub(super) fn pick(routes: &HttpRoutes, payload: &Payload) -> Option<String> {
    let selected = routes
        .selection
        .as_ref()
        .and_then(|selection| selection.select(payload))
        .filter(|key| routes.custom.contains_key(key));
    selected.or_else(|| routes.default.as_ref().map(|_| DEFAULT_ROUTE.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn routes(default: bool) -> HttpRoutes {
        HttpRoutes {
            connect: None,
            disconnect: None,
            default: default.then(|| "http://f/default".to_owned()),
            custom: BTreeMap::from([("sendmessage".to_owned(), "http://f/send".to_owned())]),
            selection: Some("$request.body.action".parse().unwrap()),
            two_way: Default::default(),
        }
    }

    fn text(body: &str) -> Payload {
        Payload::Text(body.to_owned())
    }

    #[test]
    fn the_body_picks_the_route_else_default() {
        let with_default = routes(true);
        let send = text(r#"{"action":"sendmessage","data":"hi"}"#);
        assert_eq!(pick(&with_default, &send).as_deref(), Some("sendmessage"));
        for other in [
            text(r#"{"action":"dance"}"#),
            text("not json"),
            text(r#"{"data":1}"#),
            Payload::Binary(vec![1]),
        ] {
            assert_eq!(pick(&with_default, &other).as_deref(), Some("$default"));
            assert_eq!(pick(&routes(false), &other), None);
        }
        assert_eq!(pick(&routes(false), &send).as_deref(), Some("sendmessage"));
    }

    #[test]
    fn only_body_expressions_parse() {
        assert!("$request.body.action".parse::<RouteSelection>().is_ok());
        assert!("$request.body.a.b".parse::<RouteSelection>().is_ok());
        assert!("$request.header.x".parse::<RouteSelection>().is_err());
        assert!("$request.body.".parse::<RouteSelection>().is_err());
    }
}
