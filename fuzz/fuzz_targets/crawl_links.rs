//! What the crawler reads from the application under test: HTML and CSS links, `srcset`,
//! entities, robots.txt and sitemaps, and URL resolution against the page. No panic on
//! any text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slim_cli::drive::links;
use slim_cli::drive::sitemap;
use slim_cli::drive::url::Url;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let page = Url::new("http", "172.17.0.2", 8080, "/dir/page.html");
    let html = links::html_links(&text);
    let base = html
        .base
        .as_deref()
        .and_then(|b| page.join(b))
        .unwrap_or_else(|| page.clone());
    for link in &html.links {
        if let Some(url) = base.join(&link.reference) {
            let _ = url.to_string();
            assert!(url.target.starts_with('/'), "target {:?}", url.target);
        }
    }
    for reference in links::css_links(&text) {
        let _ = page.join(&reference);
    }
    let _ = links::srcset_urls(&text);
    let _ = links::decode_entities(&text);
    let _ = Url::parse(&text);
    let _ = sitemap::robots_sitemaps(&text);
    let _ = sitemap::parse_sitemap(&text);
});
