//! `slim build` with its default probing crawls a site: Debian's nginx serving pages that
//! are reachable only by following links three deep, a page listed only in a sitemap (a
//! sitemap index found at /sitemap.xml names the sitemap that lists it), a stylesheet that
//! loads a font through `url()`, images from `srcset`, a GET form's action, and a custom
//! 404 page with its own stylesheet. None of their paths is given to slim; the slim image
//! must serve each with the same status, content type and bytes as the original.
//!
//! A page nothing links to is the control: the slim image does not serve it, so the crawl
//! (not a keep-everything rule) is what kept the others.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Containers are reached by their bridge address.

use std::time::Duration;

use slim_fixtures::{BuildCommand, CRAWL_SITE, TestContainer, image};

const STARTUP: Duration = Duration::from_secs(30);

fn site(path: &str) -> &'static [u8] {
    CRAWL_SITE
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("no {path} in the crawl site"))
}

#[test]
fn root_engine_crawl_keeps_every_page_linked_listed_or_loaded_and_the_404_page() {
    let original = image("nginx-crawl");
    let build = BuildCommand::new(&original).unique_tag("nginx-crawl").run();
    let slim = build.image();
    let crawl = build
        .messages()
        .into_iter()
        .find(|l| l.starts_with("slim: crawl: ") && l.contains("HTML page(s)"))
        .unwrap_or_else(|| panic!("no crawl summary in:\n{}", build.stderr));
    assert!(
        crawl.ends_with(", 0 failed"),
        "every crawl request should have been answered: {crawl}\n{}",
        build.stderr
    );

    let theirs = TestContainer::start(&original, &[], &[]);
    let ours = TestContainer::start(&slim.tag, &[], &[]);
    // (path, status the original answers, the file it serves)
    let mut cases: Vec<(&str, u16, &str)> = vec![("/", 200, "/index.html")];
    for (path, _) in CRAWL_SITE {
        match *path {
            "/unlinked.html" => {}
            // Internal: asked for directly, nginx answers with the 404 page itself.
            "/errors/404.html" => cases.push((path, 404, "/errors/404.html")),
            _ => cases.push((path, 200, path)),
        }
    }
    cases.push(("/no/such/page.html", 404, "/errors/404.html"));
    for (path, status, file) in cases {
        let expected = theirs.get(80, path, STARTUP);
        assert_eq!(
            (expected.status, expected.body.as_slice()),
            (status, site(file)),
            "the original image on {path}"
        );
        let got = ours.get(80, path, STARTUP);
        assert_eq!(
            (got.status, got.header("content-type")),
            (expected.status, expected.header("content-type")),
            "GET {path} on the slim image; build stderr:\n{}\ncontainer logs:\n{}",
            build.stderr,
            ours.logs()
        );
        assert!(
            got.body == expected.body,
            "GET {path} on the slim image served other bytes:\n{}",
            got.text()
        );
    }

    // The control: nothing links to this page, so the slim image does not have it.
    let unlinked = theirs.get(80, "/unlinked.html", STARTUP);
    assert_eq!(unlinked.status, 200, "the original serves /unlinked.html");
    let gone = ours.get(80, "/unlinked.html", STARTUP);
    assert_eq!(
        (gone.status, gone.body.as_slice()),
        (404, site("/errors/404.html")),
        "the slim image should answer /unlinked.html with the custom 404 page"
    );
}
