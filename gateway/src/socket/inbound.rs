//! Where a session hands its client's messages: [`Inbound`]. When it has no room, the
//! session stops reading the socket (TCP pushes back on the client) until it has, instead
//! of closing the client for sending fast.

use lifecycle::Payload;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Takes a session's client messages.
pub trait Inbound: Send {
    /// Hands `payload` on at once. `Full(payload)`: no room now (the session waits with
    /// [`Inbound::room`], reading nothing meanwhile); `Closed`: nothing takes messages any
    /// more (a function closed the connection).
    fn offer(&mut self, payload: Payload) -> Result<(), TrySendError<Payload>>;

    /// Resolves once an offer may find room again.
    fn room(&mut self) -> impl Future<Output = ()> + Send + '_;
}

impl<T: Inbound> Inbound for &mut T {
    fn offer(&mut self, payload: Payload) -> Result<(), TrySendError<Payload>> {
        (**self).offer(payload)
    }

    async fn room(&mut self) {
        (**self).room().await;
    }
}

/// A bounded queue to a task of the channel's (Alibaba's calls, in order).
impl Inbound for mpsc::Sender<Payload> {
    fn offer(&mut self, payload: Payload) -> Result<(), TrySendError<Payload>> {
        self.try_send(payload)
    }

    async fn room(&mut self) {
        // The slot is given back at once: the offer that follows takes one.
        let _ = self.reserve().await;
    }
}
