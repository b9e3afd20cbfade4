//! The notify API: `POST /aliyun/notify` (and each `--aliyun-notify-path`) with
//! `x-ca-deviceid: <id>` (several ids, comma
//! separated or repeated, for a batch) and the payload as the body; each device gets
//! `NF#<payload>`. One device: 200 `{"success":true}`, or 410 (offline) / 429 (its queue
//! is full) with `x-ca-error-message`; several: 200 with a result per device. More than
//! [`MAX_DEVICES`] ids named (repeats count) is a 400, decided before any id is looked at
//! twice; repeats are then dropped in linear time.
//!
//! A device held by another node is reached through that node (its record in the presence
//! store names it), once: a forwarded call carries `x-gateway-forwarded` and is not
//! forwarded again. Forwarding carries the node's bearer token, if it has one.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};
use lifecycle::Delivery;
use serde_json::json;

use super::app_auth::{self, with_request_id};
use super::{Aliyun, signature};
use crate::hub::Outbound;
use crate::ids::distinct_capped;
use crate::socket::Core;
use crate::wire::PushError;

/// What the notify API reaches: the channel (its devices, its HTTP client for forwards)
/// and the node's core (its hub, its limits, its push URL).
#[derive(Debug, Clone)]
pub(super) struct NotifyState {
    /// The channel.
    pub channel: Arc<Aliyun>,
    /// The node's core.
    pub core: Arc<Core>,
}

/// Marks a call one node forwarded to another.
const FORWARDED: &str = "x-gateway-forwarded";

/// `error` as Alibaba answers: its status, `x-ca-error-message`, `{"errorMessage": …}`,
/// and the request's id.
pub fn error(error: &PushError) -> Response {
    app_auth::error(error.status(), &error.message())
}

/// Most device ids one notify call names.
pub const MAX_DEVICES: usize = 1000;
/// Devices a batch delivers to at once (a forward to another node may take a while).
const CONCURRENCY: usize = 16;

/// The distinct device ids named, in order; `Err` as soon as more than [`MAX_DEVICES`]
/// are named, or when none is.
fn device_ids(headers: &HeaderMap) -> Result<Vec<String>, PushError> {
    let named = headers
        .get_all("x-ca-deviceid")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let ids = distinct_capped(named, MAX_DEVICES)
        .map_err(|_| PushError::BadRequest(format!("at most {MAX_DEVICES} devices per call")))?;
    if ids.is_empty() {
        return Err(PushError::BadRequest("missing x-ca-deviceid".into()));
    }
    Ok(ids.into_iter().map(str::to_owned).collect())
}

/// `POST /aliyun/notify`.
pub(super) async fn notify(
    State(state): State<NotifyState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_request_id(answer(state, headers, body).await)
}

async fn answer(state: NotifyState, headers: HeaderMap, body: Bytes) -> Response {
    let ids = match device_ids(&headers) {
        Ok(ids) => ids,
        Err(why) => return error(&why),
    };
    let max_frame = state.core.limits.max_message_bytes;
    if body.len() > max_frame {
        return error(&PushError::PayloadTooLarge(max_frame));
    }
    let frame = Outbound::from_body(body);
    let forwarded = headers.contains_key(FORWARDED);
    if let [id] = &ids[..] {
        return match deliver(&state, id, &frame, forwarded).await {
            Delivery::Sent => Json(json!({ "success": true })).into_response(),
            Delivery::Gone => error(&PushError::Gone),
            Delivery::Overflow => error(&PushError::LimitExceeded(
                "the device's queue is full: it is closed as too slow".into(),
            )),
        };
    }
    let results: BTreeMap<String, Delivery> = stream::iter(ids)
        .map(|id| {
            let (state, frame) = (&state, &frame);
            async move {
                let delivery = deliver(state, &id, frame, forwarded).await;
                (id, delivery)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    Json(json!({ "results": results })).into_response()
}

async fn deliver(state: &NotifyState, id: &str, frame: &Outbound, forwarded: bool) -> Delivery {
    match state.core.hub.send(id, frame.clone()) {
        Delivery::Gone if !forwarded => forward(state, id, frame).await,
        delivery => delivery,
    }
}

/// Hands `frame` to the node the store says holds `id`.
async fn forward(state: &NotifyState, id: &str, frame: &Outbound) -> Delivery {
    let (channel, core) = (&state.channel, &state.core);
    let Some(node) = channel.devices.locate(id).await else {
        return Delivery::Gone;
    };
    if node == core.push_url {
        return Delivery::Gone;
    }
    let body = frame.as_bytes().to_vec();
    let mut call = channel
        .http
        .post(format!("{}/aliyun/notify", node.trim_end_matches('/')))
        .header("x-ca-deviceid", id)
        .header(FORWARDED, "1")
        .timeout(core.limits.function_timeout)
        .body(body);
    if let Some(token) = &channel.forward_token {
        call = call.bearer_auth(token);
    } else if let Some(app) = channel.config.app_keys.first() {
        // The other node accepts only APP signatures: this one signs with the first app.
        let signed = signature::signed_headers(
            app,
            &axum::http::Method::POST,
            "/aliyun/notify",
            "application/octet-stream",
            frame.as_bytes(),
            crate::ids::now_ms(),
            &crate::ids::new_id(),
        );
        for (name, value) in signed {
            call = call.header(name, value);
        }
    }
    match call.send().await.map(|r| r.status().as_u16()) {
        Ok(200..=299) => Delivery::Sent,
        Ok(429) => Delivery::Overflow,
        Ok(_) => Delivery::Gone,
        Err(err) => {
            tracing::warn!(device = id, %node, %err, "forwarding a notification failed");
            Delivery::Gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                "x-ca-deviceid",
                axum::http::HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn ids_are_read_in_order_without_repeats() {
        let ids = device_ids(&named(&["b, a,b", "c,,a"])).unwrap();
        assert_eq!(ids, ["b", "a", "c"]);
        assert!(device_ids(&named(&[" , "])).is_err());
        assert!(device_ids(&HeaderMap::new()).is_err());
    }

    #[test]
    fn more_than_the_cap_is_refused_even_as_repeats() {
        let distinct: Vec<String> = (0..MAX_DEVICES).map(|i| format!("d{i}")).collect();
        let ids = device_ids(&named(&[&distinct.join(",")])).unwrap();
        assert_eq!(ids, distinct);
        let over = vec!["d"; MAX_DEVICES + 1].join(",");
        let refused = device_ids(&named(&[&over])).unwrap_err();
        assert_eq!(refused.status(), 400);
        assert!(refused.message().contains("at most"), "{refused:?}");
    }
}
