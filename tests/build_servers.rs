//! `slim build` with default options on a server that an operator drives with the tools
//! shipped next to it: Debian's Redis with its stock configuration (bound to the
//! container's loopback, running as `redis`). The traced run only sees the server start
//! and its port answer; `redis-cli`, `redis-check-rdb` and `redis-check-aof` reach the slim
//! image through the `redis` profile, detected from the image. The slim image answers
//! `redis-cli` through `docker exec`, keeps its data across a restart (the RDB written on
//! shutdown, and the append-only file with `--appendonly yes`) and checks both files;
//! built with `--no-auto-profile`, the server runs but `redis-cli` is not there.
//!
//! The same for Debian's PostgreSQL 15 set up like the official image: the traced run sees
//! the entrypoint create the cluster and the server answer an SSLRequest; pgcrypto, the
//! text search dictionaries and `pg_dump` come through the `postgresql` profile. The slim
//! image takes a password login over TCP, runs pgcrypto and an English full-text query,
//! keeps a table across a restart and dumps it; without the profile `pg_dump` is missing.
//!
//! And for Debian's MariaDB set up like the official image: the traced run sees the
//! entrypoint create the system tables and set root's password, and the server's handshake;
//! the storage engine plugins and `mariadb-dump` come through the `mariadb` profile. The
//! slim image takes a password login over TCP, loads the ARCHIVE engine, runs a full-text
//! query, keeps a table across a restart, dumps it and answers `mariadb-admin ping`;
//! without the profile `mariadb-dump` is missing.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::time::{Duration, Instant};

use serde_json::Value;
use slim_fixtures::{
    BuildCommand, REDIS_COMMAND, SlimImage, TestContainer, build_fixture, image, image_entries,
};

/// How long a server may take to answer its first command: generous, since only a server
/// that never starts runs into it.
const START: Duration = Duration::from_secs(90);

/// The fixture's command with more of the server's options after it.
fn redis_server(options: &[&'static str]) -> Vec<&'static str> {
    [REDIS_COMMAND, options].concat()
}

/// `slim build` of `fixture` with `args`: the new image and the build's report.
fn build(fixture: &str, label: &str, args: &[&str]) -> (SlimImage, Value) {
    build_fixture(fixture, label, args)
}

/// A TCP login to the `postgres` fixture's server: its pg_hba.conf asks for the password.
const POSTGRES_URL: &str = "postgresql://postgres:slim-pg-secret@127.0.0.1/postgres";

/// The superuser password the `postgres` containers are given, at build and at run time
/// (`slim build -e` and `docker run -e`).
const POSTGRES_ENV: [&str; 2] = ["-e", "POSTGRES_PASSWORD=slim-pg-secret"];

/// `redis-cli ARGS` in `container`, once the server answers; its trimmed output.
fn cli(container: &TestContainer, args: &[&str]) -> String {
    let mut all = vec!["redis-cli"];
    all.extend_from_slice(args);
    container.exec_until_ok(&all, START).trim().to_string()
}

/// Runs `command` in `container` and panics unless it exits 0 printing `expected`.
fn check(container: &TestContainer, command: &[&str], expected: &str) {
    let out = container.exec(command);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains(expected),
        "{command:?} in the slim image ({}): {text}",
        out.status
    );
}

#[test]
fn root_engine_redis_slim_image_serves_redis_cli_and_keeps_its_data_across_restarts() {
    let (slim, report) = build("redis", "redis", &[]);
    let profiles = report["profiles"].as_array().expect("profiles");
    assert!(
        profiles.iter().any(|p| p["name"] == "redis"),
        "the redis profile is detected: {profiles:?}"
    );

    // The RDB file the server writes when it is stopped.
    let rdb = TestContainer::start(&slim.tag, &[], &[]);
    assert_eq!(cli(&rdb, &["ping"]), "PONG", "logs:\n{}", rdb.logs());
    assert_eq!(cli(&rdb, &["SET", "k", "v"]), "OK");
    assert_eq!(cli(&rdb, &["GET", "k"]), "v");
    rdb.restart();
    assert_eq!(
        cli(&rdb, &["GET", "k"]),
        "v",
        "the key survives a restart through the RDB written on shutdown; logs:\n{}",
        rdb.logs()
    );
    assert_eq!(cli(&rdb, &["SET", "saved", "yes"]), "OK");
    assert_eq!(cli(&rdb, &["SAVE"]), "OK");
    check(
        &rdb,
        &["redis-check-rdb", "/var/lib/redis/dump.rdb"],
        "RDB looks OK",
    );

    // The append-only file, loaded at start instead of the RDB.
    let aof = TestContainer::start(&slim.tag, &[], &redis_server(&["--appendonly", "yes"]));
    assert_eq!(cli(&aof, &["SET", "k", "from-aof"]), "OK");
    aof.restart();
    assert_eq!(
        cli(&aof, &["GET", "k"]),
        "from-aof",
        "the key survives a restart through the append-only file; logs:\n{}",
        aof.logs()
    );
    check(
        &aof,
        &[
            "redis-check-aof",
            "/var/lib/redis/appendonlydir/appendonly.aof.manifest",
        ],
        "All AOF files and manifest are valid",
    );
}

#[test]
fn root_engine_redis_without_auto_profile_runs_the_server_but_lacks_redis_cli() {
    lacks_without_profile(&WithoutProfile {
        fixture: "redis",
        env: &[],
        ready_log: "Ready to accept connections",
        tool: &["redis-cli", "ping"],
        tool_path: "/usr/bin/redis-cli",
    });
}

#[test]
fn root_engine_redis_with_readiness_by_connection_never_becomes_ready() {
    // The control of the Redis build: readiness as slim did it before reading listening
    // sockets from the kernel (connect from the host, wait for HTTP) never sees the
    // loopback-bound server ready.
    let outcome = BuildCommand::new(&image("redis"))
        .unique_tag("redis-connect")
        .env("SLIM_TEST_HOOK", "readiness:connect")
        .option("--ready-timeout", "5")
        .run();
    outcome.assert_nothing_left();
    assert_eq!(
        outcome.code,
        Some(2),
        "the build should fail as not ready:\n{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("the application never became ready")
            && outcome.stderr.contains("it listens on 127.0.0.1:6379"),
        "{}",
        outcome.stderr
    );
}

/// `psql` over TCP with the password, unaligned and tuples only: panics unless `sql`
/// succeeds printing `expected`.
fn sql(container: &TestContainer, sql: &str, expected: &str) {
    check(
        container,
        &["psql", "-X", "-A", "-t", POSTGRES_URL, "-c", sql],
        expected,
    );
}

/// Waits until the server in `container` accepts connections (`pg_isready`).
fn postgres_ready(container: &TestContainer) {
    let answer = container.exec_until_ok(&["pg_isready"], START);
    assert!(answer.contains("accepting connections"), "{answer}");
}

#[test]
fn root_engine_postgres_slim_image_logs_in_with_a_password_runs_extensions_and_dumps_its_data() {
    let (slim, report) = build("postgres", "postgres", &POSTGRES_ENV);
    let profiles = report["profiles"].as_array().expect("profiles");
    assert!(
        profiles.iter().any(|p| p["name"] == "postgresql"),
        "the postgresql profile is detected: {profiles:?}"
    );

    // The JIT provider is an optional part no query of the build used: left out, and
    // libLLVM (over 100 MB) with it; the report says how to keep it.
    let llvm = |tag: &str| {
        image_entries(tag)
            .iter()
            .any(|e| e.path.contains("/libLLVM"))
    };
    assert!(
        llvm(&image("postgres")),
        "the fixture has libLLVM, or this proves nothing"
    );
    assert!(!llvm(&slim.tag), "the slim image holds libLLVM");
    let left_out = report["left_out"].as_array().expect("left_out");
    assert!(
        left_out.iter().any(|l| l["profile"] == "postgresql"
            && l["paths"].as_array().is_some_and(|p| p
                .iter()
                .any(|p| p == "/usr/lib/postgresql/15/lib/llvmjit.so"))),
        "the report lists the JIT provider as left out: {left_out:?}"
    );

    // A fresh container: the entrypoint creates the cluster in the empty $PGDATA.
    let db = TestContainer::start(&slim.tag, &POSTGRES_ENV, &[]);
    postgres_ready(&db);
    sql(&db, "select 1", "1");
    let wrong = db.exec(&[
        "psql",
        "-X",
        "postgresql://postgres:not-the-password@127.0.0.1/postgres",
        "-c",
        "select 1",
    ]);
    assert!(
        !wrong.status.success()
            && String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"),
        "a wrong password is refused: {}{}",
        String::from_utf8_lossy(&wrong.stdout),
        String::from_utf8_lossy(&wrong.stderr)
    );
    sql(&db, "CREATE EXTENSION pgcrypto", "CREATE EXTENSION");
    sql(&db, "select crypt('x', gen_salt('bf')) like '$2a$%'", "t");
    sql(
        &db,
        "select to_tsvector('english', 'The quick brown foxes') @@ to_tsquery('english', 'fox')",
        "t",
    );
    sql(
        &db,
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives a restart')",
        "INSERT 0 1",
    );

    db.restart();
    postgres_ready(&db);
    sql(&db, "select v from kept", "survives a restart");
    check(
        &db,
        &["pg_dump", "-U", "postgres", "postgres"],
        "survives a restart",
    );
    check(
        &db,
        &["pg_dump", "-U", "postgres", "postgres"],
        "CREATE TABLE public.kept",
    );
    check(&db, &["pg_isready"], "accepting connections");
}

#[test]
fn root_engine_postgres_without_auto_profile_runs_the_server_but_lacks_pg_dump() {
    lacks_without_profile(&WithoutProfile {
        fixture: "postgres",
        env: &POSTGRES_ENV,
        ready_log: "database system is ready to accept connections",
        tool: &["pg_dump", "-U", "postgres", "postgres"],
        tool_path: "/usr/lib/postgresql/15/bin/pg_dump",
    });
}

/// The root password the `mariadb` containers are given, at build and at run time.
const MARIADB_ENV: [&str; 2] = ["-e", "MARIADB_ROOT_PASSWORD=slim-maria-secret"];

/// `mariadb` over TCP as root with the password, batch mode without column names: panics
/// unless `sql` succeeds printing `expected`.
fn maria(container: &TestContainer, sql: &str, expected: &str) {
    check(
        container,
        &[
            "mariadb",
            "-h127.0.0.1",
            "-uroot",
            "-pslim-maria-secret",
            "-N",
            "-B",
            "-e",
            sql,
        ],
        expected,
    );
}

/// Waits until the server in `container` answers root's `mariadb-admin ping` over TCP.
fn mariadb_ready(container: &TestContainer) {
    let answer = container.exec_until_ok(
        &[
            "mariadb-admin",
            "-h127.0.0.1",
            "-uroot",
            "-pslim-maria-secret",
            "ping",
        ],
        START,
    );
    assert!(answer.contains("mysqld is alive"), "{answer}");
}

#[test]
fn root_engine_mariadb_slim_image_logs_in_with_a_password_loads_plugins_and_dumps_its_data() {
    let (slim, report) = build("mariadb", "mariadb", &MARIADB_ENV);
    let profiles = report["profiles"].as_array().expect("profiles");
    assert!(
        profiles.iter().any(|p| p["name"] == "mariadb"),
        "the mariadb profile is detected: {profiles:?}"
    );

    // A fresh container: the entrypoint creates the system tables in the empty datadir.
    let db = TestContainer::start(&slim.tag, &MARIADB_ENV, &[]);
    mariadb_ready(&db);
    maria(&db, "select 1", "1");
    let wrong = db.exec(&[
        "mariadb",
        "-h127.0.0.1",
        "-uroot",
        "-pnot-the-password",
        "-e",
        "select 1",
    ]);
    assert!(
        !wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("Access denied"),
        "a wrong password is refused: {}{}",
        String::from_utf8_lossy(&wrong.stdout),
        String::from_utf8_lossy(&wrong.stderr)
    );
    // A storage engine the server loads from its plugin directory on request.
    maria(
        &db,
        "INSTALL SONAME 'ha_archive'; select 'installed'",
        "installed",
    );
    maria(
        &db,
        "CREATE DATABASE app; CREATE TABLE app.log (line text) ENGINE=ARCHIVE; \
         INSERT INTO app.log VALUES ('archived'); select line from app.log",
        "archived",
    );
    maria(
        &db,
        "CREATE TABLE app.docs (body text, FULLTEXT (body)) ENGINE=InnoDB; \
         INSERT INTO app.docs VALUES ('the quick brown fox'), ('slow green turtles'); \
         select body from app.docs where match(body) against ('turtles')",
        "slow green turtles",
    );
    maria(
        &db,
        "CREATE TABLE app.kept (v text); INSERT INTO app.kept VALUES ('survives a restart'); \
         select count(*) from app.kept",
        "1",
    );

    db.restart();
    mariadb_ready(&db);
    maria(&db, "select v from app.kept", "survives a restart");
    maria(&db, "select line from app.log", "archived");
    check(
        &db,
        &[
            "mariadb-dump",
            "-h127.0.0.1",
            "-uroot",
            "-pslim-maria-secret",
            "app",
        ],
        "survives a restart",
    );
    check(
        &db,
        &[
            "mariadb-dump",
            "-h127.0.0.1",
            "-uroot",
            "-pslim-maria-secret",
            "app",
        ],
        "CREATE TABLE `kept`",
    );
    check(
        &db,
        &["mariadb-admin", "-uroot", "-pslim-maria-secret", "ping"],
        "mysqld is alive",
    );
}

#[test]
fn root_engine_mariadb_without_auto_profile_runs_the_server_but_lacks_mariadb_dump() {
    lacks_without_profile(&WithoutProfile {
        fixture: "mariadb",
        env: &MARIADB_ENV,
        ready_log: "ready for connections",
        tool: &["mariadb-dump", "-uroot", "-pslim-maria-secret", "mysql"],
        tool_path: "/usr/bin/mariadb-dump",
    });
}

/// A server built with `--no-auto-profile`: the control of each server test.
struct WithoutProfile<'a> {
    fixture: &'a str,
    /// `-e NAME=VALUE` given to the build and to the container.
    env: &'a [&'a str],
    /// What the server logs once it accepts connections.
    ready_log: &'a str,
    /// An operator's command that only the profile brings.
    tool: &'a [&'a str],
    tool_path: &'a str,
}

/// Builds the fixture without profiles and panics unless its server starts while the
/// operator's tool is missing: the server alone was traced, so only the profile keeps it.
fn lacks_without_profile(case: &WithoutProfile) {
    let mut args = case.env.to_vec();
    args.push("--no-auto-profile");
    let label = format!("{}-no-profile", case.fixture);
    let (slim, _) = build(case.fixture, &label, &args);
    let container = TestContainer::start(&slim.tag, case.env, &[]);
    let deadline = Instant::now() + START;
    while !container.logs().contains(case.ready_log) {
        assert!(
            Instant::now() < deadline,
            "the server never got ready; logs:\n{}",
            container.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = container.exec(case.tool);
    assert!(
        !out.status.success(),
        "{:?} should fail without the profile, yet it prints {}",
        case.tool,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !image_entries(&slim.tag)
            .iter()
            .any(|e| e.path == case.tool_path),
        "{} is not in the image",
        case.tool_path
    );
}
