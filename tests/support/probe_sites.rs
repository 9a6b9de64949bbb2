//! The fixtures of the probing tests: a static site that only a crawler finds whole
//! (`nginx-crawl`) and JSON APIs that only their OpenAPI documents describe (`python-api`,
//! GET only, and `python-openapi`, every method). Their files live in
//! `tests/fixtures/crawl-site/`, `tests/fixtures/python-api/` and
//! `tests/fixtures/python-openapi/`.

use crate::recipe::{Base, DEFAULT_PATH, Entry, ImageConfig, Recipe};

/// The `nginx-crawl` site, served from `/var/www/crawl`: (URL path, bytes).
pub const CRAWL_SITE: &[(&str, &[u8])] = &[
    (
        "/index.html",
        include_bytes!("../fixtures/crawl-site/index.html"),
    ),
    (
        "/level1.html",
        include_bytes!("../fixtures/crawl-site/level1.html"),
    ),
    (
        "/sub/level2.html",
        include_bytes!("../fixtures/crawl-site/sub/level2.html"),
    ),
    (
        "/deep/level3.html",
        include_bytes!("../fixtures/crawl-site/deep/level3.html"),
    ),
    (
        "/hidden/only-in-sitemap.html",
        include_bytes!("../fixtures/crawl-site/hidden/only-in-sitemap.html"),
    ),
    (
        "/unlinked.html",
        include_bytes!("../fixtures/crawl-site/unlinked.html"),
    ),
    (
        "/search/results.html",
        include_bytes!("../fixtures/crawl-site/search/results.html"),
    ),
    (
        "/errors/404.html",
        include_bytes!("../fixtures/crawl-site/errors/404.html"),
    ),
    (
        "/css/site.css",
        include_bytes!("../fixtures/crawl-site/css/site.css"),
    ),
    (
        "/css/deep.css",
        include_bytes!("../fixtures/crawl-site/css/deep.css"),
    ),
    (
        "/css/errors.css",
        include_bytes!("../fixtures/crawl-site/css/errors.css"),
    ),
    (
        "/fonts/fixture-sans.woff2",
        include_bytes!("../fixtures/crawl-site/fonts/fixture-sans.woff2"),
    ),
    (
        "/img/logo.png",
        include_bytes!("../fixtures/crawl-site/img/logo.png"),
    ),
    (
        "/img/logo-wide.png",
        include_bytes!("../fixtures/crawl-site/img/logo-wide.png"),
    ),
    (
        "/img/bg.png",
        include_bytes!("../fixtures/crawl-site/img/bg.png"),
    ),
    (
        "/img/favicon.png",
        include_bytes!("../fixtures/crawl-site/img/favicon.png"),
    ),
    (
        "/js/app.js",
        include_bytes!("../fixtures/crawl-site/js/app.js"),
    ),
    (
        "/robots.txt",
        include_bytes!("../fixtures/crawl-site/robots.txt"),
    ),
    (
        "/sitemap.xml",
        include_bytes!("../fixtures/crawl-site/sitemap.xml"),
    ),
    (
        "/sitemaps/pages.xml",
        include_bytes!("../fixtures/crawl-site/sitemaps/pages.xml"),
    ),
];

/// The `python-api` data files, under `/srv/api-data`: (relative path, bytes).
pub const API_DATA: &[(&str, &[u8])] = &[
    (
        "items.json",
        include_bytes!("../fixtures/python-api/data/items.json"),
    ),
    (
        "items/1.json",
        include_bytes!("../fixtures/python-api/data/items/1.json"),
    ),
    (
        "items/2.json",
        include_bytes!("../fixtures/python-api/data/items/2.json"),
    ),
    (
        "search-index.txt",
        include_bytes!("../fixtures/python-api/data/search-index.txt"),
    ),
    (
        "stats-day.json",
        include_bytes!("../fixtures/python-api/data/stats-day.json"),
    ),
    (
        "stats-week.json",
        include_bytes!("../fixtures/python-api/data/stats-week.json"),
    ),
    (
        "version.txt",
        include_bytes!("../fixtures/python-api/data/version.txt"),
    ),
    (
        "host-only.txt",
        include_bytes!("../fixtures/python-api/data/host-only.txt"),
    ),
    (
        "run-only.txt",
        include_bytes!("../fixtures/python-api/data/run-only.txt"),
    ),
];

/// The port `python-api` listens on.
pub const API_PORT: u16 = 8080;

/// The port `python-openapi` listens on.
pub const OPENAPI_PORT: u16 = 8080;

/// The recipe of a probing fixture, if `name` is one.
pub fn recipe(name: &str, python_packages: &[&str]) -> Option<Recipe> {
    let env = vec![("PATH".to_string(), DEFAULT_PATH.to_string())];
    let make = |files: Vec<Entry>, packages: &[&str], config: ImageConfig| Recipe {
        name: name.into(),
        base: Base::bookworm_minbase(),
        packages: packages.iter().map(|p| (*p).to_string()).collect(),
        files,
        config,
    };
    match name {
        // Debian's nginx serving a site whose pages are linked three deep, one listed only
        // in a sitemap index, a stylesheet with a font, and a custom 404 page.
        "nginx-crawl" => {
            let mut files = vec![Entry::file(
                "/etc/nginx/sites-available/default",
                0o644,
                include_str!("../fixtures/crawl-site/site.conf"),
            )];
            for dir in [
                "",
                "/sub",
                "/deep",
                "/hidden",
                "/search",
                "/errors",
                "/css",
                "/fonts",
                "/img",
                "/js",
                "/sitemaps",
            ] {
                files.push(Entry::dir(&format!("/var/www/crawl{dir}"), 0o755));
            }
            files.extend(
                CRAWL_SITE.iter().map(|(path, bytes)| {
                    Entry::file(&format!("/var/www/crawl{path}"), 0o644, *bytes)
                }),
            );
            Some(make(
                files,
                &["nginx"],
                ImageConfig {
                    entrypoint: Some(vec!["/usr/sbin/nginx".into()]),
                    cmd: Some(vec!["-g".into(), "daemon off;".into()]),
                    env,
                    exposed_ports: vec!["80/tcp".into()],
                    ..ImageConfig::default()
                },
            ))
        }
        // A standard-library JSON API whose endpoints read their own data files on demand.
        "python-api" => {
            let mut files = vec![
                Entry::dir("/app", 0o755),
                Entry::file(
                    "/app/api.py",
                    0o644,
                    include_str!("../fixtures/python-api/api.py"),
                ),
                Entry::file(
                    "/app/openapi.json",
                    0o644,
                    include_str!("../fixtures/python-api/openapi.json"),
                ),
                Entry::dir("/srv/api-data", 0o755),
                Entry::dir("/srv/api-data/items", 0o755),
            ];
            files.extend(
                API_DATA.iter().map(|(path, bytes)| {
                    Entry::file(&format!("/srv/api-data/{path}"), 0o644, *bytes)
                }),
            );
            Some(make(
                files,
                python_packages,
                ImageConfig {
                    cmd: Some(vec!["python3".into(), "/app/api.py".into()]),
                    env,
                    working_dir: Some("/app".into()),
                    exposed_ports: vec![format!("{API_PORT}/tcp")],
                    ..ImageConfig::default()
                },
            ))
        }
        // A standard-library JSON API with POST, DELETE, multipart and a module imported
        // only by one POST operation; its OpenAPI document is the only map of it.
        "python-openapi" => Some(make(
            vec![
                Entry::dir("/app", 0o755),
                Entry::file(
                    "/app/server.py",
                    0o644,
                    include_str!("../fixtures/python-openapi/server.py"),
                ),
                Entry::file(
                    "/app/openapi.json",
                    0o644,
                    include_str!("../fixtures/python-openapi/openapi.json"),
                ),
            ],
            python_packages,
            ImageConfig {
                cmd: Some(vec!["python3".into(), "/app/server.py".into()]),
                env,
                working_dir: Some("/app".into()),
                exposed_ports: vec![format!("{OPENAPI_PORT}/tcp")],
                ..ImageConfig::default()
            },
        )),
        _ => None,
    }
}
