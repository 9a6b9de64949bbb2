//! Readiness: a port is ready when a process of the container listens on it (read from
//! the kernel's socket tables, on any address: nothing is sent to a server that is not
//! ready, and a server bound to the container's loopback counts). Then how it speaks is
//! learnt: a TLS handshake and HTTP over it (HTTPS), HTTP in the clear (any status), or,
//! for other protocols, an answer of anything or a connection kept open. A listening port
//! that closes every connection without a word is retried for a while, then left as one
//! slim does not probe.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::http::{self, Endpoint, Scheme};
use super::protocol::{self, BANNER_WAIT, ClientFirst};
use super::tls;
use crate::netns::{self, Listener, Processes};

/// How long a TLS handshake may take before the port is taken for one without TLS (a
/// plain HTTP server that waits for a line end never answers a ClientHello).
const TLS_TRY: Duration = Duration::from_secs(2);

/// How long a port may stay silent after a request before it counts as "open, not HTTP".
const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// How often the container's sockets are read while it is not listening yet: reading
/// them costs a few system calls per process and sends nothing, so a port is seen
/// listening at most this long after it starts to.
const LISTEN_POLL: Duration = Duration::from_millis(10);

/// How long, at least, a listening port that closes connections without answering is
/// tried again (a server that listens before it serves) before it is left unprobed; the
/// ready deadline (`--ready-timeout`) gives it longer, so a slow machine only waits more.
pub const CLASSIFY_FOR: Duration = Duration::from_secs(15);

/// What a ready port speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    Http(Scheme),
    /// A protocol slim recognised (`redis`, `postgresql`, `ssh`, `mysql` …), with the
    /// normalised answer to its request for the ones slim asks ([`ClientFirst`]). No HTTP
    /// probes go there.
    Known {
        name: &'static str,
        answer: Option<String>,
    },
    /// Something else: no HTTP probes go there.
    Other,
}

impl PortKind {
    /// What the port speaks, as the report names it.
    pub fn name(&self) -> &'static str {
        match self {
            PortKind::Http(scheme) => scheme.as_str(),
            PortKind::Known { name, .. } => name,
            PortKind::Other => "other",
        }
    }
}

/// How one look at a port went.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    Ready(PortKind),
    NotYet(String),
}

/// A port nothing listened on by the deadline, and what the container listened on then.
#[derive(Debug, PartialEq, Eq)]
pub struct NotListening {
    pub port: u16,
    pub listening: Vec<Listener>,
}

/// Waits until `processes` listen on each of `ports` (on any address), until `deadline`.
/// Returns every TCP socket they listen on then.
pub async fn wait_listening(
    processes: &Processes,
    ports: &[u16],
    deadline: Instant,
) -> Result<Vec<Listener>, NotListening> {
    loop {
        let listening = netns::listeners(processes);
        let missing = ports
            .iter()
            .find(|port| !listening.iter().any(|l| l.port == **port));
        let Some(&port) = missing else {
            return Ok(listening);
        };
        if Instant::now() + LISTEN_POLL >= deadline {
            return Err(NotListening { port, listening });
        }
        tokio::time::sleep(LISTEN_POLL).await;
    }
}

/// How the listening `port` on `addr` speaks, connecting from the network namespace of
/// process `netns` (`None`: the host's); `expected` is the protocol the program listening
/// there usually speaks. Tried until it answers, or until `until`: then it is
/// [`PortKind::Other`] (listening, not probed).
pub async fn classify(
    addr: IpAddr,
    port: u16,
    netns: Option<u32>,
    expected: Option<ClientFirst>,
    until: Instant,
) -> PortKind {
    let mut pause = Duration::from_millis(20);
    loop {
        if let Look::Ready(kind) = look(addr, port, netns, expected).await {
            return kind;
        }
        if Instant::now() + pause >= until {
            return PortKind::Other;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Whether `port` answers HTTP over `scheme` now, asked at once: the look for a port that
/// spoke HTTP in an earlier run of the same plan. Skips the wait for a banner, which only
/// a server that talks first needs; anything but an HTTP answer is `false`, and the port
/// is then classified as any other.
pub async fn answers_http(addr: IpAddr, port: u16, netns: Option<u32>, scheme: Scheme) -> bool {
    let endpoint = Endpoint {
        addr,
        port,
        scheme,
        netns,
    };
    let Ok(stream) = http::connect(addr, port, netns).await else {
        return false;
    };
    let hello = match scheme {
        Scheme::Http => hello(stream, endpoint).await,
        Scheme::Https => match tokio::time::timeout(TLS_TRY, tls::handshake(stream, addr)).await {
            Ok(Ok(tls_stream)) => hello(tls_stream, endpoint).await,
            _ => return false,
        },
    };
    matches!(hello, Hello::Http)
}

async fn look(addr: IpAddr, port: u16, netns: Option<u32>, expected: Option<ClientFirst>) -> Look {
    let mut stream = match http::connect(addr, port, netns).await {
        Ok(stream) => stream,
        Err(e) => return Look::NotYet(format!("connecting: {e}")),
    };
    // A server that talks first is only read.
    let mut banner = [0u8; 256];
    match tokio::time::timeout(BANNER_WAIT, stream.read(&mut banner)).await {
        Err(_) => {}
        Ok(Ok(0)) => return Look::NotYet("closed the connection without a word".into()),
        Ok(Ok(n)) => {
            return Look::Ready(match protocol::banner_name(&banner[..n]) {
                "other" => PortKind::Other,
                name => PortKind::Known { name, answer: None },
            });
        }
        Ok(Err(e)) => return Look::NotYet(format!("reading: {e}")),
    }
    // A known server that waits for its client gets its own request, never HTTP.
    if let Some(protocol) = expected {
        return match protocol.ask(&mut stream).await {
            Ok(answer) => Look::Ready(PortKind::Known {
                name: protocol.name(),
                answer: Some(answer),
            }),
            Err(why) => Look::NotYet(why),
        };
    }
    let endpoint = |scheme| Endpoint {
        addr,
        port,
        scheme,
        netns,
    };
    // Otherwise a plain server answered the ClientHello with something else, closed, or
    // waits for more.
    if let Ok(Ok(tls_stream)) = tokio::time::timeout(TLS_TRY, tls::handshake(stream, addr)).await {
        return match hello(tls_stream, endpoint(Scheme::Https)).await {
            Hello::Http => Look::Ready(PortKind::Http(Scheme::Https)),
            // TLS, but no HTTP behind it.
            Hello::Other | Hello::Silent => Look::Ready(PortKind::Other),
            Hello::Closed(why) => Look::NotYet(why),
        };
    }
    let stream = match http::connect(addr, port, netns).await {
        Ok(stream) => stream,
        Err(e) => return Look::NotYet(format!("connecting: {e}")),
    };
    match hello(stream, endpoint(Scheme::Http)).await {
        Hello::Http => Look::Ready(PortKind::Http(Scheme::Http)),
        Hello::Other | Hello::Silent => Look::Ready(PortKind::Other),
        Hello::Closed(why) => Look::NotYet(why),
    }
}

/// What a port said to `GET /`.
#[derive(Debug)]
enum Hello {
    /// An HTTP status line.
    Http,
    /// Bytes that are not HTTP.
    Other,
    /// Nothing, but the connection stayed open.
    Silent,
    /// Closed or reset without a word.
    Closed(String),
}

async fn hello<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, endpoint: Endpoint) -> Hello {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: slim/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        endpoint.authority(),
        env!("CARGO_PKG_VERSION")
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Hello::Closed(format!("sending a request: {e}"));
    }
    let mut buf = [0u8; 16];
    let mut got = 0;
    let read = tokio::time::timeout(ANSWER_WAIT, async {
        while got < 5 {
            match stream.read(&mut buf[got..]).await {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await;
    match read {
        Err(_) if got == 0 => Hello::Silent,
        Ok(Err(e)) if got == 0 => Hello::Closed(format!("reading the answer: {e}")),
        Ok(Ok(())) if got == 0 => Hello::Closed("closed the connection without answering".into()),
        _ if buf[..got].starts_with(b"HTTP/") || b"HTTP/".starts_with(&buf[..got]) => Hello::Http,
        _ => Hello::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn localhost() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[tokio::test]
    async fn a_plain_http_port_is_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if buf[..n].starts_with(b"GET") {
                        let _ = socket
                            .write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                            .await;
                    } else {
                        // What nginx does with a ClientHello.
                        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                    }
                });
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            classify(localhost(), port, None, None, deadline).await,
            PortKind::Http(Scheme::Http)
        );
    }

    #[tokio::test]
    async fn a_tls_port_is_https() {
        let (listener, port) = tls::test_server::listener().await;
        let acceptor = tls::test_server::acceptor();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(socket).await {
                        let mut buf = [0u8; 1024];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            classify(localhost(), port, None, None, deadline).await,
            PortKind::Http(Scheme::Https)
        );
    }

    #[tokio::test]
    async fn a_port_that_answers_otherwise_is_other() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let _ = socket.write_all(b"+PONG banner\r\n").await;
                    let mut buf = [0u8; 1024];
                    while socket.read(&mut buf).await.unwrap_or(0) > 0 {}
                });
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            classify(localhost(), port, Some(std::process::id()), None, deadline).await,
            PortKind::Other
        );
    }

    #[tokio::test]
    async fn a_listening_port_that_closes_at_once_is_left_unprobed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                drop(socket);
            }
        });
        let until = Instant::now() + Duration::from_millis(300);
        assert_eq!(
            classify(localhost(), port, None, None, until).await,
            PortKind::Other
        );
    }

    #[tokio::test]
    async fn readiness_waits_for_a_listener_and_names_the_others() {
        let own = Processes::Pids(vec![std::process::id()]);
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other_port = other.local_addr().unwrap().port();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let deadline = Instant::now() + Duration::from_millis(200);
        let err = wait_listening(&own, &[port], deadline).await.unwrap_err();
        assert_eq!(err.port, port);
        assert!(
            err.listening
                .iter()
                .any(|l| l.port == other_port && l.is_loopback()),
            "{err:?}"
        );
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap()
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let listening = wait_listening(&own, &[port, other_port], deadline)
            .await
            .unwrap();
        assert!(listening.iter().any(|l| l.port == port));
        drop(late.await.unwrap());
    }

    /// A server on a local port that answers `answer` to a request that starts with
    /// `expects`, and closes the connection on anything else (as Redis does with HTTP).
    async fn strict_server(expects: &'static [u8], answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if buf[..n].starts_with(expects) {
                        let _ = socket.write_all(answer).await;
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_known_server_gets_its_own_request_and_no_http() {
        let until = Instant::now() + Duration::from_secs(10);
        let redis = strict_server(b"PING\r\n", b"+PONG\r\n").await;
        assert_eq!(
            classify(localhost(), redis, None, Some(ClientFirst::Redis), until).await,
            PortKind::Known {
                name: "redis",
                answer: Some("+PONG".into())
            }
        );
        let postgres = strict_server(&[0, 0, 0, 8, 0x04, 0xd2], b"N").await;
        assert_eq!(
            classify(
                localhost(),
                postgres,
                None,
                Some(ClientFirst::Postgresql),
                until
            )
            .await
            .name(),
            "postgresql"
        );
        // Without the expectation, the same Redis closes on TLS and HTTP: left unprobed.
        let short = Instant::now() + Duration::from_millis(300);
        assert_eq!(
            classify(localhost(), redis, None, None, short).await,
            PortKind::Other
        );
    }

    #[tokio::test]
    async fn a_server_that_talks_first_is_only_read() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (heard, mut received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let heard = heard.clone();
                tokio::spawn(async move {
                    let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n").await;
                    let mut buf = [0u8; 64];
                    // Until slim closes the connection: what it wrote, if anything.
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    let _ = heard.send(n);
                });
            }
        });
        let until = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            classify(localhost(), port, None, None, until).await.name(),
            "ssh"
        );
        let written = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .unwrap();
        assert_eq!(
            written,
            Some(0),
            "slim must not write to a server that talks first"
        );
    }
}
