//! A network link to a real server that can be cut and restored: a small TCP forwarder on
//! 127.0.0.1. Pointing a client at the link instead of the server lets a lesson or a test
//! "stop Redis in the middle of a run" (cache) or "drop the broker's connection" (messaging)
//! without touching the real server, whichever server it is — yours, Docker's, a cloud one.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::ServiceUrl;
use crate::error::{Error, Result};

/// A TCP forwarder to `target` that can be cut (every connection dropped, new ones refused
/// at once) and restored, or interrupted (every connection dropped, new ones let through: what
/// a client sees of a server restart). Runs on the current Tokio runtime; stops when dropped.
#[derive(Debug)]
pub struct CuttableLink {
    local: SocketAddr,
    state: watch::Sender<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

/// Whether new connections are let through, and how many times the open ones were dropped
/// (a count, so that a connection never misses a drop however quickly the link comes back).
#[derive(Clone, Copy, Debug)]
struct LinkState {
    up: bool,
    drops: u64,
}

impl CuttableLink {
    /// Listens on a free port of 127.0.0.1 and forwards to `target` (`host:port`).
    pub async fn start(target: String) -> Result<CuttableLink> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::io("listen on", "127.0.0.1:0", e))?;
        let local = listener.local_addr().map_err(|e| Error::io("read the address of", "the link", e))?;
        let (state, watcher) = watch::channel(LinkState { up: true, drops: 0 });
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let now = *watcher.borrow();
                if !now.up {
                    drop(inbound); // cut: refuse at once
                    continue;
                }
                let target = target.clone();
                let mut dropped = watcher.clone();
                tokio::spawn(async move {
                    let Ok(Ok(mut outbound)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&target)).await else {
                        return;
                    };
                    let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = dropped.wait_for(|s| s.drops != now.drops) => {}
                    }
                    // Both sockets close here: each side sees its peer go away.
                });
            }
        });
        Ok(CuttableLink { local, state, task })
    }

    /// A link to the first host of `url` (default port `default_port`).
    pub async fn to(url: &ServiceUrl, default_port: u16) -> Result<CuttableLink> {
        let (host, port) = url
            .host_ports(default_port)
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidInput(format!("{} names no host", url.masked())))?;
        CuttableLink::start(format!("{host}:{port}")).await
    }

    /// `url` with its host and port replaced by the link's, credentials and path kept.
    pub fn url_through(&self, url: &ServiceUrl) -> ServiceUrl {
        url.with_hosts(&self.local.to_string())
    }

    /// Drops every open connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.state.send_modify(|s| {
            s.up = false;
            s.drops += 1;
        });
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.send_modify(|s| s.up = true);
    }

    /// Drops every open connection and lets new ones through at once: what a client sees of a
    /// server restart or a network drop.
    pub fn interrupt(&self) {
        self.state.send_modify(|s| s.drops += 1);
    }

    /// The local address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_link_url_keeps_credentials_and_database() {
        let link = CuttableLink::start("127.0.0.1:9".into()).await.unwrap();
        let url = link.url_through(&ServiceUrl::new("redis://:pw@redis.example:6380/2"));
        assert_eq!(url.expose(), format!("redis://:pw@{}/2", link.local_addr()));
        let bare = link.url_through(&ServiceUrl::new("redis://localhost"));
        assert_eq!(bare.expose(), format!("redis://{}", link.local_addr()));
    }
}
