//! The server profiles (redis, mariadb, postgresql) over small images laid out as Debian
//! installs them: each is detected by its server binary alone, and the tools an operator
//! runs with `docker exec` are kept with their links and ELF libraries though nothing
//! traced them.

use super::builder::display;
use super::profile::{choose, load};
use super::test_files::{ElfSpec, elf};
use super::*;
use crate::test_kit::record;
use crate::trace::AccessKind;
use slim_test_kit::{Entry, ScratchDir, TarWriter};

const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const LIBS: &str = "usr/lib/x86_64-linux-gnu";

/// What a test image holds besides loader and libc: (path, what it is).
enum Node<'a> {
    /// An ELF executable or library needing these libraries (found in `LIBS`).
    Elf(&'a [&'a str]),
    Link(&'a str),
    Dir,
    Text(&'a str),
}

struct Image {
    _dir: ScratchDir,
    index: FsIndex,
}

fn image(name: &str, nodes: &[(&str, Node)]) -> Image {
    let mut layer = TarWriter::new();
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        layer = layer.entry(Entry::symlink(link, target).mtime(1));
    }
    layer = layer
        .entry(
            Entry::symlink(
                "usr/lib64/ld-linux-x86-64.so.2",
                format!("/{LIBS}/ld-linux-x86-64.so.2"),
            )
            .mtime(1),
        )
        .entry(
            Entry::file(
                format!("{LIBS}/ld-linux-x86-64.so.2"),
                elf(&ElfSpec::x86_64()),
            )
            .mtime(1),
        )
        .entry(Entry::file(format!("{LIBS}/libc.so.6"), elf(&ElfSpec::x86_64())).mtime(1))
        .entry(Entry::symlink("var/run", "/run").mtime(1));
    for (path, node) in nodes {
        let path = path.trim_start_matches('/');
        let entry = match node {
            Node::Elf(needed) => Entry::file(
                path,
                elf(&ElfSpec {
                    interp: Some(LOADER),
                    needed,
                    runpath: Some(&format!("/{LIBS}")),
                    ..ElfSpec::x86_64()
                }),
            )
            .mode(0o755),
            Node::Link(target) => Entry::symlink(path, target),
            Node::Dir => Entry::dir(format!("{path}/")),
            Node::Text(text) => Entry::file(path, text),
        };
        layer = layer.entry(entry.mtime(1));
    }
    let dir = ScratchDir::new(&format!("server-{name}"));
    let index = FsIndex::from_layers(&[dir.write("layer.tar", layer.finish())]).unwrap();
    Image { _dir: dir, index }
}

/// The profiles auto-detection chooses for `image`, by name.
fn detected(image: &Image) -> Vec<String> {
    choose(&[], true, &image.index, &[], &[])
        .unwrap()
        .into_iter()
        .map(|(p, _)| p.name)
        .collect()
}

/// The keep set of a run that executed only `server`, with `profile` applied.
fn keep(image: &Image, server: &str, profile: &str) -> KeepSet {
    let options = KeepOptions {
        lists: Vec::new(),
        profiles: vec![load(profile).unwrap()],
        ..KeepOptions::default()
    };
    let records = [record(server).of_kind(AccessKind::Exec)];
    compute(&image.index, &records, &ImageRuntime::default(), &options).unwrap()
}

fn assert_kept(set: &KeepSet, paths: &[&str]) {
    for path in paths {
        assert!(
            set.contains(path.as_bytes()),
            "{path} kept: {:?}",
            set.paths().map(display).collect::<Vec<_>>()
        );
    }
}

fn assert_not_kept(set: &KeepSet, paths: &[&str]) {
    for path in paths {
        assert!(!set.contains(path.as_bytes()), "{path} not kept");
    }
}

/// Whether `path` is kept by `profile`'s own rule (not only as another file's closure).
fn kept_by_profile(set: &KeepSet, path: &str, profile: &str) -> bool {
    set.reasons(path.as_bytes()).is_some_and(|reasons| {
        reasons
            .iter()
            .any(|r| matches!(r, Reason::Profile { profile: p, .. } if p == profile))
    })
}

/// The library `path` is kept as the ELF dependency of `of`.
fn library_of(set: &KeepSet, path: &str, of: &str) -> bool {
    set.reasons(path.as_bytes()).is_some_and(|reasons| {
        reasons
            .iter()
            .any(|r| matches!(r, Reason::ElfLibrary { of: o } if o == of))
    })
}

fn redis() -> Image {
    image(
        "redis",
        &[
            (
                "/usr/bin/redis-server",
                Node::Elf(&["libssl.so.3", "libc.so.6"]),
            ),
            ("/usr/bin/redis-check-aof", Node::Link("redis-server")),
            ("/usr/bin/redis-check-rdb", Node::Link("redis-server")),
            (
                "/usr/bin/redis-cli",
                Node::Elf(&["libhiredis.so.0.14", "libc.so.6"]),
            ),
            ("/usr/bin/redis-benchmark", Node::Elf(&["libc.so.6"])),
            (
                "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                Node::Elf(&["libc.so.6"]),
            ),
            (
                "/usr/lib/x86_64-linux-gnu/libhiredis.so.0.14",
                Node::Elf(&["libc.so.6"]),
            ),
            ("/etc/redis/redis.conf", Node::Text("bind 127.0.0.1 -::1\n")),
            ("/var/lib/redis", Node::Dir),
            ("/var/lib/redis/dump.rdb", Node::Text("REDIS0011")),
            ("/var/log/redis", Node::Dir),
            ("/var/log/redis/redis-server.log", Node::Text("old log\n")),
            ("/run/redis", Node::Dir),
        ],
    )
}

fn mariadb() -> Image {
    let client = Node::Elf(&["libmariadb.so.3", "libc.so.6"]);
    image(
        "mariadb",
        &[
            ("/usr/sbin/mariadbd", Node::Elf(&["libc.so.6"])),
            ("/usr/sbin/mysqld", Node::Link("mariadbd")),
            ("/usr/bin/mariadb", client),
            ("/usr/bin/mysql", Node::Link("mariadb")),
            (
                "/usr/bin/mariadb-dump",
                Node::Elf(&["libmariadb.so.3", "libc.so.6"]),
            ),
            ("/usr/bin/mysqldump", Node::Link("mariadb-dump")),
            (
                "/usr/bin/mariadb-admin",
                Node::Elf(&["libmariadb.so.3", "libc.so.6"]),
            ),
            ("/usr/bin/mysqladmin", Node::Link("mariadb-admin")),
            (
                "/usr/bin/mariadb-check",
                Node::Elf(&["libmariadb.so.3", "libc.so.6"]),
            ),
            ("/usr/bin/mysqlcheck", Node::Link("mariadb-check")),
            ("/usr/bin/mariadb-slap", Node::Elf(&["libc.so.6"])),
            (
                "/usr/lib/x86_64-linux-gnu/libmariadb.so.3",
                Node::Elf(&["libc.so.6"]),
            ),
            ("/etc/mysql/my.cnf", Node::Link("/etc/alternatives/my.cnf")),
            (
                "/etc/alternatives/my.cnf",
                Node::Link("/etc/mysql/mariadb.cnf"),
            ),
            ("/etc/mysql/mariadb.cnf", Node::Text("[client-server]\n")),
            (
                "/etc/mysql/mariadb.conf.d/50-server.cnf",
                Node::Text("[mysqld]\n"),
            ),
            (
                "/usr/share/mariadb/charsets/Index.xml",
                Node::Text("<charsets/>"),
            ),
            (
                "/usr/share/mariadb/english/errmsg.sys",
                Node::Text("errors"),
            ),
            (
                "/usr/lib/mysql/plugin/auth_ed25519.so",
                Node::Elf(&["libc.so.6"]),
            ),
            (
                "/usr/lib/x86_64-linux-gnu/libmariadb3/plugin/caching_sha2_password.so",
                Node::Elf(&["libc.so.6"]),
            ),
            ("/run/mysqld", Node::Dir),
            ("/run/mysqld/mysqld.sock.lock", Node::Text("")),
        ],
    )
}

fn postgresql() -> Image {
    let tool = || Node::Elf(&["libpq.so.5", "libc.so.6"]);
    image(
        "postgresql",
        &[
            (
                "/usr/lib/postgresql/15/bin/postgres",
                Node::Elf(&["libc.so.6"]),
            ),
            ("/usr/lib/postgresql/15/bin/psql", tool()),
            ("/usr/lib/postgresql/15/bin/pg_dump", tool()),
            ("/usr/lib/postgresql/15/bin/pg_dumpall", tool()),
            ("/usr/lib/postgresql/15/bin/pg_restore", tool()),
            ("/usr/lib/postgresql/15/bin/pg_isready", tool()),
            ("/usr/lib/postgresql/15/bin/pg_ctl", tool()),
            ("/usr/lib/postgresql/15/bin/pgbench", tool()),
            (
                "/usr/lib/x86_64-linux-gnu/libpq.so.5",
                Node::Elf(&["libc.so.6"]),
            ),
            (
                "/usr/bin/psql",
                Node::Link("../share/postgresql-common/pg_wrapper"),
            ),
            (
                "/usr/bin/pg_dump",
                Node::Link("../share/postgresql-common/pg_wrapper"),
            ),
            (
                "/usr/share/postgresql-common/pg_wrapper",
                Node::Text("#!/usr/bin/perl\nexec @ARGV;\n"),
            ),
            ("/usr/bin/perl", Node::Elf(&["libc.so.6"])),
            ("/run/postgresql", Node::Dir),
            (
                "/usr/lib/postgresql/15/lib/pgcrypto.so",
                Node::Elf(&["libc.so.6"]),
            ),
            // The JIT provider and what it needs.
            (
                "/usr/lib/postgresql/15/lib/llvmjit.so",
                Node::Elf(&["libLLVM-14.so.1", "libc.so.6"]),
            ),
            (
                "/usr/lib/postgresql/15/lib/llvmjit_types.bc",
                Node::Text("BC"),
            ),
            ("/usr/lib/postgresql/15/lib/bitcode", Node::Dir),
            (
                "/usr/lib/postgresql/15/lib/bitcode/postgres.index.bc",
                Node::Text("BC"),
            ),
            (
                "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
                Node::Elf(&["libc.so.6"]),
            ),
        ],
    )
}

#[test]
fn each_server_profile_is_detected_by_its_server_alone() {
    assert_eq!(detected(&redis()), ["base", "redis"]);
    assert_eq!(detected(&mariadb()), ["base", "mariadb"]);
    assert_eq!(detected(&postgresql()), ["base", "postgresql"]);
    let mysqld_only = image("mysqld", &[("/usr/sbin/mysqld", Node::Elf(&["libc.so.6"]))]);
    assert_eq!(detected(&mysqld_only), ["base", "mariadb"]);
    let source_build = image(
        "redis-local",
        &[("/usr/local/bin/redis-server", Node::Elf(&["libc.so.6"]))],
    );
    assert_eq!(detected(&source_build), ["base", "redis"]);
}

#[test]
fn the_redis_profile_keeps_the_tools_with_their_closure_config_and_empty_directories() {
    let set = keep(&redis(), "/usr/bin/redis-server", "redis");
    for tool in [
        "/usr/bin/redis-cli",
        "/usr/bin/redis-check-aof",
        "/usr/bin/redis-check-rdb",
    ] {
        assert!(kept_by_profile(&set, tool, "redis"), "{tool}");
    }
    assert!(library_of(
        &set,
        "/usr/lib/x86_64-linux-gnu/libhiredis.so.0.14",
        "/usr/bin/redis-cli"
    ));
    assert_kept(
        &set,
        &[
            "/usr/bin/redis-server",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "/etc/redis/redis.conf",
            "/var/lib/redis",
            "/var/log/redis",
            "/run/redis",
        ],
    );
    assert_not_kept(
        &set,
        &[
            "/usr/bin/redis-benchmark",
            "/var/lib/redis/dump.rdb",
            "/var/log/redis/redis-server.log",
        ],
    );
}

#[test]
fn the_mariadb_profile_keeps_the_clients_under_both_names_and_the_server_data() {
    let set = keep(&mariadb(), "/usr/sbin/mariadbd", "mariadb");
    for tool in [
        "/usr/bin/mariadb",
        "/usr/bin/mysql",
        "/usr/bin/mariadb-dump",
        "/usr/bin/mysqldump",
        "/usr/bin/mariadb-admin",
        "/usr/bin/mysqladmin",
        "/usr/bin/mariadb-check",
        "/usr/bin/mysqlcheck",
        "/etc/mysql/my.cnf",
        "/etc/mysql/mariadb.conf.d/50-server.cnf",
        "/usr/share/mariadb/charsets/Index.xml",
        "/usr/share/mariadb/english/errmsg.sys",
        "/usr/lib/mysql/plugin/auth_ed25519.so",
        "/usr/lib/x86_64-linux-gnu/libmariadb3/plugin/caching_sha2_password.so",
        "/run/mysqld",
    ] {
        assert!(kept_by_profile(&set, tool, "mariadb"), "{tool}");
    }
    assert!(library_of(
        &set,
        "/usr/lib/x86_64-linux-gnu/libmariadb.so.3",
        "/usr/bin/mariadb"
    ));
    assert_kept(
        &set,
        &["/etc/alternatives/my.cnf", "/etc/mysql/mariadb.cnf"],
    );
    assert_not_kept(
        &set,
        &["/usr/bin/mariadb-slap", "/run/mysqld/mysqld.sock.lock"],
    );
}

#[test]
fn the_postgresql_profile_keeps_the_real_client_binaries_not_debians_perl_wrapper() {
    let set = keep(
        &postgresql(),
        "/usr/lib/postgresql/15/bin/postgres",
        "postgresql",
    );
    for tool in [
        "psql",
        "pg_dump",
        "pg_dumpall",
        "pg_restore",
        "pg_isready",
        "pg_ctl",
    ] {
        let path = format!("/usr/lib/postgresql/15/bin/{tool}");
        assert!(kept_by_profile(&set, &path, "postgresql"), "{path}");
    }
    assert!(library_of(
        &set,
        "/usr/lib/x86_64-linux-gnu/libpq.so.5",
        "/usr/lib/postgresql/15/bin/psql"
    ));
    assert_kept(&set, &["/run/postgresql"]);
    assert_not_kept(
        &set,
        &[
            "/usr/lib/postgresql/15/bin/pgbench",
            "/usr/bin/psql",
            "/usr/bin/pg_dump",
            "/usr/share/postgresql-common/pg_wrapper",
            "/usr/bin/perl",
        ],
    );
}

#[test]
fn the_postgresql_profile_leaves_the_jit_provider_out_unless_it_was_used() {
    let set = keep(
        &postgresql(),
        "/usr/lib/postgresql/15/bin/postgres",
        "postgresql",
    );
    assert!(kept_by_profile(
        &set,
        "/usr/lib/postgresql/15/lib/pgcrypto.so",
        "postgresql"
    ));
    assert_not_kept(
        &set,
        &[
            "/usr/lib/postgresql/15/lib/llvmjit.so",
            "/usr/lib/postgresql/15/lib/llvmjit_types.bc",
            "/usr/lib/postgresql/15/lib/bitcode/postgres.index.bc",
            "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
        ],
    );
    let left: Vec<(&str, &str, Vec<String>)> = set
        .left_out()
        .iter()
        .map(|l| {
            (
                l.profile.as_str(),
                l.glob.as_str(),
                l.paths.iter().map(|p| display(p)).collect(),
            )
        })
        .collect();
    assert_eq!(
        left,
        [
            (
                "postgresql",
                "/usr/lib/postgresql/*/lib/bitcode",
                vec!["/usr/lib/postgresql/15/lib/bitcode".to_string()]
            ),
            (
                "postgresql",
                "/usr/lib/postgresql/*/lib/bitcode/**",
                vec!["/usr/lib/postgresql/15/lib/bitcode/postgres.index.bc".to_string()]
            ),
            (
                "postgresql",
                "/usr/lib/postgresql/*/lib/llvmjit*",
                vec![
                    "/usr/lib/postgresql/15/lib/llvmjit.so".to_string(),
                    "/usr/lib/postgresql/15/lib/llvmjit_types.bc".to_string()
                ]
            ),
        ]
    );

    // A query that used JIT loaded the provider: traced, it is kept with libLLVM, and
    // not reported as left out.
    let image = postgresql();
    let options = KeepOptions {
        lists: Vec::new(),
        profiles: vec![load("postgresql").unwrap()],
        ..KeepOptions::default()
    };
    let used = compute(
        &image.index,
        &[
            record("/usr/lib/postgresql/15/bin/postgres").of_kind(AccessKind::Exec),
            record("/usr/lib/postgresql/15/lib/llvmjit.so"),
        ],
        &ImageRuntime::default(),
        &options,
    )
    .unwrap();
    assert_kept(
        &used,
        &[
            "/usr/lib/postgresql/15/lib/llvmjit.so",
            "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
        ],
    );
    assert!(used.left_out().iter().all(|l| {
        !l.paths
            .contains(b"/usr/lib/postgresql/15/lib/llvmjit.so".as_slice())
    }));
}

#[test]
fn server_tool_globs_match_the_paths_of_source_builds() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "redis",
            &[
                "/usr/local/bin/redis-cli",
                "/usr/local/bin/redis-check-aof",
                "/usr/local/bin/redis-check-rdb",
            ],
        ),
        (
            "postgresql",
            &[
                "/usr/local/bin/psql",
                "/usr/local/bin/pg_dump",
                "/usr/local/bin/pg_isready",
                "/usr/local/pgsql/bin/pg_ctl",
            ],
        ),
        ("mariadb", &["/usr/share/mysql/charsets/Index.xml"]),
    ];
    for (name, paths) in cases {
        let profile = load(name).unwrap();
        let globs = compile_globs(profile.keep.iter().map(String::as_str)).unwrap();
        for path in paths {
            assert!(globs.is_match(path), "{name} keeps {path}");
        }
        assert!(!globs.is_match("/usr/local/bin/other"), "{name}");
    }
}
