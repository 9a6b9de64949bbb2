//! Just enough of URLs for the crawler: absolute `http`/`https` URLs, resolution of the
//! references a page holds against the page's own URL (RFC 3986, section 5), and the
//! request target a probe sends. Host names are compared, never looked up.

use std::fmt;

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
        let text = clean(text);
        let text = text.split('#').next().unwrap_or("");
        let (scheme, rest) = split_scheme(text)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let rest = rest.strip_prefix("//")?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = split_authority(authority)?;
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else if target.is_empty() {
            "/".to_string()
        } else {
            target.to_string()
        };
        Some(Url {
            scheme,
            host,
            port,
            target: encode_target(&remove_dot_segments_in_target(&target)),
        })
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
    /// `javascript:`), to the page itself (`#top`, empty), and for malformed ones.
    pub fn join(&self, reference: &str) -> Option<Url> {
        let reference = clean(reference);
        let reference = reference.split('#').next().unwrap_or("");
        if reference.is_empty() {
            return None;
        }
        if split_scheme(reference).is_some() {
            return Url::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let target = if reference.starts_with('/') {
            remove_dot_segments_in_target(reference)
        } else if reference.starts_with('?') {
            format!("{}{reference}", self.path())
        } else {
            let base = self.path();
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            remove_dot_segments_in_target(&format!("{dir}{reference}"))
        };
        Some(Url {
            scheme: self.scheme.clone(),
            host: self.host.clone(),
            port: self.port,
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

/// Strips what HTML strips from URL attributes: surrounding white space, and tabs and
/// newlines inside.
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// `scheme:rest` when `text` starts with a scheme.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| (scheme, &text[colon + 1..]))
}

/// `host[:port]` of an authority, dropping any `user:password@`.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &authority[..end + 2];
        let after = &rest[end + 1..];
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Removes `.` and `..` segments from the path of an origin-form target.
fn remove_dot_segments_in_target(target: &str) -> String {
    let (path, query) = match target.find('?') {
        Some(i) => (&target[..i], &target[i..]),
        None => (target, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if trailing_slash && !path.ends_with('/') {
        path.push('/');
    }
    format!("{path}{query}")
}

/// Percent-encodes what may not appear in a request target (spaces, quotes, non-ASCII …);
/// existing escapes are left as they are.
pub fn encode_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for c in target.chars() {
        if c.is_ascii_graphic()
            && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
        {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Percent-encodes a value for a path segment or a query parameter: everything but the
/// unreserved characters of RFC 3986.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
