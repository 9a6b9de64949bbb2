//! The references a crawler follows, found in HTML and CSS by a small tokenizer (no DOM,
//! no scripts run): `a`/`area` links, `link` elements, `script`, `img` and `source` (with
//! `srcset`), media, frames, GET form actions, `meta refresh`, `<base href>`, and CSS
//! `url()` and `@import` in stylesheets, `<style>` elements and `style` attributes.
//!
//! Each reference is either a page to navigate to (counts towards the crawl depth) or a
//! resource the page needs to render (fetched whatever the depth).

/// Why a reference is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Another page (`a`, `area`, frames, forms, `meta refresh`, `link rel=next` …).
    Page,
    /// Something the page needs: stylesheets, scripts, images, fonts, media.
    Resource,
}

/// One reference found in a document, as written (not yet resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub reference: String,
    pub kind: LinkKind,
}

/// What an HTML document refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HtmlLinks {
    /// `<base href>`, against which the other references resolve.
    pub base: Option<String>,
    pub links: Vec<Link>,
}

/// `link rel` values whose target the page needs to render.
const RESOURCE_RELS: &[&str] = &[
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "apple-touch-icon-precomposed",
    "mask-icon",
    "preload",
    "modulepreload",
    "prefetch",
    "manifest",
];

/// The references of an HTML document, in document order.
pub fn html_links(html: &str) -> HtmlLinks {
    let mut out = HtmlLinks::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        i += offset;
        let rest = &html[i..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            i = match comment.find("-->") {
                Some(end) => i + 4 + end + 3,
                None => html.len(),
            };
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") || rest.starts_with("</") {
            i = match rest.find('>') {
                Some(end) => i + end + 1,
                None => html.len(),
            };
            continue;
        }
        if !bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
            continue;
        }
        let (tag, end) = parse_tag(html, i + 1);
        i = end;
        match tag.name.as_str() {
            "script" | "style" | "textarea" | "title" => {
                let close = format!("</{}", tag.name);
                let content_end =
                    find_ascii_case_insensitive(&html[i..], &close).map_or(html.len(), |p| i + p);
                if tag.name == "style" {
                    out.links
                        .extend(css_links(&html[i..content_end]).into_iter().map(resource));
                }
                tag_links(&tag, &mut out);
                i = content_end;
            }
            _ => tag_links(&tag, &mut out),
        }
    }
    out
}

fn resource(reference: String) -> Link {
    Link {
        reference,
        kind: LinkKind::Resource,
    }
}

/// One start tag: its lower-case name and attributes (values with entities decoded).
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
}

impl Tag {
    fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the start tag whose name begins at `start`; returns it and the index after `>`.
fn parse_tag(html: &str, start: usize) -> (Tag, usize) {
    let bytes = html.as_bytes();
    let mut i = start;
    while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'>' && bytes[i] != b'/' {
        i += 1;
    }
    let name = html[start..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && (is_space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        if bytes[i] == b'>' {
            i += 1;
            break;
        }
        let name_start = i;
        while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        if i == name_start {
            // A stray `=`: skip it.
            i += 1;
            continue;
        }
        let attr = html[name_start..i].to_ascii_lowercase();
        let mut j = i;
        while j < bytes.len() && is_space(bytes[j]) {
            j += 1;
        }
        let mut value = String::new();
        if j < bytes.len() && bytes[j] == b'=' {
            j += 1;
            while j < bytes.len() && is_space(bytes[j]) {
                j += 1;
            }
            match bytes.get(j) {
                Some(&q @ (b'"' | b'\'')) => {
                    let value_start = j + 1;
                    let end = html[value_start..]
                        .find(char::from(q))
                        .map_or(html.len(), |p| value_start + p);
                    value = decode_entities(&html[value_start..end]);
                    j = (end + 1).min(html.len());
                }
                _ => {
                    let value_start = j;
                    while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' {
                        j += 1;
                    }
                    value = decode_entities(&html[value_start..j]);
                }
            }
            i = j;
        }
        attributes.push((attr, value));
    }
    (Tag { name, attributes }, i)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    haystack
        .as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Adds what one start tag refers to.
fn tag_links(tag: &Tag, out: &mut HtmlLinks) {
    let mut add = |value: Option<&str>, kind: LinkKind| {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            out.links.push(Link {
                reference: v.to_string(),
                kind,
            });
        }
    };
    match tag.name.as_str() {
        "a" | "area" => add(tag.get("href"), LinkKind::Page),
        "link" => {
            let rel = tag.get("rel").unwrap_or("").to_ascii_lowercase();
            let kind = if rel.split_whitespace().any(|r| RESOURCE_RELS.contains(&r)) {
                LinkKind::Resource
            } else {
                LinkKind::Page
            };
            add(tag.get("href"), kind);
            if let Some(srcset) = tag.get("imagesrcset") {
                out.links
                    .extend(srcset_urls(srcset).into_iter().map(resource));
            }
        }
        "script" | "embed" | "track" | "audio" => add(tag.get("src"), LinkKind::Resource),
        "img" | "source" => {
            add(tag.get("src"), LinkKind::Resource);
            if let Some(srcset) = tag.get("srcset") {
                out.links
                    .extend(srcset_urls(srcset).into_iter().map(resource));
            }
        }
        "video" => {
            add(tag.get("src"), LinkKind::Resource);
            add(tag.get("poster"), LinkKind::Resource);
        }
        "input"
            if tag
                .get("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("image")) =>
        {
            add(tag.get("src"), LinkKind::Resource);
        }
        "object" => add(tag.get("data"), LinkKind::Resource),
        "iframe" | "frame" => add(tag.get("src"), LinkKind::Page),
        "form" => {
            let get = tag
                .get("method")
                .is_none_or(|m| m.trim().eq_ignore_ascii_case("get"));
            if get {
                add(tag.get("action"), LinkKind::Page);
            }
        }
        "base" if out.base.is_none() => out.base = tag.get("href").map(str::to_string),
        "meta" => {
            let refresh = tag
                .get("http-equiv")
                .is_some_and(|h| h.eq_ignore_ascii_case("refresh"));
            if refresh {
                add(tag.get("content").and_then(refresh_url), LinkKind::Page);
            }
        }
        _ => {}
    }
    if let Some(style) = tag.get("style") {
        out.links.extend(css_links(style).into_iter().map(resource));
    }
    if let Some(background) = tag.get("background") {
        out.links.push(resource(background.to_string()));
    }
}

/// The URL of `<meta http-equiv=refresh content="5; url=/next">`.
fn refresh_url(content: &str) -> Option<&str> {
    let (_, rest) = content.split_once([';', ','])?;
    let rest = rest.trim_start();
    // Compared as bytes: the content is the page's text, and slicing it as a string
    // could cut a character in two.
    let value = if rest.len() >= 3 && rest.as_bytes()[..3].eq_ignore_ascii_case(b"url") {
        rest[3..].trim_start().strip_prefix('=')?.trim()
    } else {
        rest.trim()
    };
    Some(value.trim_matches(|c| c == '\'' || c == '"'))
}

/// The URLs of a `srcset` (`a.png 1x, b.png 2x`, `c.jpg 640w`).
pub fn srcset_urls(srcset: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = srcset;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        let end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let mut url = &rest[..end];
        rest = &rest[end..];
        let trailing_comma = url.ends_with(',');
        url = url.trim_end_matches(',');
        if !url.is_empty() {
            out.push(url.to_string());
        }
        if !trailing_comma {
            // Skip the descriptors up to the next comma outside parentheses.
            let mut depth = 0usize;
            let mut cut = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    ',' if depth == 0 => {
                        cut = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            rest = &rest[cut..];
        }
    }
    out
}

/// The URLs a stylesheet refers to: `url(…)` (quoted or not) and `@import "…"`, comments
/// skipped, `data:` URLs dropped.
pub fn css_links(css: &str) -> Vec<String> {
    let css = strip_css_comments(css);
    let mut out = Vec::new();
    let lower = css.to_ascii_lowercase();
    let mut i = 0;
    while i < css.len() {
        let next_url = lower[i..].find("url(").map(|p| (p + i, true));
        let next_import = lower[i..].find("@import").map(|p| (p + i, false));
        let next = match (next_url, next_import) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        let Some((at, is_url)) = next else { break };
        if is_url {
            let start = at + 4;
            let inner = css[start..].trim_start();
            let skipped = css.len() - start - inner.len();
            let (value, consumed) = match inner.chars().next() {
                Some(q @ ('"' | '\'')) => match inner[1..].find(q) {
                    Some(end) => (&inner[1..=end], end + 2),
                    None => (&inner[1..], inner.len()),
                },
                _ => match inner.find(')') {
                    Some(end) => (inner[..end].trim_end(), end),
                    None => (inner, inner.len()),
                },
            };
            push_css_url(&mut out, value);
            i = start + skipped + consumed;
        } else {
            let start = at + "@import".len();
            let inner = css[start..].trim_start();
            let skipped = css.len() - start - inner.len();
            match inner.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = inner[1..].find(q).map_or(inner.len(), |e| e + 1);
                    push_css_url(&mut out, &inner[1..end]);
                    i = start + skipped + (end + 1).min(inner.len());
                }
                // `@import url(…)` is found by the `url(` branch next.
                _ => i = start,
            }
        }
    }
    out
}

fn push_css_url(out: &mut Vec<String>, value: &str) {
    let value = value.trim();
    if !value.is_empty()
        && !value
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        out.push(value.to_string());
    }
}

fn strip_css_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = match rest[start + 2..].find("*/") {
            Some(end) => &rest[start + 2 + end + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Decodes the character references that appear in URLs: the numeric ones and the few
/// named ones (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;`).
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map_or(rest.len(), |e| e + 1);
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                if rest.starts_with(';') {
                    rest = &rest[1..];
                }
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`crawl_links`): a `meta refresh` whose content has a multi-byte
    /// character right after a `u` panicked the crawler (a string sliced inside a char).
    #[test]
    fn meta_refresh_with_a_multibyte_char_after_u_is_not_a_panic() {
        let page = include_bytes!("testdata/meta-refresh-multibyte-after-u.html");
        let _ = html_links(&String::from_utf8_lossy(page));
        let links = html_links("<meta http-equiv=\"refresh\" content=\"5; u\u{20ac}=x\">");
        assert_eq!(links.links[0].reference, "u\u{20ac}=x");
        let links = html_links("<meta http-equiv=\"refresh\" content=\"0; URL='/next'\">");
        assert_eq!(links.links[0].reference, "/next");
    }

    fn refs(links: &HtmlLinks, kind: LinkKind) -> Vec<&str> {
        links
            .links
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| l.reference.as_str())
            .collect()
    }

    #[test]
    fn pages_and_resources_of_a_document_in_order() {
        let html = r##"<!doctype html>
<html><head>
  <meta charset=utf-8>
  <base href="/site/">
  <link rel="stylesheet" href="css/a.css">
  <link rel="icon shortcut" href=/favicon.ico>
  <link rel="alternate" type="application/rss+xml" href="/feed.xml">
  <link rel=preload as=image imagesrcset="hero-1x.png 1x, hero-2x.png 2x">
  <script src='/js/app.js'></script>
  <script>var s = "<a href='/not-a-link'>";</script>
  <style>body { background: url( "bg.png" ) } @import 'print.css';</style>
  <meta http-equiv="Refresh" content="30; URL='/refreshed'">
</head>
<body style="background-image:url(/body.jpg)">
  <!-- <a href="/commented">no</a> -->
  <A HREF="/about?x=1&amp;y=2">About</A>
  <a href = "next.html" >Next</a> <a href="#top">top</a> <a>no href</a>
  <img src="/img/a.png" srcset="/img/a-2x.png 2x, /img/a,3x.png 3x" alt="x > y">
  <picture><source srcset="/img/wide.webp 800w,/img/narrow.webp 400w"></picture>
  <video src=/v.mp4 poster=/poster.jpg></video>
  <iframe src="/frame.html"></iframe>
  <form action="/search"><input name=q></form>
  <form method="post" action="/login"></form>
  <form method="GET" action="/filter"></form>
  <input type="image" src="/submit.png">
  <textarea><a href="/in-textarea"></a></textarea>
</body></html>"##;
        let links = html_links(html);
        assert_eq!(links.base.as_deref(), Some("/site/"));
        assert_eq!(
            refs(&links, LinkKind::Page),
            [
                "/feed.xml",
                "/refreshed",
                "/about?x=1&y=2",
                "next.html",
                "#top",
                "/frame.html",
                "/search",
                "/filter",
            ]
        );
        assert_eq!(
            refs(&links, LinkKind::Resource),
            [
                "css/a.css",
                "/favicon.ico",
                "hero-1x.png",
                "hero-2x.png",
                "/js/app.js",
                "bg.png",
                "print.css",
                "/body.jpg",
                "/img/a.png",
                "/img/a-2x.png",
                "/img/a,3x.png",
                "/img/wide.webp",
                "/img/narrow.webp",
                "/v.mp4",
                "/poster.jpg",
                "/submit.png",
            ]
        );
    }

    #[test]
    fn broken_markup_does_not_stop_the_scan() {
        let links = html_links("<a href='/one'>1</a> 3 < 4 <a href=\"/two");
        assert_eq!(refs(&links, LinkKind::Page), ["/one", "/two"]);
        assert_eq!(html_links("<").links, []);
        assert_eq!(html_links("<a href").links, []);
        assert_eq!(html_links("<!-- never closed <a href=/x>").links, []);
        let unicode = html_links("<p>é</p><a href=\"/caf\u{e9}\">café</a>");
        assert_eq!(refs(&unicode, LinkKind::Page), ["/caf\u{e9}"]);
    }

    #[test]
    fn stylesheet_urls_and_imports() {
        let css = r#"
/* url(/commented.png) */
@import "base.css";
@import url('theme.css') screen;
@font-face { font-family: X; src: url("../fonts/x.woff2") format("woff2"), url(../fonts/x.woff) format("woff"); }
.a { background: URL( /img/bg.png ) no-repeat; }
.b { background: url(data:image/png;base64,AAAA); }
.c { mask: url('') }
"#;
        assert_eq!(
            css_links(css),
            [
                "base.css",
                "theme.css",
                "../fonts/x.woff2",
                "../fonts/x.woff",
                "/img/bg.png"
            ]
        );
    }

    #[test]
    fn srcset_candidates() {
        assert_eq!(
            srcset_urls(" a.png 1x,b.png 2x , c.png"),
            ["a.png", "b.png", "c.png"]
        );
        assert_eq!(srcset_urls("x.png, y.png 2x"), ["x.png", "y.png"]);
        assert_eq!(
            srcset_urls("img.jpg (max-width: 600px, x) 1x, other.jpg"),
            ["img.jpg", "other.jpg"]
        );
        assert!(srcset_urls("  ").is_empty());
    }

    #[test]
    fn character_references() {
        assert_eq!(decode_entities("a&amp;b&#38;c&#x26;d&lt;"), "a&b&c&d<");
        assert_eq!(decode_entities("&unknown; & &#xZZ;"), "&unknown; & &#xZZ;");
        assert_eq!(decode_entities("x&amp"), "x&");
    }
}
