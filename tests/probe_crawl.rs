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

/// The kept paths of a build's report.
fn kept_paths(build: &slim_fixtures::BuildOutcome) -> Vec<String> {
    let report = build
        .report
        .as_ref()
        .unwrap_or_else(|| panic!("no report:\n{}", build.stderr));
    report["keep"]["paths"]
        .as_array()
        .expect("keep.paths is an array")
        .iter()
        .filter_map(|p| p["path"].as_str().map(str::to_string))
        .collect()
}

/// The status each crawled path got in a build's report.
fn crawled(build: &slim_fixtures::BuildOutcome) -> Vec<(String, u64)> {
    let report = build.report.as_ref().expect("a report");
    report["probes"]["results"]
        .as_array()
        .expect("probes.results is an array")
        .iter()
        .filter_map(|r| {
            Some((
                r["path"].as_str()?.to_string(),
                r["answer"]["status"].as_u64()?,
            ))
        })
        .collect()
}

/// A server bound to the container's loopback (`--bind 127.0.0.1`) is ready, crawled and
/// verified without `--network host`: slim reads what the container listens on from the
/// kernel, and opens its connections inside the container's network namespace. The same
/// with `--network none`, where the container has no address at all. The control: the
/// page nothing links to is not kept.
#[test]
fn root_engine_a_server_bound_to_the_container_loopback_is_crawled_from_inside_its_network() {
    let original = image("loopback-site");
    for (label, options) in [
        ("loopback", &[][..]),
        ("loopback-none", &["--network", "none"][..]),
    ] {
        let mut command = BuildCommand::new(&original).unique_tag(label);
        for option in options {
            command = command.flag(option);
        }
        let build = command.run();
        build.assert_success();
        let _slim = build.image();
        let pages = crawled(&build);
        for path in ["/", "/next.html", "/deep/last.html"] {
            assert!(
                pages.iter().any(|(p, status)| p == path && *status == 200),
                "{label}: the crawl should have got {path} (200): {pages:?}\n{}",
                build.stderr
            );
        }
        let verification = &build.report.as_ref().expect("a report")["verification"];
        assert_eq!(
            verification["status"], "verified",
            "{label}: the slim image should serve the same pages: {verification:#}"
        );
        let kept = kept_paths(&build);
        assert!(
            kept.iter().any(|p| p == "/srv/www/deep/last.html"),
            "{label}: the page two links deep should be kept"
        );
        assert!(
            !kept.iter().any(|p| p == "/srv/www/unlinked.html"),
            "{label}: the control: nothing links to unlinked.html, so it is not kept"
        );
    }
}

/// `--host-exec` scripts reach a server bound to the container's loopback through a host
/// port slim relays into the container's network namespace (`SLIM_TARGET` names it): the
/// page only the script asks for is served, traced and kept. The control is the test
/// above, whose build without the script does not keep that page.
#[test]
fn root_engine_host_exec_reaches_a_loopback_server_through_a_relayed_port() {
    let script = r#"bash -c 'exec 3<>"/dev/tcp/${SLIM_TARGET%:*}/${SLIM_TARGET##*:}" && printf "GET /unlinked.html HTTP/1.0\r\n\r\n" >&3 && cat <&3' | grep -q "^HTTP/1.. 200""#;
    let build = BuildCommand::new(&image("loopback-site"))
        .unique_tag("loopback-host-exec")
        .option("--host-exec", script)
        .run();
    let _slim = build.image();
    assert!(
        build.stderr.contains("SLIM_TARGET has 127.0.0.1:")
            && build.stderr.contains("relayed to 127.0.0.1:"),
        "slim should say it relays a host port:\n{}",
        build.stderr
    );
    let kept = kept_paths(&build);
    assert!(
        kept.iter().any(|p| p == "/srv/www/unlinked.html"),
        "the page the host script fetched through the relay should be kept:\n{}",
        build.stderr
    );
    let verification = &build.report.as_ref().expect("a report")["verification"];
    assert_eq!(
        verification["status"], "verified",
        "the script reaches the slim image the same way: {verification:#}"
    );
}
