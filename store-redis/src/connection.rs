//! [`Connection`]: one handle over a standalone server or a Cluster, opened with bounded
//! timeouts.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use store_core::Result;

use crate::config::RedisConfig;
use crate::error::{map_redis_error, timed_out};

/// A standalone server behind a reconnecting manager, or a Cluster routing by slot. Both
/// are cheap handles to multiplexed connections: clone one per call, no pool needed.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server; reconnects in the background after a dropped connection.
    Single(ConnectionManager),
    /// A Cluster; follows `MOVED`/`ASK` and refreshes its slot map itself.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects as `config` says, within `connect_timeout` (plus the manager's short
    /// reconnect schedule) — never hangs on a server that does not answer.
    pub async fn open(config: &RedisConfig) -> Result<Self> {
        if config.nodes.iter().any(|n| n.starts_with("rediss://")) {
            // redis-rs asks rustls for its process-wide crypto provider; several providers
            // may be compiled in, so name one (a no-op when one is already installed).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let bound = config.connect_timeout * 3;
        let connect = async {
            if config.cluster {
                let client = ClusterClientBuilder::new(config.nodes.clone())
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.response_timeout)
                    // Redirects, reconnects and retries included: the bound a caller sees.
                    .overall_response_timeout(Some(config.response_timeout * 2))
                    .retries(3)
                    .build()
                    .map_err(map_redis_error)?;
                let cluster = client
                    .get_async_connection()
                    .await
                    .map_err(map_redis_error)?;
                Ok(Connection::Cluster(cluster))
            } else {
                let client =
                    redis::Client::open(config.nodes[0].as_str()).map_err(map_redis_error)?;
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(config.connect_timeout);
                let manager = client
                    .get_connection_manager_with_config(manager)
                    .await
                    .map_err(map_redis_error)?;
                Ok(Connection::Single(manager))
            }
        };
        tokio::time::timeout(bound, connect)
            .await
            .map_err(|_| timed_out("connecting to Redis", bound))?
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
