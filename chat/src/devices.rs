//! How the chat records an Alibaba channel's devices: each in the room its channel URL
//! names (`?room=`, default [`DEFAULT_ROOM`]), so the chat's broadcasts reach devices and
//! plain sockets alike.

use std::time::Duration;

use gateway::channel::aliyun::DeviceRecords;
use lifecycle::ConnectionInfo;
use store_core::{Endpoint, Metadata, Registration, RoomName};

use crate::DEFAULT_ROOM;

/// The chat's layout of a device's record.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatDevices;

impl DeviceRecords for ChatDevices {
    fn registration(
        &self,
        info: &ConnectionInfo,
        endpoint: Endpoint,
        ttl: Duration,
    ) -> store_core::Result<Registration> {
        let room = RoomName::new(info.query("room").unwrap_or(DEFAULT_ROOM))?;
        let mut metadata = Metadata::new();
        if !info.source_ip.is_empty() {
            metadata = metadata.with("source_ip", info.source_ip.as_str())?;
        }
        Ok(Registration {
            room,
            endpoint,
            metadata,
            ttl,
        })
    }
}
