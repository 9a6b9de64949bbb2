//! HTTP as the tests speak it: a blocking HTTP/1.0 client for the applications under test
//! (one request per connection, read until the server closes it) and the parsing of its
//! answers, and for the tests' own servers, the parsing of a request and the check that
//! all of it has arrived.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An HTTP answer, read whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Header lines as (lower-case name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// Parses a whole answer: status line, headers, and everything after them as the body.
    pub fn parse(raw: &[u8]) -> io::Result<HttpAnswer> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let split = head_len(raw).ok_or_else(|| invalid("no end of headers"))?;
        let head = String::from_utf8_lossy(&raw[..split - 4]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("no status line"))?;
        let headers = lines
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                Some((n.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect();
        Ok(HttpAnswer {
            status,
            headers,
            body: raw[split..].to_vec(),
        })
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.0 request to `addr` (`Connection: close`, with `headers`, and `body` with
/// its `Content-Length` when there is one or the method is POST), its answer read until
/// the server closes the connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> io::Result<HttpAnswer> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: slim-tests\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    HttpAnswer::parse(&raw)
}

/// `GET path` on `addr`: [`request`] without headers or body.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<HttpAnswer> {
    request(addr, "GET", path, &[], "", timeout)
}

/// A request as a test server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Headers by lower-case name (the last one of a name repeated).
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The request at the start of `bytes`, once all of it has arrived: its head, and
    /// the body its `Content-Length` announces.
    pub fn parse(bytes: &[u8]) -> Option<HttpRequest> {
        let len = request_len(bytes).filter(|&len| bytes.len() >= len)?;
        let head_len = head_len(bytes)?;
        let head = String::from_utf8_lossy(&bytes[..head_len]).into_owned();
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(HttpRequest {
            method,
            target,
            headers,
            body: bytes[head_len..len].to_vec(),
        })
    }
}

/// The length of the head at the start of `bytes` (up to and with the empty line that
/// ends it), once it is all there.
pub fn head_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The length of the whole request at the start of `bytes`, once its head is there: the
/// head and the body its `Content-Length` announces (none without one).
pub fn request_len(bytes: &[u8]) -> Option<usize> {
    let head = head_len(bytes)?;
    let body = String::from_utf8_lossy(&bytes[..head])
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    Some(head + body)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn an_answer_is_split_into_status_headers_and_body() {
        let answer = HttpAnswer::parse(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A:  b \r\n\r\nno\r\n\r\npe",
        )
        .unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(
            answer.headers,
            [
                ("content-type".to_string(), "text/plain".to_string()),
                ("x-a".to_string(), "b".to_string())
            ]
        );
        assert_eq!(answer.header("Content-Type"), Some("text/plain"));
        assert_eq!(answer.text(), "no\r\n\r\npe");
        assert!(HttpAnswer::parse(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(HttpAnswer::parse(b"\r\n\r\n").is_err());
    }

    #[test]
    fn a_request_is_complete_once_its_body_is_there() {
        let head = b"POST /api?x=1 HTTP/1.1\r\nHost: h\r\ncontent-length: 7\r\n\r\n";
        assert_eq!(request_len(&head[..10]), None);
        assert_eq!(request_len(head), Some(head.len() + 7));
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(b"{\"a\":");
        assert_eq!(HttpRequest::parse(&bytes), None);
        bytes.extend_from_slice(b"1}");
        let request = HttpRequest::parse(&bytes).unwrap();
        assert_eq!(
            (request.method.as_str(), request.target.as_str()),
            ("POST", "/api?x=1")
        );
        assert_eq!(request.headers["host"], "h");
        assert_eq!(request.body, b"{\"a\":1}");
        let get = HttpRequest::parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(get.headers.is_empty() && get.body.is_empty());
    }

    #[test]
    fn the_client_sends_one_request_and_reads_to_the_end() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            let request = loop {
                if let Some(request) = HttpRequest::parse(&got) {
                    break request;
                }
                let n = socket.read(&mut buf).unwrap();
                assert_ne!(n, 0, "the request ended early");
                got.extend_from_slice(&buf[..n]);
            };
            socket
                .write_all(b"HTTP/1.0 201 Created\r\nLocation: /x\r\n\r\nmade")
                .unwrap();
            request
        });
        let answer = request(
            addr,
            "POST",
            "/items",
            &[("Accept", "text/plain")],
            "{}",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(answer.status, 201);
        assert_eq!(answer.header("location"), Some("/x"));
        assert_eq!(answer.text(), "made");
        let seen = server.join().unwrap();
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.headers["accept"], "text/plain");
        assert_eq!(seen.headers["user-agent"], "slim-tests");
        assert_eq!(seen.headers["connection"], "close");
        assert_eq!(seen.body, b"{}");
    }
}
