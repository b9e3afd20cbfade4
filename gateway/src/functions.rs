//! Invoking the lifecycle functions: linked in, or over HTTP.

use std::sync::Arc;
use std::time::Duration;

use chat::{Action, ChatFunctions, EventShape, LifecycleEvent, Reply};

/// Where the functions are.
#[derive(Debug, Clone)]
pub enum Functions {
    /// Linked into this process.
    InProcess(Arc<ChatFunctions>),
    /// Reached by POSTing the event JSON.
    Http {
        /// Pooled HTTP client.
        client: reqwest::Client,
        /// register, transport, cleanup URLs.
        urls: [String; 3],
        /// Event JSON shape.
        shape: EventShape,
    },
}

impl Functions {
    /// Runs the function for `event`, failing after `timeout`.
    pub async fn invoke(&self, event: &LifecycleEvent, timeout: Duration) -> Result<Reply, String> {
        match tokio::time::timeout(timeout, self.call(event)).await {
            Ok(result) => result,
            Err(_) => Err(format!("function timed out after {timeout:?}")),
        }
    }

    async fn call(&self, event: &LifecycleEvent) -> Result<Reply, String> {
        match self {
            Functions::InProcess(functions) => {
                functions.handle(event).await.map_err(|e| e.to_string())
            }
            Functions::Http {
                client,
                urls,
                shape,
            } => {
                let url = &urls[match event.action {
                    Action::Connecting => 0,
                    Action::Message => 1,
                    Action::Closing => 2,
                }];
                let response = client
                    .post(url)
                    .json(&event.to_json(*shape))
                    .send()
                    .await
                    .map_err(|e| format!("function {url}: {e}"))?;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if status >= 500 {
                    return Err(format!("function {url} answered HTTP {status}"));
                }
                Ok(Reply {
                    status,
                    body: body
                        .get("reply")
                        .and_then(|r| r.as_str())
                        .map(str::to_owned),
                })
            }
        }
    }
}
