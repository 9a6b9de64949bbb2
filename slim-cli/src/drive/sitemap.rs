//! Where a site lists its own pages: `Sitemap:` lines of `/robots.txt`, and sitemaps
//! (`<urlset>` of pages, `<sitemapindex>` of further sitemaps, or plain text, one URL a
//! line). Read by scanning for `<loc>` elements: no XML library, no DTDs, no entities
//! beyond the predefined ones.

use super::links::decode_entities;

/// What a sitemap lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sitemap {
    /// Pages of the site.
    Pages(Vec<String>),
    /// Further sitemaps (a sitemap index).
    Index(Vec<String>),
}

/// The sitemap URLs named by a robots.txt (`Sitemap: URL`, any case).
pub fn robots_sitemaps(robots: &str) -> Vec<String> {
    robots
        .lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let (key, value) = line.split_once(':')?;
            (key.trim().eq_ignore_ascii_case("sitemap") && !value.trim().is_empty())
                .then(|| value.trim().to_string())
        })
        .collect()
}

/// Parses a sitemap: XML (`urlset` or `sitemapindex`) or a text file of URLs.
pub fn parse_sitemap(text: &str) -> Sitemap {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if !text.starts_with('<') {
        return Sitemap::Pages(
            text.lines()
                .map(str::trim)
                .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
                .map(str::to_string)
                .collect(),
        );
    }
    let locs = element_texts(text, "loc");
    if root_element(text).as_deref() == Some("sitemapindex") {
        Sitemap::Index(locs)
    } else {
        Sitemap::Pages(locs)
    }
}

/// The local name of the document's first element, after the prolog.
fn root_element(xml: &str) -> Option<String> {
    let mut rest = xml;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start..];
        if rest.starts_with("<?") {
            rest = &rest[rest.find("?>")? + 2..];
        } else if rest.starts_with("<!--") {
            rest = &rest[rest.find("-->")? + 3..];
        } else if rest.starts_with("<!") {
            rest = &rest[rest.find('>')? + 1..];
        } else {
            let name: String = rest[1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            return Some(local_name(&name).to_string());
        }
    }
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// The text of every element with local name `name` (any namespace prefix), CDATA
/// unwrapped, entities decoded, white space trimmed.
fn element_texts(xml: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let tag_end = match rest.find('>') {
            Some(e) => e,
            None => break,
        };
        let tag = &rest[..tag_end];
        let tag_name = tag.split_whitespace().next().unwrap_or("");
        if tag.starts_with(['/', '!', '?']) || local_name(tag_name) != name || tag.ends_with('/') {
            continue;
        }
        let body_start = tag_end + 1;
        let close = format!("</{tag_name}");
        let Some(body_len) = rest[body_start..].find(&close) else {
            break;
        };
        let body = rest[body_start..body_start + body_len].trim();
        let text = body
            .strip_prefix("<![CDATA[")
            .and_then(|b| b.strip_suffix("]]>"))
            .map_or_else(|| decode_entities(body), str::to_string);
        let text = text.trim();
        if !text.is_empty() {
            out.push(text.to_string());
        }
        rest = &rest[body_start + body_len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_names_its_sitemaps() {
        let robots = "User-agent: *\nDisallow: /private\nSitemap: https://example.com/sitemap-a.xml\n\
                      sitemap:/relative.xml # comment\nSITEMAP:\n";
        assert_eq!(
            robots_sitemaps(robots),
            ["https://example.com/sitemap-a.xml", "/relative.xml"]
        );
        assert!(robots_sitemaps("User-agent: *\n").is_empty());
    }

    #[test]
    fn a_urlset_lists_pages() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://www.example.com/</loc><lastmod>2024-01-01</lastmod></url>
  <url>
    <loc>
      https://www.example.com/a?x=1&amp;y=2
    </loc>
  </url>
  <url><loc><![CDATA[https://www.example.com/b&c]]></loc></url>
</urlset>"#;
        assert_eq!(
            parse_sitemap(xml),
            Sitemap::Pages(vec![
                "https://www.example.com/".into(),
                "https://www.example.com/a?x=1&y=2".into(),
                "https://www.example.com/b&c".into(),
            ])
        );
    }

    #[test]
    fn a_sitemap_index_lists_sitemaps_with_any_prefix() {
        let xml = "\u{feff}<?xml version=\"1.0\"?><sm:sitemapindex xmlns:sm=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                   <sm:sitemap><sm:loc>/sitemaps/pages.xml</sm:loc></sm:sitemap>\
                   <sm:sitemap><sm:loc>https://example.com/sitemaps/posts.xml</sm:loc></sm:sitemap>\
                   </sm:sitemapindex>";
        assert_eq!(
            parse_sitemap(xml),
            Sitemap::Index(vec![
                "/sitemaps/pages.xml".into(),
                "https://example.com/sitemaps/posts.xml".into()
            ])
        );
    }

    #[test]
    fn text_sitemaps_and_junk() {
        assert_eq!(
            parse_sitemap("https://example.com/a\n\nnot a url\nhttp://example.com/b\n"),
            Sitemap::Pages(vec![
                "https://example.com/a".into(),
                "http://example.com/b".into()
            ])
        );
        assert_eq!(
            parse_sitemap("<html><body>404</body></html>"),
            Sitemap::Pages(vec![])
        );
        assert_eq!(parse_sitemap("<urlset><loc>x"), Sitemap::Pages(vec![]));
    }
}
