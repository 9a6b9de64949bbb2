//! `slim build` on Debian's nginx serving a small static site: the slim image serves what
//! the traced run fetched with the same bytes, keeps its EXPOSE, ENTRYPOINT, CMD and
//! USER, and its processes run as the same users (master root, workers www-data).
//!
//! What `slim build` promises today: by default it sends `GET /` to each exposed port, so
//! the home page is kept; other pages are kept when the traced run fetches them, here
//! through `--exec` commands run inside the container (there is no crawler yet).
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Containers are reached by their bridge address.

use std::time::Duration;

use slim_fixtures::{BuildCommand, EngineImage, NGINX_SITE, TestContainer, image, image_entries};

const STARTUP: Duration = Duration::from_secs(30);

fn site(path: &str) -> &'static [u8] {
    NGINX_SITE
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("no {path} in the fixture site"))
}

#[test]
fn root_engine_nginx_default_build_serves_the_same_home_page_as_the_same_users() {
    let original = image("nginx");
    let build = BuildCommand::new(&original).run();
    let slim = build.image();

    let (repository, tag) = original.rsplit_once(':').expect("fixture tags have a tag");
    assert_eq!(
        slim.tag,
        format!("{repository}.slim:{tag}"),
        "the default tag is <repo>.slim:<tag>"
    );
    let before = EngineImage::inspect(&original);
    for field in [
        "ExposedPorts",
        "Entrypoint",
        "Cmd",
        "User",
        "Env",
        "WorkingDir",
    ] {
        assert_eq!(
            slim.engine.config[field], before.config[field],
            "Config.{field} changed"
        );
    }
    assert!(
        slim.engine.size * 4 < before.size,
        "the slim image is not small: {} bytes of {} (stderr:\n{})",
        slim.engine.size,
        before.size,
        build.stderr
    );

    let theirs = TestContainer::start(&original, &[], &[]);
    let ours = TestContainer::start(&slim.tag, &[], &[]);
    let expected = theirs.get(80, "/", STARTUP);
    let got = ours.get(80, "/", STARTUP);
    assert_eq!(
        expected.status,
        200,
        "the original nginx: {}",
        expected.text()
    );
    assert_eq!(
        expected.body,
        site("/index.html"),
        "the original serves the site"
    );
    assert_eq!(
        (got.status, got.header("content-type")),
        (expected.status, expected.header("content-type")),
        "GET / on the slim image; logs:\n{}",
        ours.logs()
    );
    assert!(
        got.body == expected.body,
        "GET / on the slim image served other bytes:\n{}",
        got.text()
    );

    // Master as root, workers as www-data (Debian's nginx.conf), in both.
    let processes = ours.processes();
    assert_eq!(
        processes,
        theirs.processes(),
        "the slim image's processes run as other users"
    );
    assert!(
        processes
            .iter()
            .any(|(uid, comm)| uid == "0" && comm == "nginx")
            && processes
                .iter()
                .any(|(uid, comm)| uid == "33" && comm == "nginx"),
        "expected an nginx master as root and workers as www-data (33): {processes:?}"
    );
}

#[test]
fn root_engine_nginx_pages_fetched_by_exec_commands_are_served_the_same() {
    // bash's /dev/tcp inside the traced container: nginx serves each page while the probe
    // watches, as a crawler would.
    let pages = ["/about.html", "/docs/guide.html", "/style.css", "/logo.png"];
    let crawl = format!(
        "for p in {}; do exec 3<>/dev/tcp/127.0.0.1/80 && printf 'GET %s HTTP/1.0\\r\\n\\r\\n' \"$p\" >&3 && cat <&3 >/dev/null; exec 3<&-; done",
        pages.join(" ")
    );
    let exec = serde_json::to_string(&["bash", "-c", &crawl]).expect("JSON");
    let original = image("nginx");
    let build = BuildCommand::new(&original)
        .option("--exec", &exec)
        .unique_tag("nginx-crawled")
        .run();
    let slim = build.image();
    assert!(
        build.stderr.contains("exit 0"),
        "the --exec crawl failed:\n{}",
        build.stderr
    );

    let theirs = TestContainer::start(&original, &[], &[]);
    let ours = TestContainer::start(&slim.tag, &[], &[]);
    for path in std::iter::once("/").chain(pages) {
        let expected = theirs.get(80, path, STARTUP);
        let got = ours.get(80, path, STARTUP);
        assert_eq!(expected.status, 200, "the original on {path}");
        if path != "/" {
            assert_eq!(expected.body, site(path), "the original serves {path}");
        }
        assert_eq!(
            (got.status, got.header("content-type")),
            (expected.status, expected.header("content-type")),
            "GET {path} on the slim image; logs:\n{}",
            ours.logs()
        );
        assert!(
            got.body == expected.body,
            "GET {path} on the slim image served other bytes"
        );
    }
}

/// Paths of `tag`'s layers that are Perl: the interpreter or its library.
fn perl_paths(tag: &str) -> Vec<String> {
    image_entries(tag)
        .into_iter()
        .map(|e| e.path)
        .filter(|p| {
            p.starts_with("/usr/bin/perl") || p.starts_with("/usr/lib/x86_64-linux-gnu/perl")
        })
        .collect()
}

/// The CA keep-list matches OpenSSL's `CA.pl` and `tsget.pl` (Perl scripts); kept as data
/// they used to bring a whole Perl along, the largest part of the slim image. The control:
/// the same build naming `CA.pl` with `--keep` (a script the user says runs) keeps Perl.
#[test]
fn root_engine_nginx_slim_image_holds_no_perl_unless_a_kept_script_needs_it() {
    let original = image("nginx");
    assert!(
        image_entries(&original)
            .iter()
            .any(|e| e.path == "/usr/lib/ssl/misc/CA.pl"),
        "the fixture has OpenSSL's CA.pl under the CA store, or this test proves nothing"
    );
    let build = BuildCommand::new(&original)
        .unique_tag("nginx-no-perl")
        .run();
    let slim = build.image();
    let perl = perl_paths(&slim.tag);
    assert!(perl.is_empty(), "the slim image holds Perl: {perl:?}");

    let named = BuildCommand::new(&original)
        .unique_tag("nginx-perl-named")
        .option("--keep", "/usr/lib/ssl/misc/CA.pl")
        .run();
    let with_script = named.image();
    assert!(
        perl_paths(&with_script.tag)
            .iter()
            .any(|p| p == "/usr/bin/perl"),
        "a script named with --keep keeps its interpreter"
    );
}
