//! Fixture images for the integration tests, built locally (no registry) and cached in the
//! engine, plus what runs the real `slim` binary and reads its trace; what the tests share
//! with slim-cli's unit tests (the tar writer, HTTP, the report reader) is re-exported from
//! `slim-test-kit`.
//!
//! An image is a [`Recipe`]: a debootstrap base, Debian packages, extra files and config.
//! The rootfs tarballs are cached on disk (`$SLIM_FIXTURE_CACHE`, default
//! `/var/cache/slim-fixtures`) and the image in the engine as
//! `slim-fixture/<name>:<recipe hash>`, so an unchanged recipe is built once per machine.
//! Building needs root, debootstrap, gcc and a reachable Debian mirror.
//!
//! A fixture can also be [`Derived`]: `docker build` on top of another fixture image, for
//! what the import path cannot express (file capabilities, hard links, users, and config
//! fields such as VOLUME, HEALTHCHECK or ONBUILD).

mod build;
mod cache;
mod derived;
mod django_site;
mod hostile;
mod image;
mod interruption;
mod layers;
mod probe_sites;
mod process;
mod recipe;
mod report;
mod rootfs;
mod sbom_schemas;
mod slim;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Result, anyhow};

pub use build::{
    BuildCommand, BuildOutcome, EngineImage, SlimImage, TestContainer, build_fixture,
    builds_of_one_trace, docker, docker_ok, image_tags, inspect_config, run_to_end,
};
pub use cache::{CACHE_ENV, Lock};
pub use derived::{DERIVED_BUILDER_VERSION, Derived};
pub use django_site::{DJANGO_ADMIN, DJANGO_PORT, DJANGO_SITE};
pub use hostile::{CraftedImage, HOST_SECRET, HOSTILE_OPEN_SOURCE, HostSentinel, LoadedImage};
pub use image::{Outcome, ensure as ensure_recipe, prune_stale};
pub use interruption::{
    BpfObjects, EngineProxy, LabelledContainer, TEST_HOOK_ENV, cgroups_of_run, run_containers,
};
pub use layers::{ImageEntry, ImageEntryKind, image_entries};
pub use probe_sites::{API_DATA, API_PORT, CRAWL_SITE, OPENAPI_PORT};
pub use process::{Ended, SlimProcess};
pub use recipe::{BUILDER_VERSION, Base, Contents, DEFAULT_PATH, Entry, ImageConfig, Recipe};
pub use report::{
    REPORT_SCHEMA, kept_bytes_below, kept_differences, read_valid_report, report_violations,
    traced_accesses,
};
pub use rootfs::{static_c_binary, sweep_dead_builds};
pub use sbom_schemas::{SbomSchema, sbom_violations};
pub use slim::{
    Leftovers, Record, RunContainer, RunIdentity, RunningTrace, SLIM_BIN_ENV, Trace, TraceCommand,
    assert_nothing_left, keys_in_order, left_behind, parse_records, slim_bin,
};
// What the tests share with slim-cli's unit tests.
pub use slim_test_kit::{HttpAnswer, ReportFile, TarWriter, is_timestamp, read_report, untimed};

/// The C source of `/usr/local/bin/probe-fixture`.
pub const PROBE_FIXTURE_SOURCE: &str = include_str!("../fixtures/probe-fixture.c");

/// Path of the test program inside the `probe` image.
pub const PROBE_FIXTURE_PATH: &str = "/usr/local/bin/probe-fixture";

/// Every fixture the tests use, in build order (a derived fixture after its base).
pub const FIXTURES: &[&str] = &[
    "debian",
    "probe",
    "merged-usr",
    "users",
    "libcap",
    "filemodes",
    "nginx",
    "python-base",
    "python-app",
    "config",
    "health",
    "nginx-crawl",
    "loopback-site",
    "python-api",
    "python-openapi",
    "python-verify",
    "django-base",
    "django",
    "python-lazy",
    "redis",
    "postgres-base",
    "postgres",
    "mariadb-base",
    "mariadb",
    "express",
    "native-static",
    "native-dynamic",
    "sinatra",
    "php-apache-base",
    "php-apache",
    "php-fpm-base",
    "php-fpm",
];

/// Fixtures only the benchmarks use (`cargo xtask bench build`, `bench memory`): large,
/// slow to build.
pub const BENCH_FIXTURES: &[&str] = &["big", "many-layers", "many-files"];

/// The static site the `nginx` fixture serves from `/var/www/site`: (URL path, bytes).
pub const NGINX_SITE: &[(&str, &[u8])] = &[
    (
        "/index.html",
        include_bytes!("../fixtures/nginx-site/index.html"),
    ),
    (
        "/about.html",
        include_bytes!("../fixtures/nginx-site/about.html"),
    ),
    (
        "/docs/guide.html",
        include_bytes!("../fixtures/nginx-site/docs/guide.html"),
    ),
    (
        "/style.css",
        include_bytes!("../fixtures/nginx-site/style.css"),
    ),
    (
        "/logo.png",
        include_bytes!("../fixtures/nginx-site/logo.png"),
    ),
];

/// The `python-app` fixture's application, `/app/server.py`.
pub const PYTHON_APP_SOURCE: &str = include_str!("../fixtures/python-app/server.py");

/// The `sinatra` fixture's application below `/app`: (path relative to it, bytes).
pub const SINATRA_APP: &[(&str, &[u8])] = &[
    ("app.rb", include_bytes!("../fixtures/sinatra/app.rb")),
    (
        "views/layout.erb",
        include_bytes!("../fixtures/sinatra/views/layout.erb"),
    ),
    (
        "views/index.erb",
        include_bytes!("../fixtures/sinatra/views/index.erb"),
    ),
    (
        "views/hello.erb",
        include_bytes!("../fixtures/sinatra/views/hello.erb"),
    ),
    (
        "views/total.erb",
        include_bytes!("../fixtures/sinatra/views/total.erb"),
    ),
    (
        "views/expand.erb",
        include_bytes!("../fixtures/sinatra/views/expand.erb"),
    ),
    (
        "public/style.css",
        include_bytes!("../fixtures/sinatra/public/style.css"),
    ),
    (
        "public/notes.txt",
        include_bytes!("../fixtures/sinatra/public/notes.txt"),
    ),
];

/// The `php-apache` fixture's application below `/var/www/app`: (path relative to it, bytes).
pub const PHP_APP: &[(&str, &[u8])] = &[
    (
        "index.php",
        include_bytes!("../fixtures/php-site/html/index.php"),
    ),
    (
        "hello.php",
        include_bytes!("../fixtures/php-site/html/hello.php"),
    ),
    (
        "price.php",
        include_bytes!("../fixtures/php-site/html/price.php"),
    ),
    (
        "upper.php",
        include_bytes!("../fixtures/php-site/html/upper.php"),
    ),
    (
        "notes.php",
        include_bytes!("../fixtures/php-site/html/notes.php"),
    ),
    (
        "visits.php",
        include_bytes!("../fixtures/php-site/html/visits.php"),
    ),
    (
        "report.php",
        include_bytes!("../fixtures/php-site/html/report.php"),
    ),
    (
        "inc/summary.inc.php",
        include_bytes!("../fixtures/php-site/html/inc/summary.inc.php"),
    ),
    (
        "style.css",
        include_bytes!("../fixtures/php-site/html/style.css"),
    ),
];

/// The port the `sinatra` fixture listens on.
pub const SINATRA_PORT: u16 = 4567;

/// The `express` fixture's application, `/app/server.js`.
pub const EXPRESS_APP_SOURCE: &str = include_str!("../fixtures/express/server.js");

/// The port the `express` fixture listens on.
pub const EXPRESS_PORT: u16 = 3000;

/// The `python-verify` fixture's application, `/app/server.py`.
pub const PYTHON_VERIFY_SOURCE: &str = include_str!("../fixtures/python-verify/server.py");

/// The `python-lazy` fixture's application, `/srv/lazy/server.py`.
pub const PYTHON_LAZY_SOURCE: &str = include_str!("../fixtures/python-lazy/server.py");

/// The port the `python-lazy` fixture listens on.
pub const PYTHON_LAZY_PORT: u16 = 8000;

/// The C source of the `native-static` and `native-dynamic` fixtures' server.
pub const NATIVE_SERVER_SOURCE: &str = include_str!("../fixtures/native-server.c");

/// The port the native fixtures listen on.
pub const NATIVE_PORT: u16 = 8080;

/// What the native fixtures answer on `GET /` (their `/srv/native/message.txt`).
pub const NATIVE_MESSAGE: &str = "hello from a native binary\n";

/// The `python-verify` fixture's data files, under `/app/data`: (name, bytes).
pub const PYTHON_VERIFY_DATA: &[(&str, &[u8])] = &[
    (
        "second.txt",
        include_bytes!("../fixtures/python-verify/data/second.txt"),
    ),
    (
        "page.txt",
        include_bytes!("../fixtures/python-verify/data/page.txt"),
    ),
    (
        "state.txt",
        include_bytes!("../fixtures/python-verify/data/state.txt"),
    ),
    (
        "render.html",
        include_bytes!("../fixtures/python-verify/data/render.html"),
    ),
];

/// The `redis` fixture's CMD: Debian's server with its stock configuration, in the
/// foreground, logging to stdout.
pub const REDIS_COMMAND: &[&str] = &[
    "redis-server",
    "/etc/redis/redis.conf",
    "--daemonize",
    "no",
    "--logfile",
    "",
];

/// The `postgres` fixture's entrypoint, `/usr/local/bin/docker-entrypoint.sh`.
pub const POSTGRES_ENTRYPOINT: &str = include_str!("../fixtures/postgres/docker-entrypoint.sh");

/// Where the `postgres` fixture keeps its cluster (`PGDATA`).
pub const POSTGRES_DATA: &str = "/var/lib/postgresql/data";

/// The `mariadb` fixture's entrypoint, `/usr/local/bin/docker-entrypoint.sh`.
pub const MARIADB_ENTRYPOINT: &str = include_str!("../fixtures/mariadb/docker-entrypoint.sh");

/// Debian packages of the Python fixtures (one shared rootfs).
const PYTHON_PACKAGES: &[&str] = &["python3", "ca-certificates", "tzdata"];

/// Size of the hard-linked file in the `filemodes` fixture, and its five names.
pub const LINKED_FILE_SIZE: u64 = 20_000_000;

/// The five names of the `filemodes` fixture's hard-linked file; the image's CMD uses
/// only the first.
pub const LINKED_FILE_NAMES: &[&str] = &[
    "/data/links/big.bin",
    "/data/links/big-copy.bin",
    "/opt/links/big.bin",
    "/srv/links/big.bin",
    "/srv/links/other-name.bin",
];

/// The built-in recipe called `name` (fixtures imported from a rootfs).
pub fn recipe(name: &str) -> Option<Recipe> {
    let env = vec![("PATH".to_string(), DEFAULT_PATH.to_string())];
    let plain = |files: Vec<Entry>, packages: &[&str], config: ImageConfig| Recipe {
        name: name.into(),
        base: Base::bookworm_minbase(),
        packages: packages.iter().map(|p| (*p).to_string()).collect(),
        files,
        config,
    };
    match name {
        // Plain Debian bookworm, merged /usr (/bin -> usr/bin).
        "debian" => Some(plain(
            Vec::new(),
            &[],
            ImageConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                env,
                ..ImageConfig::default()
            },
        )),
        // Debian plus probe-fixture and a few files with known shapes.
        "probe" => Some(plain(
            vec![
                Entry::File {
                    path: PROBE_FIXTURE_PATH.into(),
                    mode: 0o755,
                    contents: Contents::StaticC {
                        source: PROBE_FIXTURE_SOURCE.into(),
                    },
                },
                Entry::file("/etc/first-file", 0o644, "opened first\n"),
                Entry::file("/etc/exec-marker", 0o644, "read by docker exec\n"),
                Entry::symlink("/etc/link-to-passwd", "passwd"),
                Entry::dir("/data", 0o755),
                Entry::dir("/data/dir", 0o755),
                Entry::file("/data/dir/a", 0o644, "a\n"),
                Entry::file("/data/dir/b", 0o644, "b\n"),
                Entry::file("/data/dir/c", 0o644, "c\n"),
            ],
            &[],
            ImageConfig {
                cmd: Some(vec![
                    "probe-fixture".into(),
                    "first-open".into(),
                    "/etc/first-file".into(),
                ]),
                env,
                working_dir: Some("/".into()),
                ..ImageConfig::default()
            },
        )),
        // Merged /usr with a shell ENTRYPOINT through the /bin -> usr/bin link.
        "merged-usr" => Some(plain(
            vec![Entry::file(
                "/etc/hostname-marker",
                0o644,
                "marker read through /bin/sh\n",
            )],
            &[],
            ImageConfig {
                entrypoint: Some(vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo ok; cat /etc/hostname-marker".into(),
                ]),
                env,
                ..ImageConfig::default()
            },
        )),
        // Debian with setcap/getcap, the base of `filemodes`.
        "libcap" => Some(plain(
            Vec::new(),
            &["libcap2-bin"],
            ImageConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                env,
                ..ImageConfig::default()
            },
        )),
        // Debian's nginx serving a small static site; the master runs as root, the
        // workers as www-data (Debian's nginx.conf).
        "nginx" => {
            let mut files = vec![
                Entry::dir("/var/www/site", 0o755),
                Entry::dir("/var/www/site/docs", 0o755),
                Entry::file(
                    "/etc/nginx/sites-available/default",
                    0o644,
                    include_str!("../fixtures/nginx-site/site.conf"),
                ),
            ];
            files.extend(
                NGINX_SITE.iter().map(|(path, bytes)| {
                    Entry::file(&format!("/var/www/site{path}"), 0o644, *bytes)
                }),
            );
            // With the CA store, as the official image has it (and with it OpenSSL's
            // CA.pl and tsget.pl, Perl scripts).
            Some(plain(
                files,
                &["nginx", "ca-certificates"],
                ImageConfig {
                    entrypoint: Some(vec!["/usr/sbin/nginx".into()]),
                    cmd: Some(vec!["-g".into(), "daemon off;".into()]),
                    env,
                    exposed_ports: vec!["80/tcp".into()],
                    ..ImageConfig::default()
                },
            ))
        }
        // Debian's python3 with the CA store and the time zone database, no application:
        // the base of `config` and `big`.
        "python-base" => Some(plain(
            Vec::new(),
            PYTHON_PACKAGES,
            ImageConfig {
                cmd: Some(vec!["python3".into(), "--version".into()]),
                env,
                ..ImageConfig::default()
            },
        )),
        // An http.server application whose /tls and /time pages need the CA store and
        // zoneinfo, which its home page never touches.
        "python-app" => Some(plain(
            vec![
                Entry::dir("/app", 0o755),
                Entry::file("/app/server.py", 0o644, PYTHON_APP_SOURCE),
            ],
            PYTHON_PACKAGES,
            ImageConfig {
                cmd: Some(vec!["python3".into(), "/app/server.py".into()]),
                env,
                working_dir: Some("/app".into()),
                exposed_ports: vec!["8000/tcp".into()],
                ..ImageConfig::default()
            },
        )),
        // An http.server application for the verify stage: a page that reads a file only
        // from its second request on, a page with a token and the time, a page whose data
        // file a test excludes, and files written at run time. No WORKDIR, so the `workdir`
        // keep-list keeps nothing of /app.
        "python-verify" => {
            let mut files = vec![
                Entry::dir("/app", 0o755),
                Entry::file("/app/server.py", 0o644, PYTHON_VERIFY_SOURCE),
                Entry::dir("/app/data", 0o755),
            ];
            files.extend(
                PYTHON_VERIFY_DATA
                    .iter()
                    .map(|(name, bytes)| Entry::file(&format!("/app/data/{name}"), 0o644, *bytes)),
            );
            Some(plain(
                files,
                PYTHON_PACKAGES,
                ImageConfig {
                    cmd: Some(vec!["python3".into(), "/app/server.py".into()]),
                    env,
                    exposed_ports: vec!["8080/tcp".into()],
                    ..ImageConfig::default()
                },
            ))
        }
        // Debian's Redis with its stock /etc/redis/redis.conf (bound to the loopback, data
        // in /var/lib/redis), in the foreground, logging to stdout, as the redis user.
        "redis" => Some(plain(
            Vec::new(),
            &["redis-server"],
            ImageConfig {
                cmd: Some(REDIS_COMMAND.iter().map(|a| (*a).to_string()).collect()),
                env,
                user: Some("redis".into()),
                exposed_ports: vec!["6379/tcp".into()],
                ..ImageConfig::default()
            },
        )),
        // Debian's PostgreSQL 15 set up like the official image: an entrypoint script that
        // creates the cluster in an empty $PGDATA with the password from
        // $POSTGRES_PASSWORD and runs `postgres` as the postgres user; the server listens
        // on the loopback only (the default listen_addresses). The server's bin directory
        // comes first in PATH, so `psql` is the real client rather than Debian's Perl
        // wrapper in /usr/bin. The base of `postgres`.
        "postgres-base" => Some(plain(
            vec![Entry::file(
                "/usr/local/bin/docker-entrypoint.sh",
                0o755,
                POSTGRES_ENTRYPOINT,
            )],
            &["postgresql-15"],
            ImageConfig {
                entrypoint: Some(vec!["docker-entrypoint.sh".into()]),
                cmd: Some(vec!["postgres".into()]),
                env: vec![
                    (
                        "PATH".into(),
                        format!("/usr/lib/postgresql/15/bin:{DEFAULT_PATH}"),
                    ),
                    ("PGDATA".into(), POSTGRES_DATA.into()),
                ],
                exposed_ports: vec!["5432/tcp".into()],
                ..ImageConfig::default()
            },
        )),
        // Debian's MariaDB set up like the official image: an entrypoint script that
        // creates the system tables in an empty datadir, sets root's password from
        // $MARIADB_ROOT_PASSWORD and runs `mariadbd` as the mysql user, which listens on
        // the loopback only (Debian's bind-address). The base of `mariadb`.
        "mariadb-base" => Some(plain(
            vec![Entry::file(
                "/usr/local/bin/docker-entrypoint.sh",
                0o755,
                MARIADB_ENTRYPOINT,
            )],
            &["mariadb-server"],
            ImageConfig {
                entrypoint: Some(vec!["docker-entrypoint.sh".into()]),
                cmd: Some(vec!["mariadbd".into()]),
                env,
                exposed_ports: vec!["3306/tcp".into()],
                ..ImageConfig::default()
            },
        )),
        // Debian's Node.js and Express (its packages live in /usr/share/nodejs, not in a
        // node_modules) serving /app/server.js: GET routes, and a POST route whose JSON
        // body parser loads more of its dependencies on the first such request.
        "express" => Some(plain(
            vec![
                Entry::dir("/app", 0o755),
                Entry::file("/app/server.js", 0o644, EXPRESS_APP_SOURCE),
            ],
            &["nodejs", "node-express"],
            ImageConfig {
                cmd: Some(vec!["node".into(), "/app/server.js".into()]),
                env,
                working_dir: Some("/app".into()),
                exposed_ports: vec![format!("{EXPRESS_PORT}/tcp")],
                ..ImageConfig::default()
            },
        )),
        // Debian's Ruby with Sinatra served by WEBrick (their gems live in
        // /usr/share/rubygems-integration): ERB views, static files, and routes that
        // require standard-library and gem code inside their handlers.
        "sinatra" => {
            let mut files = vec![
                Entry::dir("/app", 0o755),
                Entry::dir("/app/views", 0o755),
                Entry::dir("/app/public", 0o755),
            ];
            files.extend(
                SINATRA_APP
                    .iter()
                    .map(|(path, bytes)| Entry::file(&format!("/app/{path}"), 0o644, *bytes)),
            );
            Some(plain(
                files,
                &["ruby", "ruby-sinatra", "ruby-webrick"],
                ImageConfig {
                    cmd: Some(vec!["ruby".into(), "/app/app.rb".into()]),
                    env,
                    working_dir: Some("/app".into()),
                    exposed_ports: vec![format!("{SINATRA_PORT}/tcp")],
                    ..ImageConfig::default()
                },
            ))
        }
        // Debian's Apache with mod_php and the intl, mbstring and SQLite extensions,
        // serving /var/www/app (the site in /etc/apache2/sites-available), started in
        // the foreground by a script as the official PHP image does. No WORKDIR. The base
        // of `php-apache`.
        "php-apache-base" => {
            let mut files = vec![
                Entry::file(
                    "/usr/local/bin/apache2-foreground",
                    0o755,
                    include_str!("../fixtures/php-site/apache2-foreground"),
                ),
                Entry::file(
                    "/etc/apache2/sites-available/000-default.conf",
                    0o644,
                    include_str!("../fixtures/php-site/site.conf"),
                ),
                Entry::dir("/var/www/app", 0o755),
                Entry::dir("/var/www/app/inc", 0o755),
            ];
            files.extend(
                PHP_APP.iter().map(|(path, bytes)| {
                    Entry::file(&format!("/var/www/app/{path}"), 0o644, *bytes)
                }),
            );
            Some(plain(
                files,
                &[
                    "apache2",
                    "libapache2-mod-php",
                    "php-intl",
                    "php-mbstring",
                    "php-sqlite3",
                ],
                ImageConfig {
                    cmd: Some(vec!["apache2-foreground".into()]),
                    env,
                    exposed_ports: vec!["80/tcp".into()],
                    ..ImageConfig::default()
                },
            ))
        }
        // The same application on Debian's nginx and PHP-FPM, two processes started by
        // one script (FPM in the background, nginx in the foreground). No WORKDIR. The
        // base of `php-fpm`.
        "php-fpm-base" => {
            let mut files = vec![
                Entry::file(
                    "/usr/local/bin/fpm-nginx-start",
                    0o755,
                    include_str!("../fixtures/php-site/fpm-nginx-start"),
                ),
                Entry::file(
                    "/etc/nginx/sites-available/default",
                    0o644,
                    include_str!("../fixtures/php-site/nginx-site.conf"),
                ),
                Entry::dir("/var/www/app", 0o755),
                Entry::dir("/var/www/app/inc", 0o755),
            ];
            files.extend(
                PHP_APP.iter().map(|(path, bytes)| {
                    Entry::file(&format!("/var/www/app/{path}"), 0o644, *bytes)
                }),
            );
            Some(plain(
                files,
                &[
                    "nginx",
                    "php-fpm",
                    "php-intl",
                    "php-mbstring",
                    "php-sqlite3",
                ],
                ImageConfig {
                    cmd: Some(vec!["fpm-nginx-start".into()]),
                    env,
                    exposed_ports: vec!["80/tcp".into()],
                    ..ImageConfig::default()
                },
            ))
        }
        // One C server standing for a Go or Rust binary as an image's entrypoint: linked
        // statically, and dynamically (glibc, and zlib loaded with dlopen by one route).
        "native-static" | "native-dynamic" => {
            let contents = if name == "native-static" {
                Contents::StaticC {
                    source: format!("#define NATIVE_STATIC 1\n{NATIVE_SERVER_SOURCE}"),
                }
            } else {
                Contents::DynamicC {
                    source: NATIVE_SERVER_SOURCE.into(),
                }
            };
            Some(plain(
                vec![
                    Entry::File {
                        path: "/usr/local/bin/native-server".into(),
                        mode: 0o755,
                        contents,
                    },
                    Entry::dir("/srv/native", 0o755),
                    Entry::file("/srv/native/message.txt", 0o644, NATIVE_MESSAGE),
                ],
                &[],
                ImageConfig {
                    entrypoint: Some(vec!["/usr/local/bin/native-server".into()]),
                    env,
                    exposed_ports: vec![format!("{NATIVE_PORT}/tcp")],
                    ..ImageConfig::default()
                },
            ))
        }
        _ => probe_sites::recipe(name, PYTHON_PACKAGES).or_else(|| django_site::recipe(name)),
    }
}

/// The built-in derived fixture called `name` (`docker build` on another fixture).
pub fn derived(name: &str) -> Option<Derived> {
    let make = |from: &str, dockerfile: &str| Derived {
        name: name.into(),
        from: from.into(),
        dockerfile: dockerfile.into(),
    };
    match name {
        // One 20 MB file under five names (hard links), a copy of cat with a file
        // capability and a setuid copy of id; runs as uid 1000 so both matter. (Its CMD
        // does not print the link count: fuse-overlayfs reports only the names looked up
        // so far, so `stat -c %h` varies; the tests read the layers instead.)
        "filemodes" => Some(make(
            "libcap",
            r#"RUN set -e; \
    mkdir -p /data/links /opt/links /srv/links; \
    head -c 20000000 /dev/urandom > /data/links/big.bin; \
    ln /data/links/big.bin /data/links/big-copy.bin; \
    ln /data/links/big.bin /opt/links/big.bin; \
    ln /data/links/big.bin /srv/links/big.bin; \
    ln /data/links/big.bin /srv/links/other-name.bin; \
    cp /usr/bin/cat /usr/local/bin/capcat; \
    setcap cap_net_bind_service+ep /usr/local/bin/capcat; \
    cp /usr/bin/id /usr/local/bin/suid-id; \
    chmod 4755 /usr/local/bin/suid-id
USER 1000
CMD ["/bin/sh", "-c", "stat -c '%s %n' /data/links/big.bin && capcat /proc/self/status | grep '^CapEff' && suid-id -u && id -u"]"#,
        )),
        // A non-root USER by name, with a home directory.
        "users" => Some(make(
            "debian",
            r#"RUN useradd --uid 1000 --user-group --create-home --shell /bin/sh app
USER app
CMD ["/bin/sh", "-c", "id -un; id -gn; echo \"home=$HOME\"; touch \"$HOME/written\" && echo home-writable"]"#,
        )),
        // Every config field an image can carry, on Python's http.server.
        "config" => Some(make(
            "python-base",
            r#"ENV GREETING="hello world" APP_MODE=production
WORKDIR /srv/www
RUN echo '<h1>config fixture</h1>' > index.html
USER 1000:1000
EXPOSE 8080/tcp 5353/udp
VOLUME ["/srv/data", "/var/cache/app"]
LABEL org.opencontainers.image.title="slim config fixture" com.example.team="slim"
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/')"]
SHELL ["/bin/bash", "-c"]
ONBUILD RUN echo built on the config fixture
ENTRYPOINT ["python3", "-m", "http.server"]
CMD ["8080"]"#,
        )),
        // Python's http.server bound to the container's loopback only, serving pages
        // reachable only by following links two deep.
        "loopback-site" => Some(make(
            "python-base",
            r#"RUN mkdir -p /srv/www/deep && cd /srv/www \
 && echo '<a href="/next.html">next</a>' > index.html \
 && echo '<a href="deep/last.html">deeper</a>' > next.html \
 && echo '<p>the last page</p>' > deep/last.html \
 && echo '<p>nothing links here</p>' > unlinked.html
EXPOSE 8080
CMD ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", "/srv/www", "8080"]"#,
        )),
        // http.server on Debian's python3 whose HEALTHCHECK runs a script that nothing
        // else runs, calling a tool (stat) the application never uses. Its interval is the
        // engine's default, so the engine itself does not run it during a short traced
        // run; tests run containers with `--health-interval 1s`.
        "health" => Some(make(
            "python-base",
            r#"RUN set -e; mkdir -p /srv/www; echo '<h1>health fixture</h1>' > /srv/www/index.html; \
    printf '#!/bin/sh\nexec /usr/bin/stat /srv/www/index.html\n' > /usr/local/bin/healthy; \
    chmod 755 /usr/local/bin/healthy
WORKDIR /srv/www
EXPOSE 8080
HEALTHCHECK --timeout=10s --retries=3 CMD ["/usr/local/bin/healthy"]
ENTRYPOINT ["python3", "-m", "http.server", "8080"]"#,
        )),
        // About 1 GB of pseudo-random files (200 directories of 50 files of 100 kB) on
        // Debian's python3; its command reads them all, so the slim image keeps them.
        "big" => Some(make(
            "python-base",
            r#"RUN python3 -c "import os, random; r = random.Random(20240101); [os.makedirs('/data/d%03d' % d) for d in range(200)]; [open('/data/d%03d/f%02d.bin' % (d, f), 'wb').write(r.randbytes(100000)) for d in range(200) for f in range(50)]"
CMD ["/bin/sh", "-c", "find /data -type f -exec cat {} + > /dev/null && echo read all"]"#,
        )),
        // 100 layers on Debian, each adding a 100 kB file and deleting the one before it
        // every other layer (whiteouts); its command reads what is left.
        "many-layers" => Some(make(
            "debian",
            &(0..100)
                .map(|i| {
                    let remove = if i % 2 == 1 {
                        format!(" && rm /data/l{:03}.bin", i - 1)
                    } else {
                        String::new()
                    };
                    format!(
                        "RUN mkdir -p /data && head -c 100000 /dev/urandom > /data/l{i:03}.bin{remove}\n"
                    )
                })
                .chain(std::iter::once(
                    r#"CMD ["/bin/sh", "-c", "cat /data/*.bin > /dev/null && echo read all"]"#
                        .to_string(),
                ))
                .collect::<String>(),
        )),
        // 100,000 small files (100 directories of 1,000 files of a few bytes) on Debian;
        // its command reads them all, so the trace, the keep set and the new layer hold
        // every one.
        "many-files" => Some(make(
            "debian",
            r#"RUN set -e; for d in $(seq -w 0 99); do mkdir -p /data/d$d; cd /data/d$d; for f in $(seq -w 0 999); do echo "$d/$f" > f$f; done; done
CMD ["/bin/sh", "-c", "find /data -type f -exec cat {} + > /dev/null && echo read all"]"#,
        )),
        // `postgres-base` stopped with SIGINT, as the official image is (a fast shutdown
        // that still writes a checkpoint); the import endpoint does not take STOPSIGNAL.
        "postgres" => Some(make("postgres-base", "STOPSIGNAL SIGINT")),
        // `mariadb-base` with the empty datadir of the official image (the package's
        // scripts created system tables there).
        "mariadb" => Some(make(
            "mariadb-base",
            "RUN rm -rf /var/lib/mysql && mkdir /var/lib/mysql && chown mysql:mysql /var/lib/mysql",
        )),
        // `php-apache-base` with the directory its SQLite database is written in, owned by
        // the web server's user, and Apache stopped gracefully as the official image is.
        "php-apache" => Some(make(
            "php-apache-base",
            "RUN mkdir /var/www/data && chown www-data:www-data /var/www/data\nSTOPSIGNAL SIGWINCH",
        )),
        // `php-fpm-base` with the directory its SQLite database is written in, owned by
        // the user PHP-FPM's pool runs as.
        "php-fpm" => Some(make(
            "php-fpm-base",
            "RUN mkdir /var/www/data && chown www-data:www-data /var/www/data",
        )),
        // A venv on Debian's python3 (django-base has python3-venv) running an
        // http.server application whose pages import standard library modules inside
        // their handlers. The build context is empty, so the source comes in hex.
        "python-lazy" => Some(make(
            "django-base",
            &format!(
                r#"RUN python3 -m venv --without-pip /opt/venv \
 && mkdir -p /srv/lazy \
 && python3 -c "open('/srv/lazy/server.py', 'wb').write(bytes.fromhex('{hex}'))"
ENV PATH=/opt/venv/bin:{DEFAULT_PATH}
WORKDIR /srv/lazy
EXPOSE {PYTHON_LAZY_PORT}
CMD ["python", "/srv/lazy/server.py"]"#,
                hex = PYTHON_LAZY_SOURCE
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            ),
        )),
        _ => django_site::derived(name),
    }
}

/// The tag fixture `name` has (or will have once built), without building anything.
pub fn fixture_tag(name: &str) -> Result<String> {
    if let Some(recipe) = recipe(name) {
        return Ok(recipe.tag());
    }
    let derived = derived(name).ok_or_else(|| unknown(name))?;
    Ok(derived.tag_on(&fixture_tag(&derived.from)?))
}

fn unknown(name: &str) -> anyhow::Error {
    anyhow!(
        "no fixture called {name:?}; known: {}, {}",
        FIXTURES.join(", "),
        BENCH_FIXTURES.join(", ")
    )
}

/// The tag of fixture `name`, building it if the engine lacks it. Panics with the reason
/// on failure: for tests.
pub fn image(name: &str) -> String {
    try_image(name).unwrap_or_else(|err| panic!("fixture image {name:?}: {err:#}"))
}

/// The tag of fixture `name`, building it if needed; the outcome of the first call in
/// this process is remembered.
pub fn try_image(name: &str) -> Result<String> {
    Ok(ensure_image(name)?.0)
}

/// Like [`try_image`], also saying whether the image was built now.
pub fn ensure_image(name: &str) -> Result<(String, Outcome)> {
    static KNOWN: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    if let Some(tag) = KNOWN
        .lock()
        .expect("fixture memo poisoned")
        .get_or_insert_with(HashMap::new)
        .get(name)
    {
        return Ok((tag.clone(), Outcome::Cached));
    }
    let (tag, outcome) = if let Some(recipe) = recipe(name) {
        image::ensure(&recipe)?
    } else {
        let derived = derived(name).ok_or_else(|| unknown(name))?;
        let (base, _) = ensure_image(&derived.from)?;
        derived::ensure(&derived, &base)?
    };
    KNOWN
        .lock()
        .expect("fixture memo poisoned")
        .get_or_insert_with(HashMap::new)
        .insert(name.to_string(), tag.clone());
    Ok((tag, outcome))
}

/// Removes every `slim-fixture/<name>:*` tag except fixture `name`'s current one.
/// Returns the removed tags.
pub fn prune_fixture(name: &str) -> Result<Vec<String>> {
    let current = fixture_tag(name)?;
    let repository = current
        .rsplit_once(':')
        .map(|(repo, _)| repo.to_string())
        .unwrap_or_default();
    image::prune_repository(&repository, &current)
}

/// `probe-fixture` compiled for the host (the same binary the `probe` image holds), for
/// tests that need a busy host process.
pub fn probe_fixture_host_binary() -> PathBuf {
    let _lock = Lock::acquire("build").unwrap_or_else(|err| panic!("{err:#}"));
    rootfs::static_c_binary("probe-fixture", PROBE_FIXTURE_SOURCE)
        .unwrap_or_else(|err| panic!("compiling probe-fixture: {err:#}"))
}
