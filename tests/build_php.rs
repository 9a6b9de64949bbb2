//! `slim build` on a PHP application on Debian's Apache with mod_php and the intl,
//! mbstring and SQLite extensions, and on the same application behind nginx with PHP-FPM
//! (two processes started by one script). The build's crawl reaches the home page and the
//! one page it links to; the other pages each use a different extension (locale
//! formatting, multibyte strings, a PDO SQLite database written in a directory of the web
//! server's user), a session across requests (written in the session save path) and a
//! file included by a name computed from the request. The `php` profile and the web
//! server's (`apache`, `nginx`) keep the document root whole, every extension the ini
//! files load, the empty session directory with its mode and the server's configured
//! modules, so every page works on the slim image; built with `--no-auto-profile`, the
//! pages the crawl never reached are missing.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{HttpAnswer, TestContainer, build_fixture, image, image_entries};
use slim_test_kit::http;

/// How long the server may take to answer its first request.
const START: Duration = Duration::from_secs(60);

const PORT: u16 = 80;

/// What each page answered on a fresh container, by name.
struct Answers {
    pages: Vec<(&'static str, u16, String)>,
    logs: String,
}

impl Answers {
    fn page(&self, name: &str) -> (u16, &str) {
        self.pages
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, status, body)| (*status, body.as_str()))
            .unwrap_or_else(|| panic!("no page {name}"))
    }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpAnswer {
    http::request(addr, method, path, headers, body, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: no answer: {e}"))
}

/// Every page of the application on a fresh container of `image`.
fn answers(image: &str) -> Answers {
    let container = TestContainer::start(image, &[], &[]);
    let home = container.get(PORT, "/", START);
    assert_eq!(home.status, 200, "GET / on {image}: {}", home.text());
    let addr = SocketAddr::new(container.address(), PORT);
    let mut pages = vec![("home", home.status, home.text())];
    for (name, path) in [
        ("hello", "/hello.php?name=world"),
        ("price", "/price.php"),
        ("upper", "/upper.php?word=stra%C3%9Fe"),
        ("report", "/report.php?kind=summary"),
        ("style", "/style.css"),
    ] {
        let answer = request(addr, "GET", path, &[], "");
        pages.push((name, answer.status, answer.text()));
    }
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let posted = request(addr, "POST", "/notes.php", &form, "text=hello");
    pages.push(("notes-post", posted.status, posted.text()));
    let notes = request(addr, "GET", "/notes.php", &[], "");
    pages.push(("notes", notes.status, notes.text()));
    // The session: the first visit sets the cookie, the second sends it back.
    let first = request(addr, "GET", "/visits.php", &[], "");
    let cookie = first
        .headers
        .iter()
        .find(|(name, _)| name == "set-cookie")
        .and_then(|(_, value)| value.split(';').next())
        .unwrap_or_default()
        .to_string();
    let second = request(addr, "GET", "/visits.php", &[("Cookie", &cookie)], "");
    pages.push(("visits", second.status, second.text()));
    Answers {
        pages,
        logs: container.logs(),
    }
}

fn check_all(image: &str, answers: &Answers) {
    for (name, expected) in [
        ("home", "php fixture"),
        ("hello", "hello world"),
        ("price", "1.234,50"),
        ("upper", "STRASSE 6"),
        ("report", "summary report"),
        ("style", "font-family"),
        ("notes-post", "notes 1"),
        ("notes", "notes 1"),
        ("visits", "visits 2"),
    ] {
        let (status, body) = answers.page(name);
        assert!(
            status == 200 && body.contains(expected),
            "{name} on {image}: {status} {body}\nlogs:\n{}",
            answers.logs
        );
    }
}

/// The reasons the report gives for keeping `path`, or `None` when it was not kept.
fn kept_reasons(report: &Value, path: &str) -> Option<Vec<Value>> {
    report["keep"]["paths"]
        .as_array()
        .expect("kept paths")
        .iter()
        .find(|p| p["path"] == path)
        .map(|p| p["reasons"].as_array().expect("reasons").clone())
}

/// The file only `/report.php` includes, by a name it computes.
const INCLUDE: &str = "/var/www/app/inc/summary.inc.php";

/// Debian's session save path.
const SESSIONS: &str = "/var/lib/php/sessions";

/// `fixture` and its slim image, on which every page must work; `server` is the profile of
/// its web server.
fn serves_every_page(fixture: &str, server: &str) {
    let original = image(fixture);
    check_all(&original, &answers(&original));

    let (slim, report) = build_fixture(fixture, fixture, &[]);
    let profiles: Vec<&Value> = report["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert!(
        profiles.iter().any(|p| *p == "php") && profiles.iter().any(|p| *p == server),
        "{profiles:?}"
    );
    let reasons = kept_reasons(&report, INCLUDE).expect("the include is kept");
    assert!(
        reasons
            .iter()
            .any(|r| r["reason"] == "profile" && r["profile"] == "php"),
        "kept by the php profile: {reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r["reason"] == "traced"),
        "the build never requested /report.php: {reasons:?}"
    );
    assert!(
        kept_reasons(&report, SESSIONS).is_some(),
        "{SESSIONS} is kept"
    );
    let cli_intl = "/usr/lib/php/20220829/intl.so";
    let reasons = kept_reasons(&report, cli_intl).expect("intl.so is kept");
    assert!(
        reasons.iter().any(|r| r["rule"]
            .as_str()
            .is_some_and(|rule| rule.starts_with("loaded by /etc/php/8.2/"))),
        "kept as an extension an ini file loads: {reasons:?}"
    );

    let slim_answers = answers(&slim.tag);
    check_all(&slim.tag, &slim_answers);
    // The session directory keeps its mode (written and searched by all, listed by none,
    // sticky), and the database's directory its owner.
    let entries = image_entries(&slim.tag);
    let entry = |path: &str| {
        entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} is not in the slim image"))
    };
    assert_eq!(entry(SESSIONS).mode & 0o7777, 0o1733, "{SESSIONS} mode");
    assert_eq!(
        entry("/var/www/data").uid,
        33,
        "/var/www/data belongs to www-data"
    );
}

/// The slim image of `fixture` built with `--no-auto-profile`, which must lack what the
/// pages the crawl never reached need.
fn breaks_without_profiles(fixture: &str) {
    let (slim, report) = build_fixture(
        fixture,
        &format!("{fixture}-no-profile"),
        &["--no-auto-profile"],
    );
    assert!(
        kept_reasons(&report, INCLUDE).is_none(),
        "without the php profile nothing keeps {INCLUDE}"
    );
    let answers = answers(&slim.tag);
    assert_eq!(answers.page("home").0, 200, "the crawled page still works");
    // The pages the crawl never reached are not in the image at all.
    for page in ["report", "price", "notes"] {
        let (status, body) = answers.page(page);
        assert_eq!(status, 404, "{page}: {body}\nlogs:\n{}", answers.logs);
    }
    let (_, body) = answers.page("visits");
    assert!(
        !body.contains("visits 2"),
        "without the session directory the session is lost: {body}\nlogs:\n{}",
        answers.logs
    );
}

#[test]
fn root_engine_php_apache_slim_image_serves_every_page_its_build_never_requested() {
    serves_every_page("php-apache", "apache");
}

#[test]
fn root_engine_php_apache_without_auto_profile_breaks_the_pages_its_build_never_requested() {
    breaks_without_profiles("php-apache");
}

#[test]
fn root_engine_php_fpm_nginx_slim_image_serves_every_page_its_build_never_requested() {
    serves_every_page("php-fpm", "nginx");
}

#[test]
fn root_engine_php_fpm_nginx_without_auto_profile_breaks_the_pages_its_build_never_requested() {
    breaks_without_profiles("php-fpm");
}
