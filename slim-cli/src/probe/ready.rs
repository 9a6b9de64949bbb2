//! Readiness: wait until each port of the application accepts a connection *and answers*,
//! and learn how it speaks while doing so. A port is ready when it completes a TLS
//! handshake and answers HTTP over it (HTTPS), answers HTTP in the clear (any status), or,
//! for other protocols, answers with anything or keeps the connection open. A connection
//! that is refused, reset or closed without a word means "not yet": retried with backoff
//! until the deadline.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::http::{self, Endpoint, Scheme};
use super::tls;

/// How long a TLS handshake may take before the port is taken for one without TLS (a
/// plain HTTP server that waits for a line end never answers a ClientHello).
const TLS_TRY: Duration = Duration::from_secs(2);

/// How long a port may stay silent after a request before it counts as "open, not HTTP".
const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// What a ready port speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    Http(Scheme),
    /// Something other than HTTP: no HTTP probes go there.
    Other,
}

/// How one look at a port went.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    Ready(PortKind),
    NotYet(String),
}

/// Waits until `port` on `addr` answers, until `deadline`. On failure returns what the
/// last attempt saw.
pub async fn wait_for_port(addr: IpAddr, port: u16, deadline: Instant) -> Result<PortKind, String> {
    let mut pause = Duration::from_millis(20);
    loop {
        let last = match look(addr, port).await {
            Look::Ready(kind) => return Ok(kind),
            Look::NotYet(why) => why,
        };
        if Instant::now() + pause >= deadline {
            return Err(last);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

async fn look(addr: IpAddr, port: u16) -> Look {
    let stream = match http::connect(addr, port).await {
        Ok(stream) => stream,
        Err(e) => return Look::NotYet(format!("connecting: {e}")),
    };
    let endpoint = |scheme| Endpoint { addr, port, scheme };
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
    let stream = match http::connect(addr, port).await {
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
            wait_for_port(localhost(), port, deadline).await,
            Ok(PortKind::Http(Scheme::Http))
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
            wait_for_port(localhost(), port, deadline).await,
            Ok(PortKind::Http(Scheme::Https))
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
            wait_for_port(localhost(), port, deadline).await,
            Ok(PortKind::Other)
        );
    }

    #[tokio::test]
    async fn a_port_that_closes_at_once_is_not_ready() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                drop(socket);
            }
        });
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = wait_for_port(localhost(), port, deadline)
            .await
            .unwrap_err();
        assert!(
            ["without answering", "reset", "sending"]
                .iter()
                .any(|w| err.contains(w)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_not_ready_and_says_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let deadline = Instant::now() + Duration::from_millis(200);
        let err = wait_for_port(localhost(), port, deadline)
            .await
            .unwrap_err();
        assert!(err.contains("connecting"), "{err}");
    }
}
