//! One HTTP/1.1 request to the application, and what it answered: status, content type,
//! body length and digest, so that a later run can be compared with this one.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

/// Bodies longer than this are counted but not digested whole.
const BODY_LIMIT: usize = 64 << 20;

/// What a request got back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body_bytes: u64,
    /// `sha256:<hex>` of the body.
    pub body_digest: String,
    pub millis: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("{0}: {1}")]
    Protocol(String, String),
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
}

/// Sends `method path` to `addr:port` and reads the whole answer.
pub async fn request(
    addr: IpAddr,
    port: u16,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<HttpAnswer, HttpError> {
    let target = format!("{method} http://{}{path}", host(addr, port));
    match tokio::time::timeout(timeout, exchange(addr, port, method, path, &target)).await {
        Ok(answer) => answer,
        Err(_) => Err(HttpError::Timeout(target, timeout)),
    }
}

async fn exchange(
    addr: IpAddr,
    port: u16,
    method: &str,
    path: &str,
    target: &str,
) -> Result<HttpAnswer, HttpError> {
    let started = Instant::now();
    let protocol =
        |e: &dyn std::fmt::Display| HttpError::Protocol(target.to_string(), e.to_string());
    let stream = TcpStream::connect((addr, port))
        .await
        .map_err(|e| HttpError::Connect(host(addr, port), e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| protocol(&e))?;
    let driver = tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host(addr, port))
        .header(
            http::header::USER_AGENT,
            concat!("slim/", env!("CARGO_PKG_VERSION")),
        )
        .header(http::header::ACCEPT, "*/*")
        .body(Empty::<Bytes>::new())
        .map_err(|e| protocol(&e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| protocol(&e))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(response.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| protocol(&*e))?
        .to_bytes();
    driver.abort();
    Ok(HttpAnswer {
        status,
        content_type,
        body_bytes: body.len() as u64,
        body_digest: format!("sha256:{:x}", Sha256::digest(&body)),
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn host(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Whether `addr:port` accepts a TCP connection now.
pub async fn accepts(addr: IpAddr, port: u16) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), TcpStream::connect((addr, port))).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_local_server_answer_is_recorded() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // The readiness check connects and closes first; answer the first real request.
            let (mut socket, n, buf) = loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = socket.read(&mut buf).await.unwrap();
                if n > 0 {
                    break (socket, n, buf);
                }
            };
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /x HTTP/1.1"));
            socket
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope")
                .await
                .unwrap();
        });
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(accepts(addr, port).await);
        let answer = request(addr, port, "GET", "/x", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(answer.content_type.as_deref(), Some("text/plain"));
        assert_eq!(answer.body_bytes, 4);
        assert_eq!(
            answer.body_digest,
            format!("sha256:{:x}", Sha256::digest(b"nope"))
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!accepts(addr, port).await);
        assert!(matches!(
            request(addr, port, "GET", "/", Duration::from_secs(5)).await,
            Err(HttpError::Connect(..))
        ));
    }
}
