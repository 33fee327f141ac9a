//! A network link to a real server that can be cut and restored: a small TCP forwarder on
//! 127.0.0.1. Pointing a client at the link instead of the server lets a lesson or a test
//! "stop Redis in the middle of a run" without touching the real server.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::ServiceUrl;
use crate::error::{Error, Result};

/// A TCP forwarder to `target` that can be cut (every connection dropped, new ones refused
/// at once) and restored. Runs on the current Tokio runtime; stops when dropped.
#[derive(Debug)]
pub struct CuttableLink {
    local: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableLink {
    /// Listens on a free port of 127.0.0.1 and forwards to `target` (`host:port`).
    pub async fn start(target: String) -> Result<CuttableLink> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::io("listen on", "127.0.0.1:0", e))?;
        let local = listener.local_addr().map_err(|e| Error::io("read the address of", "the link", e))?;
        let (up, watcher) = watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*watcher.borrow() {
                    drop(inbound); // cut: refuse at once
                    continue;
                }
                let target = target.clone();
                let mut cut = watcher.clone();
                tokio::spawn(async move {
                    let Ok(Ok(mut outbound)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Ok(CuttableLink { local, up, task })
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
        let raw = url.expose();
        let Some((scheme, rest)) = raw.split_once("://") else { return url.clone() };
        let (userinfo, after) = match rest.rsplit_once('@') {
            Some((u, a)) => (format!("{u}@"), a),
            None => (String::new(), rest),
        };
        let tail_at = after.find(['/', '?']).unwrap_or(after.len());
        ServiceUrl::new(format!("{scheme}://{userinfo}{}{}", self.local, &after[tail_at..]))
    }

    /// Drops every open connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// The local address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.up.send_replace(false);
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
