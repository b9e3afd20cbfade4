//! CloudFormation's intrinsic functions, as WebSocket API templates use them: `Ref`,
//! `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If` with
//! `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` on conditions; in the short form (`!Ref`)
//! and the long one (`{"Fn::Sub": …}`). A value is resolved only where the node reads it,
//! so a template's IAM roles and policies never have to resolve.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as Yaml;

use super::SamError;

/// What `Ref` and `Fn::GetAtt` of a resource give.
pub trait Names {
    /// `Ref` of resource `logical_id`, if it is one.
    fn reference(&self, logical_id: &str) -> Option<String>;
    /// `Fn::GetAtt` of `logical_id`'s `attribute`.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<String, SamError>;
}

/// Parameters, pseudo parameters and conditions, with the resources' names.
pub struct Scope<'a> {
    /// Parameters by name (pseudo parameters included).
    pub parameters: BTreeMap<String, String>,
    /// Conditions by name, evaluated.
    pub conditions: BTreeMap<String, bool>,
    /// The resources.
    pub names: &'a dyn Names,
}

fn bad(what: impl Into<String>) -> SamError {
    SamError::Template(what.into())
}

/// The intrinsic function a value is, if any: its name and argument.
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = match name {
                "Ref" | "Condition" => name.to_owned(),
                other => format!("Fn::{other}"),
            };
            Some((long, &tagged.value))
        }
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_owned(), argument))
        }
        _ => None,
    }
}

impl Scope<'_> {
    /// `value` with every intrinsic function in it resolved, as JSON.
    pub fn resolve(&self, value: &Yaml) -> Result<Json, SamError> {
        if let Some((name, argument)) = intrinsic(value) {
            return self.call(&name, argument);
        }
        Ok(match value {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(items) => Json::Array(
                items
                    .iter()
                    .map(|item| self.resolve(item))
                    .collect::<Result<_, _>>()?,
            ),
            Yaml::Mapping(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let key = key
                        .as_str()
                        .ok_or_else(|| bad(format!("a key that is not a string: {key:?}")))?;
                    out.insert(key.to_owned(), self.resolve(item)?);
                }
                Json::Object(out)
            }
            Yaml::Tagged(tagged) => return Err(bad(format!("unknown tag {}", tagged.tag))),
        })
    }

    /// `value` resolved to a string (numbers and booleans as CloudFormation writes them).
    pub fn string(&self, value: &Yaml) -> Result<String, SamError> {
        text(&self.resolve(value)?)
    }

    fn call(&self, name: &str, argument: &Yaml) -> Result<Json, SamError> {
        match name {
            "Ref" => {
                let target = self.string(argument)?;
                if target == "AWS::NoValue" {
                    // The property is as if not written.
                    return Ok(Json::Null);
                }
                self.reference(&target).map(Json::String)
            }
            "Fn::GetAtt" => {
                let (id, attribute) = match self.resolve(argument)? {
                    Json::String(path) => {
                        let (id, attribute) = path
                            .split_once('.')
                            .ok_or_else(|| bad(format!("Fn::GetAtt `{path}`")))?;
                        (id.to_owned(), attribute.to_owned())
                    }
                    Json::Array(parts) if parts.len() == 2 => (text(&parts[0])?, text(&parts[1])?),
                    other => return Err(bad(format!("Fn::GetAtt {other}"))),
                };
                self.names.attribute(&id, &attribute).map(Json::String)
            }
            "Fn::Sub" => self.sub(argument).map(Json::String),
            "Fn::Join" => {
                let (delimiter, items) = self.pair(argument, "Fn::Join")?;
                let delimiter = text(&delimiter)?;
                let items = list(items, "Fn::Join")?;
                let parts: Vec<String> = items.iter().map(text).collect::<Result<_, _>>()?;
                Ok(Json::String(parts.join(&delimiter)))
            }
            "Fn::Select" => {
                let (index, items) = self.pair(argument, "Fn::Select")?;
                let index: usize = text(&index)?
                    .parse()
                    .map_err(|_| bad("Fn::Select: the index is not a number"))?;
                list(items, "Fn::Select")?
                    .get(index)
                    .cloned()
                    .ok_or_else(|| bad("Fn::Select: the index is past the list"))
            }
            "Fn::Split" => {
                let (delimiter, source) = self.pair(argument, "Fn::Split")?;
                let (delimiter, source) = (text(&delimiter)?, text(&source)?);
                Ok(Json::Array(
                    source
                        .split(delimiter.as_str())
                        .map(|part| Json::String(part.to_owned()))
                        .collect(),
                ))
            }
            "Fn::If" => {
                let Yaml::Sequence(items) = argument else {
                    return Err(bad("Fn::If takes [condition, then, else]"));
                };
                let [condition, then, otherwise] = items.as_slice() else {
                    return Err(bad("Fn::If takes [condition, then, else]"));
                };
                let condition = self.string(condition)?;
                let holds = *self
                    .conditions
                    .get(&condition)
                    .ok_or_else(|| bad(format!("Fn::If: no condition `{condition}`")))?;
                self.resolve(if holds { then } else { otherwise })
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                self.condition_value(name, argument).map(Json::Bool)
            }
            other => Err(bad(format!("{other} is not supported"))),
        }
    }

    fn reference(&self, target: &str) -> Result<String, SamError> {
        if let Some(value) = self.parameters.get(target) {
            return Ok(value.clone());
        }
        self.names
            .reference(target)
            .ok_or_else(|| bad(format!("Ref to `{target}`: no such parameter or resource")))
    }

    /// A two-item list's items, resolved.
    fn pair(&self, argument: &Yaml, what: &str) -> Result<(Json, Json), SamError> {
        match self.resolve(argument)? {
            Json::Array(mut items) if items.len() == 2 => {
                let second = items.pop().unwrap_or(Json::Null);
                let first = items.pop().unwrap_or(Json::Null);
                Ok((first, second))
            }
            _ => Err(bad(format!("{what} takes two arguments"))),
        }
    }

    /// `Fn::Sub`: `${Name}`, `${Resource.Attribute}` and `${!Literal}` in a string, with
    /// the variables of the two-item form first.
    fn sub(&self, argument: &Yaml) -> Result<String, SamError> {
        let (template, variables) = match argument {
            Yaml::Sequence(items) if items.len() == 2 => {
                let variables = match self.resolve(&items[1])? {
                    Json::Object(map) => map
                        .into_iter()
                        .map(|(k, v)| Ok((k, text(&v)?)))
                        .collect::<Result<BTreeMap<_, _>, SamError>>()?,
                    _ => return Err(bad("Fn::Sub's variables are not a mapping")),
                };
                (self.string(&items[0])?, variables)
            }
            other => (self.string(other)?, BTreeMap::new()),
        };
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| bad(format!("Fn::Sub: an unclosed ${{ in `{template}`")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(value);
            } else if let Some((id, attribute)) = name.split_once('.') {
                out.push_str(&self.names.attribute(id, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A condition function's value.
    pub fn condition_value(&self, name: &str, argument: &Yaml) -> Result<bool, SamError> {
        let operands = |what: &str| -> Result<Vec<&Yaml>, SamError> {
            match argument {
                Yaml::Sequence(items) => Ok(items.iter().collect()),
                _ => Err(bad(format!("{what} takes a list"))),
            }
        };
        match name {
            "Fn::Equals" => {
                let items = operands("Fn::Equals")?;
                let [a, b] = items.as_slice() else {
                    return Err(bad("Fn::Equals takes two values"));
                };
                Ok(text(&self.resolve(a)?)? == text(&self.resolve(b)?)?)
            }
            "Fn::Not" => {
                let items = operands("Fn::Not")?;
                let [inner] = items.as_slice() else {
                    return Err(bad("Fn::Not takes one condition"));
                };
                Ok(!self.condition(inner)?)
            }
            "Fn::And" => Ok(operands("Fn::And")?
                .into_iter()
                .map(|c| self.condition(c))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .all(|c| c)),
            "Fn::Or" => Ok(operands("Fn::Or")?
                .into_iter()
                .map(|c| self.condition(c))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .any(|c| c)),
            "Condition" => {
                let name = self.string(argument)?;
                self.conditions
                    .get(&name)
                    .copied()
                    .ok_or_else(|| bad(format!("no condition `{name}`")))
            }
            other => Err(bad(format!("{other} is not a condition"))),
        }
    }

    /// A condition: a condition function, or the name of one.
    pub fn condition(&self, value: &Yaml) -> Result<bool, SamError> {
        match intrinsic(value) {
            Some((name, argument)) => self.condition_value(&name, argument),
            None => {
                let name = self.string(value)?;
                self.conditions
                    .get(&name)
                    .copied()
                    .ok_or_else(|| bad(format!("no condition `{name}`")))
            }
        }
    }
}

/// A resolved scalar as a string.
pub fn text(value: &Json) -> Result<String, SamError> {
    match value {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(bad(format!("expected a string, found {other}"))),
    }
}

fn list(value: Json, what: &str) -> Result<Vec<Json>, SamError> {
    match value {
        Json::Array(items) => Ok(items),
        _ => Err(bad(format!("{what} takes a list"))),
    }
}
