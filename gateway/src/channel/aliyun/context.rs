//! What one channel connection works with.

use std::sync::Arc;

use lifecycle::ConnectionInfo;

use super::Aliyun;
use crate::hub::HeldConnection;
use crate::socket::Core;

/// What a channel connection works with: the channel (its settings, devices, HTTP client)
/// and the node's core.
#[derive(Debug, Clone)]
pub(super) struct Context {
    /// The channel.
    pub channel: Arc<Aliyun>,
    /// The node's core.
    pub core: Arc<Core>,
}

impl Context {
    pub(super) async fn record(&self, info: &ConnectionInfo) -> store_core::Result<()> {
        self.channel.devices.record(info, &self.core.push_url).await
    }

    pub(super) async fn forget(&self, held: &Arc<HeldConnection>) {
        let push_url = &self.core.push_url;
        self.channel
            .devices
            .forget(&self.core.hub, held, push_url)
            .await;
    }
}
