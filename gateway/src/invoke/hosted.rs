//! Functions the node runs itself ([`function_host`]): a route whose target is a Lambda
//! function's ARN (or API Gateway's integration URI around one, as templates write it) is
//! invoked through the node's Lambda Runtime API instead of over HTTP. The event and the
//! answer are the dialect's, exactly as an HTTP function gets and gives them.

use std::time::Duration;

use function_host::{Failure, Host};

use super::InvokeError;

/// The hosted function `target` names: `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
/// (a `:QUALIFIER` after it is ignored: the node runs one version), or
/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/<that ARN>/invocations`.
pub fn function_name(target: &str) -> Option<&str> {
    let arn = match target.strip_prefix("arn:aws:apigateway:") {
        Some(rest) => {
            let (_, path) = rest.split_once(":lambda:path/2015-03-31/functions/")?;
            path.strip_suffix("/invocations")?
        }
        None => target,
    };
    let mut parts = arn.strip_prefix("arn:aws:lambda:")?.split(':');
    let (_region, _account) = (parts.next()?, parts.next()?);
    let (kind, name) = (parts.next()?, parts.next()?);
    (kind == "function" && !name.is_empty()).then_some(name)
}

/// The ARN a hosted function `name` is routed by.
pub fn arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// How long a call of hosted function `name` may take in all (a wait for an instance,
/// then its timeout); none when the node hosts no such function.
pub fn bound(host: Option<&Host>, name: &str) -> Option<Duration> {
    host?.bound(name)
}

/// Runs hosted function `name` on `event`: its answer, or the failure as the invoke floor
/// knows failures (a timeout as a timeout; no capacity, or a stopping host, as
/// unavailable: 503 at a handshake).
pub async fn invoke(
    host: Option<&Host>,
    name: &str,
    event: Vec<u8>,
) -> Result<Vec<u8>, InvokeError> {
    let Some(host) = host else {
        return Err(InvokeError::failed(format!(
            "function {name}: this node runs no functions (--function)"
        )));
    };
    match host.invoke(name, event.into()).await {
        Ok(answer) => Ok(answer.to_vec()),
        Err(Failure::TimedOut(after)) => Err(InvokeError::TimedOut(after)),
        Err(failure @ (Failure::Throttled(_) | Failure::Stopped)) => Err(InvokeError::Failed {
            message: format!("function {name}: {failure}"),
            unavailable: true,
        }),
        Err(failure) => Err(InvokeError::failed(format!("function {name}: {failure}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_hosted_functions_as_templates_write_them() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:OnConnect";
        assert_eq!(function_name(arn), Some("OnConnect"));
        assert_eq!(function_name(&format!("{arn}:live")), Some("OnConnect"));
        let uri = format!(
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        );
        assert_eq!(function_name(&uri), Some("OnConnect"));
        assert_eq!(function_name("http://127.0.0.1:9000/connect"), None);
        assert_eq!(function_name("arn:aws:lambda:eu-west-1:1:layer:x"), None);
        assert_eq!(function_name("arn:aws:lambda:eu-west-1:1:function:"), None);
        assert_eq!(super::arn("eu-west-1", "123456789012", "OnConnect"), arn);
    }
}
