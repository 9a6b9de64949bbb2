//! The crawler's URLs: absolute `http`/`https` URLs, resolution of the references a page
//! holds against the page's own URL (the `url` crate, as browsers resolve them), and the
//! request target a probe sends. Host names are compared, never looked up.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// An absolute `http` or `https` URL, without its fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower case; IPv6 addresses keep their brackets.
    pub host: String,
    /// `None` when the URL names none (the scheme's default).
    pub port: Option<u16>,
    /// Path and query, in origin form (`/a/b?c`), percent-encoded.
    pub target: String,
}

impl Url {
    /// The URL of `target` on `host:port` with `scheme`.
    pub fn new(scheme: &str, host: &str, port: u16, target: &str) -> Url {
        Url {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port: Some(port),
            target: encode_target(target),
        }
    }

    /// Parses an absolute `http`/`https` URL; anything else is `None`.
    pub fn parse(text: &str) -> Option<Url> {
        Url::from_parsed(url::Url::parse(text).ok()?)
    }

    /// The port the URL addresses: its own, or the scheme's default.
    pub fn effective_port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// Resolves `reference` (as found in an `href`, `src`, `url()`, `Location` …) against
    /// this URL. `None` for references to other schemes (`mailto:`, `data:`,
    /// `javascript:`), to the page itself (`#top`, empty), and for malformed ones. A
    /// reference to the same origin keeps this URL's way of naming the port.
    pub fn join(&self, reference: &str) -> Option<Url> {
        let without_fragment = reference.split('#').next().unwrap_or("");
        if without_fragment.trim().is_empty() {
            return None;
        }
        let base = url::Url::parse(&self.to_string()).ok()?;
        let mut joined = Url::from_parsed(base.join(reference).ok()?)?;
        if joined.scheme == self.scheme
            && joined.host == self.host
            && joined.effective_port() == self.effective_port()
        {
            joined.port = self.port;
        }
        Some(joined)
    }

    fn from_parsed(url: url::Url) -> Option<Url> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let host = match url.host()? {
            url::Host::Ipv6(address) => format!("[{address}]"),
            host => host.to_string(),
        };
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        Some(Url {
            scheme: scheme.to_string(),
            host,
            port: url.port(),
            target: encode_target(&target),
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}://{}:{port}{}", self.scheme, self.host, self.target),
            None => write!(f, "{}://{}{}", self.scheme, self.host, self.target),
        }
    }
}

/// What may not appear as it is in a request target: controls, space, non-ASCII (always
/// escaped by the encoder) and the characters RFC 3986 leaves out of URIs. `%` is not in
/// it: existing escapes are left as they are.
const NOT_IN_TARGET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Everything but the unreserved characters of RFC 3986.
const NOT_UNRESERVED: &AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes what may not appear in a request target (spaces, quotes, non-ASCII …);
/// existing escapes are left as they are.
pub fn encode_target(target: &str) -> String {
    utf8_percent_encode(target, NOT_IN_TARGET).to_string()
}

/// Percent-encodes a value for a path segment or a query parameter: everything but the
/// unreserved characters of RFC 3986.
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::new("http", "172.17.0.2", 80, "/docs/guide/index.html?x=1")
    }

    fn join(reference: &str) -> Option<String> {
        base().join(reference).map(|u| u.to_string())
    }

    #[test]
    fn references_resolve_as_browsers_resolve_them() {
        assert_eq!(
            join("page.html").as_deref(),
            Some("http://172.17.0.2:80/docs/guide/page.html")
        );
        assert_eq!(
            join("../up.html").as_deref(),
            Some("http://172.17.0.2:80/docs/up.html")
        );
        assert_eq!(
            join("../../../../top.html").as_deref(),
            Some("http://172.17.0.2:80/top.html")
        );
        assert_eq!(
            join("/abs/./x/../y.css").as_deref(),
            Some("http://172.17.0.2:80/abs/y.css")
        );
        assert_eq!(
            join("?page=2").as_deref(),
            Some("http://172.17.0.2:80/docs/guide/index.html?page=2")
        );
        assert_eq!(
            join("./").as_deref(),
            Some("http://172.17.0.2:80/docs/guide/")
        );
        assert_eq!(
            join("sub/#frag").as_deref(),
            Some("http://172.17.0.2:80/docs/guide/sub/")
        );
        assert_eq!(
            join("//example.com/a").as_deref(),
            Some("http://example.com/a")
        );
        assert_eq!(
            join("HTTPS://Example.COM:8443").as_deref(),
            Some("https://example.com:8443/")
        );
        assert_eq!(
            join(" my page.html\n").as_deref(),
            Some("http://172.17.0.2:80/docs/guide/my%20page.html")
        );
        assert_eq!(join("#top"), None);
        assert_eq!(join(""), None);
        assert_eq!(join("mailto:a@b.c"), None);
        assert_eq!(join("data:image/png;base64,AAAA"), None);
        assert_eq!(join("javascript:void(0)"), None);
    }

    #[test]
    fn absolute_urls_keep_host_port_and_query() {
        let u = Url::parse("https://user:pw@[::1]:8443/a/../b?q=1#f").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "[::1]");
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.target, "/b?q=1");
        assert_eq!(u.effective_port(), 8443);
        let v = Url::parse("http://www.example.com?x").unwrap();
        assert_eq!((v.port, v.target.as_str()), (None, "/?x"));
        assert_eq!(v.effective_port(), 80);
        let w = Url::parse("http://Bücher.example/a|b\\c?q=\"x\"").unwrap();
        assert_eq!(w.host, "xn--bcher-kva.example");
        assert_eq!(w.target, "/a%7Cb/c?q=%22x%22");
        assert!(Url::parse("ftp://example.com/").is_none());
        assert!(Url::parse("http://example.com:99999/").is_none());
    }

    #[test]
    fn components_are_escaped() {
        assert_eq!(encode_component("a b/c?d&é"), "a%20b%2Fc%3Fd%26%C3%A9");
        assert_eq!(encode_target("/a b?q=é"), "/a%20b?q=%C3%A9");
        assert_eq!(encode_target("/a%20b"), "/a%20b");
    }
}
