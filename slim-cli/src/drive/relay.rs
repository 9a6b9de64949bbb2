//! A port on the host's loopback that relays each connection into the container's network
//! namespace: how `--host-exec` scripts reach an application that the host cannot (one
//! bound to the container's loopback, or a container without a network). It lives as long
//! as its [`Relay`]; dropping it closes the port and every relayed connection. Touches
//! the network.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::netns;

/// A host loopback port relaying to `target` in a container's network namespace.
pub struct Relay {
    /// Where scripts on the host connect.
    pub host: SocketAddr,
    /// Where each connection goes, inside the namespace.
    pub target: SocketAddr,
    accepting: JoinHandle<()>,
}

impl Relay {
    /// Opens a port on 127.0.0.1 that relays to `target`, as seen from the network
    /// namespace of process `pid`.
    pub async fn start(pid: u32, target: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let host = listener.local_addr()?;
        let accepting = tokio::spawn(async move {
            // Dropped with the accepting task, which aborts every connection it relays.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                // Finished connections are reaped as new ones come.
                while connections.try_join_next().is_some() {}
                connections.spawn(async move {
                    // A connection the namespace refuses is closed at once, as the
                    // application would have refused it.
                    if let Ok(mut outbound) = netns::connect_from(pid, target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Relay {
            host,
            target,
            accepting,
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_the_relay_both_ways_until_it_is_dropped() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = server.local_addr().unwrap();
        let echo = tokio::spawn(async move {
            let (mut socket, _) = server.accept().await.unwrap();
            let mut buf = [0u8; 5];
            socket.read_exact(&mut buf).await.unwrap();
            socket
                .write_all(&buf.map(|b| b.to_ascii_uppercase()))
                .await
                .unwrap();
        });
        let relay = Relay::start(std::process::id(), target).await.unwrap();
        assert!(relay.host.ip().is_loopback());
        assert_ne!(relay.host, target);
        let mut client = tokio::net::TcpStream::connect(relay.host).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 5];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HELLO");
        echo.await.unwrap();

        let host = relay.host;
        drop(relay);
        // The accepting task ends on its next poll; the port is then closed.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(host).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the relay's port is still open after it was dropped");
    }
}
