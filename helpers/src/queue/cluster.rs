//! The project's own RabbitMQ cluster (`scripts/beyond.sh rabbit-cluster`): three nodes on
//! ports of their own, and a node killed under load — what the publisher, the consumer and
//! the quorum queue between them make of it.
//!
//! ```text
//!  publisher ──▶ node 1 (5711) ──┐              consumer ──▶ node 2 (5712)
//!                                ├── quorum queue: leader on node 1, followers on 2 and 3
//!                node 3 (5713) ──┘
//!  kill node 1 (SIGKILL): the queue elects a new leader among 2 and 3 (Raft: 2 of 3 is a
//!  majority); the publisher reconnects to node 2 and publishes what was not confirmed again.
//! ```

use std::path::PathBuf;

use super::chaos::{CutReport, Faults, through_faults};
use super::{Cleanup, Topology};
use crate::config::ServiceUrl;
use crate::error::Result;
use crate::local_servers::Scripted;

/// The first of the local cluster's three AMQP ports (`M8_RABBIT_CLUSTER_PORT`); each node's
/// Erlang distribution listens on its port + 20000.
pub const RABBIT_CLUSTER_PORT: u16 = 5711;

/// The project's own RabbitMQ cluster, from a notebook cell: plain values in and out, every
/// call bounded. It holds only where the cluster is, so it crosses cells.
#[derive(Clone, Debug)]
pub struct LocalRabbitCluster {
    /// The three nodes as one URL (`amqp://127.0.0.1:5711,127.0.0.1:5712,127.0.0.1:5713/%2f`,
    /// the default user).
    pub url: ServiceUrl,
    /// The first node's port; the others follow it.
    pub first_port: u16,
    /// The script's folder (`M8_BEYOND_DIR`).
    pub dir: PathBuf,
}

impl LocalRabbitCluster {
    /// Starts the cluster (or finds it running) on 127.0.0.1:5711–5713
    /// (`M8_RABBIT_CLUSTER_PORT` and `M8_BEYOND_DIR` move it). About 20 s on 2 cores: three
    /// Erlang nodes boot and form the cluster.
    pub fn start() -> Result<LocalRabbitCluster> {
        let servers = Scripted::from_env("rabbit-cluster", "M8_RABBIT_CLUSTER_PORT", RABBIT_CLUSTER_PORT);
        LocalRabbitCluster::start_on(servers.first_port, servers.dir)
    }

    /// Starts the cluster on `first_port` and the two after it, its files under `dir`.
    pub fn start_on(first_port: u16, dir: PathBuf) -> Result<LocalRabbitCluster> {
        let cluster = LocalRabbitCluster { url: ServiceUrl::new(""), first_port, dir };
        let url = crate::runtime::run(cluster.servers().up())?;
        Ok(LocalRabbitCluster { url, ..cluster })
    }

    /// Stops the three nodes by pid and removes their data; what the script said.
    pub fn stop(&self) -> Result<String> {
        crate::runtime::run(self.servers().script(&["down"]))
    }

    fn servers(&self) -> Scripted {
        Scripted { what: "rabbit-cluster", port_variable: "M8_RABBIT_CLUSTER_PORT", first_port: self.first_port, dir: self.dir.clone() }
    }

    /// The cluster's URL with node `i` (0, 1, 2) first: a client on it connects there first.
    pub fn url_from(&self, i: usize) -> ServiceUrl {
        let hosts: Vec<String> = (0..3).map(|k| format!("127.0.0.1:{}", self.first_port as usize + (i + k) % 3)).collect();
        self.url.with_hosts(&hosts.join(","))
    }

    /// Publishes `n` sign-ups with confirms to a topology of **quorum queues**, through node 1
    /// (which declares them, so their leader is there), while a consumer on node 2 processes
    /// them; n/10 ms after the start (400 ms for 4,000), node 1 is killed (`SIGKILL`, by pid). The publisher
    /// reconnects to the next node and publishes again what was not confirmed; the consumer
    /// recognises copies by message id. Counts published / confirmed / lost / processed twice
    /// and the time from the kill to the next confirm. The killed node stays down (the cluster
    /// runs on two); stop the cluster to end it. Bounded: 120 s for the consumer.
    pub fn failover_under_load(&self, n: usize) -> Result<CutReport> {
        let (publisher, consumer) = (self.url_from(0), self.url_from(1));
        let first = self.first_port.to_string();
        let faults = Faults { publisher: &publisher, consumer: &consumer, topology: Topology::unique("nb06-failover").quorum(), count: 1, cleanup: Cleanup::Keep };
        crate::runtime::run(through_faults(faults, n, |_| {
            let cluster = self.clone();
            let port = first.clone();
            async move { cluster.servers().script(&["kill", &port]).await.map(drop) }
        }))
    }
}
