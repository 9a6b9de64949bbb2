//! Developer tasks for slim, run as `cargo xtask <task>`: preparing a Debian machine,
//! building the fixture images, running the whole test suite and a demo of `slim trace`.
//! Plain `std::process::Command` on host tools (apt-get, mount, cargo); the fixture images
//! come from the `slim-tests` library so tests and tasks build exactly the same ones.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use slim_fixtures::{FIXTURES, Outcome, Record};

/// Debian packages a fresh machine needs to build and test slim.
const PACKAGES: &[&str] = &[
    "clang",
    "llvm",
    "libbpf-dev",
    "linux-libc-dev",
    "debootstrap",
    "gcc",
    "libc6-dev",
    // Shifts slim's clock in the determinism tests.
    "faketime",
];

const TRACEFS: &str = "/sys/kernel/tracing";

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  setup              install the Debian packages slim needs (only the missing ones)
                     and mount tracefs at /sys/kernel/tracing
  fixtures [--prune] build the fixture images the tests use (cached by recipe hash);
                     --prune also removes older tags of the same fixtures
  test [ARGS...]     setup, fixtures (the tests compile meanwhile), then
                     `cargo test --workspace -- --test-threads=2 ARGS`
  demo               setup, build slim and the demo image, trace it and summarise
  release            build the release binary and check it: at most 16 MB, it ignores
                     SLIM_TEST_HOOK=panic:…, and a forced panic's backtrace (the same
                     profile with the test-hooks feature) names slim's functions
  bench probe        the probe's sustained event rate and its overhead on traced
                     applications; results go to BENCHMARKS.md
  bench build [--baseline BIN] [FIXTURE...|readiness]
                     `slim build` wall time by phase, rebuild cost against
                     `docker save`, peak memory on a 1 GB image, and readiness
                     latency (`readiness`); with --baseline, the size another
                     slim binary makes of each image beside this one's; to
                     BENCHMARKS.md
  bench memory [FIXTURE...]
                     `slim build` peak memory on 100 layers and on 100,000 files;
                     to BENCHMARKS.md
  schema             write slim-cli/schema/report.schema.json from the report's types
  deps               check that every package uses each of its direct dependencies
                     (also run by `test`)
  fuzz [--seconds N] [--seeds] [TARGET...]
                     build the fuzz targets (cargo-fuzz, installed if missing) and
                     run each for N seconds (60) from its seed corpus in fuzz/corpus;
                     --seeds rewrites that corpus";

mod bench_build;
mod bench_kit;
mod bench_memory;
mod bench_probe;
mod bench_ready;
mod deps;
mod fuzz;
mod release;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("setup") => setup(),
        Some("fixtures") => fixtures(rest.iter().any(|a| a == "--prune")),
        Some("test") => test(&rest),
        Some("demo") => demo(),
        Some("release") => setup().and_then(|()| release::check()),
        Some("bench") => bench(&rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("deps") => deps::check(),
        Some("schema") => write_schema(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &[String]) -> Result {
    match args.first().map(String::as_str) {
        Some("probe") => {
            setup()?;
            let report = bench_probe::run()?;
            println!("{report}");
            bench_probe::record("probe", &report)
        }
        Some("build") => {
            setup()?;
            for (section, report) in bench_build::run(&args[1..])? {
                println!("{report}");
                bench_probe::record(&section, &report)?;
            }
            Ok(())
        }
        Some("memory") => {
            setup()?;
            let report = bench_memory::run(&args[1..])?;
            println!("{report}");
            bench_probe::record("memory", &report)
        }
        other => Err(format!(
            "unknown benchmark {other:?}: try `cargo xtask bench probe`, `bench build` or \
             `bench memory`"
        )),
    }
}

fn setup() -> Result {
    if !is_root() {
        return Err(
            "setup installs packages and mounts tracefs: run it as root\n\
             hint: sudo -E cargo xtask setup"
                .into(),
        );
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        eprintln!("setup: packages present: {}", PACKAGES.join(" "));
    } else {
        eprintln!("setup: installing {}", missing.join(" "));
        run(Command::new("apt-get").arg("update").arg("-q"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if is_tracefs_mounted() {
        eprintln!("setup: tracefs mounted at {TRACEFS}");
    } else {
        eprintln!("setup: mounting tracefs at {TRACEFS}");
        run(Command::new("mount").args(["-t", "tracefs", "tracefs", TRACEFS]))?;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("warning: /sys/kernel/btf/vmlinux is missing: the probe needs a kernel with BTF");
    }
    let engine = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match engine {
        Ok(out) if out.status.success() => eprintln!(
            "setup: Docker Engine {}",
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        _ => {
            return Err("the Docker engine is not reachable\n\
                 hint: install and start Docker Engine (e.g. apt-get install docker.io)"
                .into());
        }
    }
    Ok(())
}

fn fixtures(prune: bool) -> Result {
    for name in FIXTURES {
        let started = Instant::now();
        let (tag, outcome) = slim_fixtures::ensure_image(name).map_err(|e| format!("{e:#}"))?;
        let how = match outcome {
            Outcome::Cached => "cached",
            Outcome::Built => "built",
        };
        eprintln!(
            "fixture {name}: {tag} ({how}, {:.1}s)",
            started.elapsed().as_secs_f64()
        );
        if prune {
            for old in slim_fixtures::prune_fixture(name).map_err(|e| format!("{e:#}"))? {
                eprintln!("fixture {name}: removed stale {old}");
            }
        }
    }
    Ok(())
}

/// The unit test that compares the committed report schema with the one the report's
/// types give; with [`WRITE_SCHEMA_ENV`] set it writes the file instead.
const SCHEMA_TEST: &str =
    "report::schema::tests::the_committed_schema_is_the_one_the_report_types_give";

/// Makes [`SCHEMA_TEST`] write `slim-cli/schema/report.schema.json` instead of comparing.
const WRITE_SCHEMA_ENV: &str = "SLIM_WRITE_SCHEMA";

/// The report's schema, as the report's types give it, written by slim-cli's own unit
/// test: xtask does not link slim-cli, whose probe needs clang to build, so that a fresh
/// machine can run `cargo xtask setup` (and `test`) before clang is installed.
fn write_schema() -> Result {
    setup()?;
    run(cargo()
        .args([
            "test",
            "--quiet",
            "-p",
            "slim-cli",
            "--lib",
            SCHEMA_TEST,
            "--",
            "--exact",
        ])
        .env(WRITE_SCHEMA_ENV, "1"))?;
    eprintln!("schema: wrote slim-cli/schema/report.schema.json");
    Ok(())
}

fn test(extra: &[String]) -> Result {
    setup()?;
    // The tests compile while the fixtures build: building a fixture mostly waits on
    // apt and the engine, so the compiler has the cores.
    eprintln!("test: compiling the tests while the fixtures build");
    let mut compile = cargo();
    compile.args(["test", "--workspace", "--no-run", "--quiet"]);
    let mut compiling = compile
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", compile.get_program()))?;
    let built = fixtures(false);
    let compiled = compiling
        .wait()
        .map_err(|e| format!("waiting for {compile:?}: {e}"))?;
    built?;
    if !compiled.success() {
        return Err(format!("{compile:?} failed ({compiled})"));
    }
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--", "--test-threads=2"])
        .args(extra);
    run(&mut cmd)
}

fn demo() -> Result {
    setup()?;
    eprintln!("demo: building slim");
    let slim = slim_fixtures::slim_bin();
    let started = Instant::now();
    let (image, _) = slim_fixtures::ensure_image("probe").map_err(|e| format!("{e:#}"))?;
    eprintln!(
        "demo: image {image} ready ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    let workload = "cat /etc/os-release >/dev/null; ls /data/dir >/dev/null; \
                    probe-fixture stat /etc/first-file; probe-fixture open /nonexistent";
    let output = std::env::temp_dir().join(format!("slim-demo-{}.jsonl", std::process::id()));
    eprintln!(
        "demo: {} trace --output {} {image} -- sh -c '{workload}'",
        slim.display(),
        output.display()
    );
    let status = Command::new(slim)
        .arg("trace")
        .arg("--output")
        .arg(&output)
        .arg(&image)
        .args(["--", "sh", "-c", workload])
        .status()
        .map_err(|e| format!("running {}: {e}", slim.display()))?;
    let text = std::fs::read_to_string(&output)
        .map_err(|e| format!("reading {}: {e}", output.display()))?;
    let _ = std::fs::remove_file(&output);
    let records = slim_fixtures::parse_records(&text).map_err(|e| format!("{e:#}"))?;
    print_summary(&records);
    if !status.success() {
        return Err(format!("slim trace exited with {status}"));
    }
    demo_build(slim, &image)
}

/// The demo's main job: `slim build` of the demo image (traced, rebuilt, verified), then
/// the sizes, the slim image's own run next to the original's, and `slim explain` of a
/// kept and a removed path.
fn demo_build(slim: &Path, image: &str) -> Result {
    let dir = std::env::temp_dir().join(format!("slim-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let report = dir.join("slim.report.json");
    let tag = "slim-demo.slim:latest";
    eprintln!(
        "demo: {} build --tag {tag} --report {} {image}",
        slim.display(),
        report.display()
    );
    let built = Command::new(slim)
        .args(["build", "--tag", tag, "--report"])
        .arg(&report)
        .arg(image)
        .status()
        .map_err(|e| format!("running {}: {e}", slim.display()));
    let result = built.and_then(|status| {
        if !status.success() {
            return Err(format!("slim build exited with {status}"));
        }
        demo_show(slim, image, tag, &report)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn demo_show(slim: &Path, image: &str, tag: &str, report_path: &Path) -> Result {
    let text = std::fs::read_to_string(report_path)
        .map_err(|e| format!("reading {}: {e}", report_path.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", report_path.display()))?;
    let size = |v: &serde_json::Value| v.as_u64().unwrap_or(0) as f64 / 1e6;
    println!();
    println!(
        "size: {image} {:.1} MB -> {tag} {:.1} MB ({:.1}x smaller), verification: {}",
        size(&report["source"]["size"]),
        size(&report["image"]["size"]),
        report["factor"].as_f64().unwrap_or(0.0),
        report["verification"]["status"].as_str().unwrap_or("?")
    );
    // The slim image's own check: its default command, as on the original.
    let mut same = true;
    for which in [image, tag] {
        let out = Command::new("docker")
            .args(["run", "--rm", which])
            .output()
            .map_err(|e| format!("running docker run {which}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        println!(
            "docker run --rm {which}: exit {}, {}",
            out.status.code().unwrap_or(-1),
            text.trim()
        );
        same &= out.status.success();
    }
    for path in ["/etc/first-file", "/data/dir/a"] {
        println!("$ slim explain {path}");
        let status = Command::new(slim)
            .args(["explain", path, "--report"])
            .arg(report_path)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return Err(format!("slim explain {path} failed"));
        }
    }
    if !same {
        return Err(format!("the slim image {tag} does not run as {image} does"));
    }
    Ok(())
}

fn print_summary(records: &[Record]) {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut paths: BTreeMap<&str, (usize, BTreeMap<&str, ()>)> = BTreeMap::new();
    let mut failed: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    let mut outside = 0;
    for r in records {
        *kinds.entry(&r.kind).or_default() += 1;
        if r.incomplete.is_some() {
            // e.g. fstat of a pipe: the file has no path in the container.
            outside += 1;
            continue;
        }
        let entry = paths.entry(&r.path).or_default();
        entry.0 += 1;
        entry.1.insert(&r.kind, ());
        if r.result != "ok" {
            failed.insert((&r.path, &r.result), ());
        }
    }
    println!("traced {} accesses to {} paths", records.len(), paths.len());
    let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("by kind: {}", by_kind.join(", "));
    let executed: Vec<&str> = records
        .iter()
        .filter(|r| r.kind == "exec" && r.result == "ok")
        .map(|r| r.path.as_str())
        .collect();
    println!("executed: {}", executed.join(" "));
    println!("paths outside /proc, /sys and /dev:");
    for (path, (count, kinds)) in &paths {
        if ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| path.starts_with(&format!("{p}/")) || path == p)
        {
            continue;
        }
        let kinds: Vec<&str> = kinds.keys().copied().collect();
        println!("  {path:<48} {count:>4}  {}", kinds.join(","));
    }
    if outside > 0 {
        println!("  ({outside} accesses to files with no path in the container, e.g. pipes)");
    }
    if !failed.is_empty() {
        println!("failed lookups:");
        for (path, result) in failed.keys() {
            println!("  {path} {result}");
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

fn run(cmd: &mut Command) -> Result {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn is_tracefs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|mounts| {
        mounts.lines().any(|l| {
            let mut fields = l.split(' ');
            let (_, point, fstype) = (fields.next(), fields.next(), fields.next());
            point == Some(TRACEFS) && fstype == Some("tracefs")
        })
    })
}
