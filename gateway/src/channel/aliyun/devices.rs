//! Devices in the store: each bound device is a connection record (its id the device id,
//! its endpoint this node's push URL, a lease renewed by every `H1`), so any function or
//! node can find and reach it. What else the record holds — its room above all — is the
//! app's to decide ([`DeviceRecords`]): the chat puts a device in the room its channel URL
//! names; [`DefaultRecords`] puts every device in one room, `devices`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lifecycle::ConnectionInfo;
use store_core::{
    ConnectionId, ConnectionStore, Endpoint, ErrorKind, Metadata, Registration, RoomName,
};

use crate::hub::{HeldConnection, Hub};

/// The layout of a device's record.
pub trait DeviceRecords: fmt::Debug + Send + Sync + 'static {
    /// The record of the device `info` describes (its id is the device id; its query and
    /// headers are the channel request's), held at `endpoint` with a lease of `ttl`; `Err`
    /// when the request cannot make one (a bad room): the device is refused (`RF#`).
    fn registration(
        &self,
        info: &ConnectionInfo,
        endpoint: Endpoint,
        ttl: Duration,
    ) -> store_core::Result<Registration>;
}

/// Every device in one room, `devices`, with its address as metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRecords;

impl DeviceRecords for DefaultRecords {
    fn registration(
        &self,
        info: &ConnectionInfo,
        endpoint: Endpoint,
        ttl: Duration,
    ) -> store_core::Result<Registration> {
        let mut metadata = Metadata::new();
        if !info.source_ip.is_empty() {
            metadata = metadata.with("source_ip", info.source_ip.as_str())?;
        }
        Ok(Registration {
            room: RoomName::new("devices")?,
            endpoint,
            metadata,
            ttl,
        })
    }
}

/// The channel's devices in its store.
#[derive(Debug)]
pub(super) struct Devices {
    /// Where they are recorded; none keeps them in this node's memory only.
    store: Option<Arc<dyn ConnectionStore>>,
    /// How a record looks.
    records: Arc<dyn DeviceRecords>,
    /// Each record's lease; every `H1` renews it.
    lease: Duration,
}

impl Devices {
    pub(super) fn new(
        store: Option<Arc<dyn ConnectionStore>>,
        records: Arc<dyn DeviceRecords>,
        lease: Duration,
    ) -> Self {
        Devices {
            store,
            records,
            lease,
        }
    }

    /// The record of `info`'s device held at `push_url`; `Err` when it cannot be made.
    pub(super) fn registration(
        &self,
        info: &ConnectionInfo,
        push_url: &str,
    ) -> store_core::Result<(ConnectionId, Registration)> {
        let id = ConnectionId::new(info.id.as_str())?;
        let endpoint = Endpoint::new(push_url)?;
        let registration = self.records.registration(info, endpoint, self.lease)?;
        Ok((id, registration))
    }

    /// Records the device (when the channel has a store).
    pub(super) async fn record(
        &self,
        info: &ConnectionInfo,
        push_url: &str,
    ) -> store_core::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let (id, registration) = self.registration(info, push_url)?;
        store.register(&id, &registration).await.map(|_| ())
    }

    /// Renews the device's lease; a record that ran out meanwhile (the store was down) is
    /// recorded again, since the device is demonstrably here.
    pub(super) async fn renew(&self, info: &ConnectionInfo, push_url: &str) {
        let Some(store) = &self.store else {
            return;
        };
        let Ok(id) = ConnectionId::new(info.id.as_str()) else {
            return;
        };
        match store.renew(&id, self.lease).await {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {
                if let Err(err) = self.record(info, push_url).await {
                    tracing::warn!(device = %info.id, %err, "re-recording the device failed");
                }
            }
            Err(err) => tracing::warn!(device = %info.id, %err, "renewing the device failed"),
        }
    }

    /// Removes the device's record, unless it names another node (the device moved there)
    /// or a newer connection of it holds it here.
    pub(super) async fn forget(&self, hub: &Hub, held: &Arc<HeldConnection>, push_url: &str) {
        let info = &held.info;
        let (Some(store), Ok(id)) = (&self.store, ConnectionId::new(info.id.as_str())) else {
            return;
        };
        let outcome = async {
            match store.get(&id).await? {
                Some(record) if record.endpoint.as_str() == push_url => {}
                _ => return Ok(()),
            }
            match hub.held(&info.id) {
                Some(current) if !Arc::ptr_eq(&current, held) => Ok(()),
                _ => store.remove(&id).await.map(|_| ()),
            }
        };
        if let Err(err) = outcome.await {
            tracing::warn!(device = %info.id, %err, "removing the device failed; its lease ends it");
        }
    }

    /// The push URL of the node the store says holds device `id`, if any.
    pub(super) async fn locate(&self, id: &str) -> Option<String> {
        let (Some(store), Ok(cid)) = (&self.store, ConnectionId::new(id)) else {
            return None;
        };
        match store.get(&cid).await {
            Ok(record) => record.map(|record| record.endpoint.as_str().to_owned()),
            Err(err) => {
                tracing::warn!(device = id, %err, "looking the device up failed");
                None
            }
        }
    }
}
