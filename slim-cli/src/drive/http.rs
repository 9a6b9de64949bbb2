//! One HTTP/1.1 request to the application, over plain TCP or TLS, and what it answered:
//! status, content type, body length and digest (and the body itself when it is text of at
//! most 1 MiB), so that a later run can be compared with this one.
//!
//! Requests look like a browser's: they ask for compressed answers (`gzip, br`), which are
//! decoded before they are measured, so the digest is the content's, not the encoding's.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::tls;
use crate::image::reference::digest;

/// Bodies (as sent, and decoded) longer than this are an error rather than read whole.
const BODY_LIMIT: usize = 64 << 20;

/// Textual bodies up to this size are kept in the answer, for comparisons.
pub const TEXT_LIMIT: usize = 1 << 20;

/// What the requests of a crawl accept, as a browser's navigation does.
pub const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The encodings slim asks for and decodes.
pub const ACCEPT_ENCODING: &str = "gzip, br";

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a port speaks HTTP.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The scheme [`Scheme::as_str`] names, if `name` is one.
    pub fn parse(name: &str) -> Option<Scheme> {
        match name {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
    pub scheme: Scheme,
    /// Connections are opened in the network namespace of this process (the container's);
    /// `None`: in the host's.
    pub netns: Option<u32>,
}

impl Endpoint {
    /// `addr:port` (`[addr]:port` for IPv6), as a Host header and in messages.
    pub fn authority(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => format!("{a}:{}", self.port),
            IpAddr::V6(a) => format!("[{a}]:{}", self.port),
        }
    }

    /// The Host header: the authority, without the scheme's default port.
    fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            match self.addr {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            }
        } else {
            self.authority()
        }
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }
}

/// What to send.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    /// Path and query (origin form).
    pub target: &'a str,
    /// Added to slim's defaults (User-Agent, Accept, Accept-Encoding), replacing a default
    /// of the same name.
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
}

/// What a request got back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HttpAnswer {
    #[schemars(range(min = 100, max = 999))]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The encoding the body came in (`gzip`, `br`), already decoded below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Where a redirect points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Length of the decoded body.
    pub body_bytes: u64,
    /// `sha256:<hex>` of the decoded body.
    #[schemars(pattern("^sha256:[0-9a-f]{64}$"))]
    pub body_digest: String,
    /// The decoded body, for textual content types (text/*, JSON, JavaScript, XML) of at
    /// most [`TEXT_LIMIT`] bytes (invalid UTF-8 replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    pub millis: u64,
}

/// An answer with its whole decoded body, for the crawler to read.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub answer: HttpAnswer,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("{0}: TLS handshake failed: {1}")]
    Tls(String, std::io::Error),
    #[error("{0}: {1}")]
    Protocol(String, String),
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}: cannot decode its {1} body: {2}")]
    Decode(String, String, std::io::Error),
}

/// Sends one request to `endpoint` and reads the whole answer.
pub async fn send(
    endpoint: Endpoint,
    outgoing: Outgoing<'_>,
    timeout: Duration,
) -> Result<Exchange, HttpError> {
    let what = format!(
        "{} {}{}",
        outgoing.method,
        endpoint.origin(),
        outgoing.target
    );
    match tokio::time::timeout(timeout, connect_and_send(endpoint, outgoing, &what)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout(what, timeout)),
    }
}

/// A TCP connection to `addr:port`, given up after a few seconds.
pub async fn connect(addr: IpAddr, port: u16, netns: Option<u32>) -> std::io::Result<TcpStream> {
    let connecting = async {
        match netns {
            Some(pid) => crate::netns::connect_from(pid, SocketAddr::new(addr, port)).await,
            None => TcpStream::connect((addr, port)).await,
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no connection within {CONNECT_TIMEOUT:?}"),
        )),
    }
}

async fn connect_and_send(
    endpoint: Endpoint,
    outgoing: Outgoing<'_>,
    what: &str,
) -> Result<Exchange, HttpError> {
    let started = Instant::now();
    let stream = connect(endpoint.addr, endpoint.port, endpoint.netns)
        .await
        .map_err(|e| HttpError::Connect(endpoint.authority(), e))?;
    match endpoint.scheme {
        Scheme::Http => exchange(stream, endpoint, outgoing, what, started).await,
        Scheme::Https => {
            let stream = tls::handshake(stream, endpoint.addr)
                .await
                .map_err(|e| HttpError::Tls(what.to_string(), e))?;
            exchange(stream, endpoint, outgoing, what, started).await
        }
    }
}

/// Sends the request on an open connection (plain or TLS) and reads the answer.
pub async fn exchange<S>(
    stream: S,
    endpoint: Endpoint,
    outgoing: Outgoing<'_>,
    what: &str,
    started: Instant,
) -> Result<Exchange, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let protocol = |e: &dyn std::fmt::Display| HttpError::Protocol(what.to_string(), e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| protocol(&e))?;
    let driver = tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(outgoing.method)
        .uri(outgoing.target);
    let mut defaults: Vec<(&str, String)> = vec![
        ("host", endpoint.host_header()),
        (
            "user-agent",
            concat!(
                "Mozilla/5.0 (compatible; slim/",
                env!("CARGO_PKG_VERSION"),
                ")"
            )
            .into(),
        ),
        ("accept", ACCEPT.into()),
        ("accept-encoding", ACCEPT_ENCODING.into()),
    ];
    defaults.retain(|(name, _)| {
        !outgoing
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    });
    for (name, value) in defaults {
        builder = builder.header(name, value);
    }
    for (name, value) in outgoing.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(outgoing.body.unwrap_or("").to_string()));
    let request = builder.body(body).map_err(|e| protocol(&e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| protocol(&e))?;
    let status = response.status().as_u16();
    let header = |name: http::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(http::header::CONTENT_TYPE);
    let content_encoding = header(http::header::CONTENT_ENCODING)
        .filter(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    let location = header(http::header::LOCATION);
    let wire = Limited::new(response.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| protocol(&*e))?
        .to_bytes();
    driver.abort();
    let body = match &content_encoding {
        // HEAD, 204 and 304 answers name the encoding of a body they do not send.
        Some(_) if wire.is_empty() => wire,
        Some(encoding) => decode(encoding, &wire)
            .map(Bytes::from)
            .map_err(|e| HttpError::Decode(what.to_string(), encoding.clone(), e))?,
        None => wire,
    };
    let body_text = (body.len() <= TEXT_LIMIT && content_type.as_deref().is_some_and(is_textual))
        .then(|| String::from_utf8_lossy(&body).into_owned());
    Ok(Exchange {
        answer: HttpAnswer {
            status,
            content_type,
            content_encoding,
            location,
            body_bytes: body.len() as u64,
            body_digest: digest(&body),
            body_text,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
        body,
    })
}

/// Whether a content type is text a comparison can read: text/*, JSON, JavaScript, XML.
pub fn is_textual(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || essence.ends_with("/javascript")
        || essence.ends_with("/ecmascript")
        || essence == "application/x-javascript"
}

/// Undoes `Content-Encoding` (a list, applied in order, so undone from the end).
fn decode(encodings: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut data = body.to_vec();
    for encoding in encodings.rsplit(',').map(|e| e.trim().to_ascii_lowercase()) {
        let mut out = Vec::new();
        let limit = u64::try_from(BODY_LIMIT).unwrap_or(u64::MAX) + 1;
        match encoding.as_str() {
            "gzip" | "x-gzip" => {
                flate2::read::MultiGzDecoder::new(&data[..])
                    .take(limit)
                    .read_to_end(&mut out)?;
            }
            "br" => {
                brotli_decompressor::Decompressor::new(&data[..], 64 << 10)
                    .take(limit)
                    .read_to_end(&mut out)?;
            }
            "deflate" => {
                // Servers send zlib streams or raw deflate under this name.
                if flate2::read::ZlibDecoder::new(&data[..])
                    .take(limit)
                    .read_to_end(&mut out)
                    .is_err()
                {
                    out.clear();
                    flate2::read::DeflateDecoder::new(&data[..])
                        .take(limit)
                        .read_to_end(&mut out)?;
                }
            }
            "identity" | "" => out = std::mem::take(&mut data),
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    format!("unknown content encoding {other:?}"),
                ));
            }
        }
        if out.len() > BODY_LIMIT {
            return Err(std::io::Error::other(format!(
                "the decoded body is larger than {BODY_LIMIT} bytes"
            )));
        }
        data = out;
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use slim_test_kit::http::request_len;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Serves one connection with `answer` after reading a request; returns the request.
    async fn serve_once(listener: TcpListener, answer: Vec<u8>) -> String {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while request_len(&got).is_none_or(|len| got.len() < len) {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        // The client may close first once it has the whole answer.
        let _ = socket.write_all(&answer).await;
        let _ = socket.shutdown().await;
        String::from_utf8_lossy(&got).into_owned()
    }

    fn local(port: u16, scheme: Scheme) -> Endpoint {
        Endpoint {
            addr: "127.0.0.1".parse().unwrap(),
            netns: None,
            port,
            scheme,
        }
    }

    fn get(target: &str) -> Outgoing<'_> {
        Outgoing {
            method: "GET",
            target,
            headers: &[],
            body: None,
        }
    }

    #[tokio::test]
    async fn an_answer_is_recorded_with_its_text() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(serve_once(
            listener,
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"
                .to_vec(),
        ));
        let got = send(
            local(port, Scheme::Http),
            get("/x?y=1"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{request}");
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("accept-encoding: gzip, br\r\n"), "{request}");
        assert!(
            lower.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{request}"
        );
        let answer = got.answer;
        assert_eq!(answer.status, 404);
        assert_eq!(answer.content_type.as_deref(), Some("text/plain"));
        assert_eq!(answer.body_bytes, 4);
        assert_eq!(answer.body_digest, digest(b"nope"));
        assert_eq!(answer.body_text.as_deref(), Some("nope"));
    }

    #[tokio::test]
    async fn gzip_and_brotli_bodies_are_decoded_before_they_are_measured() {
        let page = "<html><body>".to_string() + &"hello compressed world ".repeat(200);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(page.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        // "hello" as a brotli stream (from `brotli -c`).
        let br: &[u8] = &[0x0f, 0x02, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x03];
        for (encoding, wire, plain) in [
            ("gzip", gz.as_slice(), page.as_bytes()),
            ("br", br, b"hello".as_slice()),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Encoding: {encoding}\r\nContent-Length: {}\r\n\r\n",
                wire.len()
            )
            .into_bytes();
            answer.extend_from_slice(wire);
            tokio::spawn(serve_once(listener, answer));
            let got = send(local(port, Scheme::Http), get("/"), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(got.body.as_ref(), plain, "{encoding}");
            assert_eq!(got.answer.content_encoding.as_deref(), Some(encoding));
            assert_eq!(got.answer.body_bytes, plain.len() as u64);
            assert_eq!(got.answer.body_digest, digest(plain));
        }
    }

    #[tokio::test]
    async fn an_encoded_answer_without_a_body_is_empty() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve_once(
            listener,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
                .to_vec(),
        ));
        let head = Outgoing {
            method: "HEAD",
            ..get("/")
        };
        let got = send(local(port, Scheme::Http), head, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.answer.body_bytes, 0);
        assert_eq!(got.answer.body_digest, digest(b""));
    }

    #[tokio::test]
    async fn headers_and_body_of_a_post_are_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(serve_once(
            listener,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ));
        let headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), "application/json".to_string()),
        ];
        let got = send(
            local(port, Scheme::Http),
            Outgoing {
                method: "POST",
                target: "/api/items",
                headers: &headers,
                body: Some(r#"{"a":1}"#),
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(got.answer.status, 201);
        let request = server.await.unwrap();
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/json\r\n"),
            "{request}"
        );
        assert!(lower.contains("content-length: 7\r\n"), "{request}");
        assert_eq!(lower.matches("accept: ").count(), 1, "{request}");
        assert!(request.ends_with(r#"{"a":1}"#), "{request}");
    }

    #[tokio::test]
    async fn https_with_a_self_signed_certificate() {
        let (listener, port) = tls::test_server::listener().await;
        let acceptor = tls::test_server::acceptor();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(socket).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = tls.read(&mut buf).await.unwrap();
            tls.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            )
            .await
            .unwrap();
            let _ = tls.shutdown().await;
        });
        let got = send(local(port, Scheme::Https), get("/"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.answer.status, 200);
        assert_eq!(got.answer.body_text.as_deref(), Some("{}"));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(matches!(
            send(local(port, Scheme::Http), get("/"), Duration::from_secs(5)).await,
            Err(HttpError::Connect(..))
        ));
    }

    #[test]
    fn textual_content_types() {
        for t in [
            "text/html; charset=utf-8",
            "application/json",
            "application/problem+json",
            "application/javascript",
            "text/css",
            "application/xml",
            "image/svg+xml",
        ] {
            assert!(is_textual(t), "{t}");
        }
        for t in ["image/png", "font/woff2", "application/octet-stream"] {
            assert!(!is_textual(t), "{t}");
        }
    }
}
