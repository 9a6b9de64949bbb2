//! `cargo xtask bench build`: what `slim build` costs, measured with the release build of
//! `slim` on the fixture images the acceptance tests use plus `big` (about 1 GB of files on
//! Debian's python3).
//!
//! - Wall time per fixture, by the phases slim reports on its `time:` line (inspect, run,
//!   save, keep, rebuild, verify … whatever slim names them).
//! - The rebuild cost — every phase between the traced run and the new image in the
//!   engine (verification excluded) — against `docker save IMAGE > /dev/null` of the same
//!   image (target: at most 0.5×), with the image read from the engine's layer store (the
//!   default here) and again through the export (`--image-source export`, the way
//!   every build read it before the layer store).
//! - The whole build against the application's own start-up on the Flask- and
//!   Django-style fixtures (target: at most twice the time to ready, plus the probes, plus
//!   2 s).
//! - slim's peak resident memory (its own VmHWM, read while it runs), the target being under 200 MB
//!   while minifying the ≥ 1 GB image.
//!
//! - With `--baseline BIN`, the size of the image another `slim` binary (an earlier
//!   commit's release build) makes of the same fixture with the same options, beside this
//!   one's: what a change gained or lost.
//!
//! Results are printed and written to the `build` section of BENCHMARKS.md, with the load
//! average around the run and any other `slim` or `cargo` process seen, so a busy
//! machine shows in the figures' context.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use slim_fixtures::{BuildCommand, Outcome};

use crate::Result;
use crate::bench_kit::{load_average, other_processes, release_slim, source_of};

/// The builds measured, smallest image first: fixture and extra `slim build` options.
/// `big` is the memory benchmark; it runs twice, the second time with a small ring
/// buffer, since the probe's ring buffer (32 MB by default) is a fixed share of the RSS.
const RUNS: &[(&str, &[&str])] = &[
    ("merged-usr", &[]),
    ("users", &[]),
    ("filemodes", &[]),
    ("nginx", &[]),
    ("python-app", &[]),
    ("config", &[]),
    ("redis", &[]),
    ("postgres", &["-e", "POSTGRES_PASSWORD=bench-secret"]),
    ("mariadb", &["-e", "MARIADB_ROOT_PASSWORD=bench-secret"]),
    ("express", &[]),
    ("sinatra", &[]),
    ("php-apache", &[]),
    ("php-fpm", &[]),
    ("django", &[]),
    ("big", &[]),
    ("big", &["--ring-buffer", "4M"]),
];

/// The phases of slim's `time:` line that are not the rebuild: looking the image up,
/// the traced run, and the verification run on the new image. Every other phase (save,
/// keep, rebuild, load … as slim names them) counts as rebuild work.
const NOT_REBUILD_PHASES: &[&str] = &["inspect", "run", "verify"];

/// Reasons listed per image in the bytes-by-reason table.
const BY_REASON: usize = 5;

/// Peak memory allowed while minifying `big`.
const MEMORY_TARGET_MB: f64 = 200.0;

/// The rebuild phases may take this many times a plain `docker save`.
const SAVE_RATIO_TARGET: f64 = 0.5;

/// The fixtures whose whole build is judged against their start-up: a Flask-style and a
/// Django-style application.
const STARTUP_FIXTURES: &[&str] = &["python-app", "django"];

/// Seconds a whole build may take beyond twice the time to ready plus the probes.
const STARTUP_SLACK: f64 = 2.0;

struct Row {
    image: String,
    fixture: String,
    source_mb: f64,
    slim_mb: f64,
    phases: Vec<(String, f64)>,
    wall: f64,
    docker_save: f64,
    max_rss_mb: f64,
    /// The build report's kept bytes by reason, largest first.
    by_reason: Vec<(String, f64)>,
    /// Seconds of the keep phase spent in import closures, and of the whole keep phase
    /// (from the report).
    closure_s: f64,
    keep_s: f64,
    /// Seconds spent scanning Python sources alongside the traced run (from the report).
    scan_s: f64,
    /// The baseline binary's slim image size, or how its build failed.
    baseline: Option<std::result::Result<f64, String>>,
    /// Where the build read the original (the report's `source.read_from.kind`).
    read_from: String,
    /// Seconds to ready and of the probes, from slim's `[ready …]` and `[probing …]` lines.
    ready: f64,
    probing: f64,
    /// The phases that made the wall time (the report's `critical_path`), joined by →.
    critical_path: String,
    /// The same build with the image read through the export: its phases and wall time.
    export: Option<(Vec<(String, f64)>, f64)>,
}

impl Row {
    fn phase(&self, name: &str) -> f64 {
        self.phases
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, s)| *s)
    }

    /// Every phase after the traced run up to the new image in the engine.
    fn rebuild(&self) -> f64 {
        self.phases
            .iter()
            .filter(|(n, _)| !NOT_REBUILD_PHASES.contains(&n.as_str()))
            .map(|(_, s)| s)
            .sum()
    }

    /// The names of the rebuild phases, for the report.
    fn rebuild_names(&self) -> Vec<&str> {
        self.phases
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !NOT_REBUILD_PHASES.contains(n))
            .collect()
    }

    /// The rebuild phases of the build that read the image through the export.
    fn export_rebuild(&self) -> Option<f64> {
        let (phases, _) = self.export.as_ref()?;
        Some(
            phases
                .iter()
                .filter(|(n, _)| !NOT_REBUILD_PHASES.contains(&n.as_str()))
                .map(|(_, s)| s)
                .sum(),
        )
    }
}

/// Seconds of the `[NAME 1.2s]` line slim printed for a step of its run.
fn step_seconds(build: &slim_fixtures::BuildOutcome, name: &str) -> f64 {
    let prefix = format!("slim: [{name} ");
    build
        .messages()
        .iter()
        .find_map(|l| l.strip_prefix(prefix.as_str())?.split_once("s]"))
        .and_then(|(secs, _)| secs.parse().ok())
        .unwrap_or(0.0)
}

/// The name that selects the readiness latency runs ([`crate::bench_ready`]).
const READINESS: &str = "readiness";

/// Runs the benchmark (`args`: optional fixture names to limit it to, or `readiness`) and
/// returns its sections in Markdown, each with the name BENCHMARKS.md files it under:
/// `build` for the builds of every fixture (`build (a, b)` for some only), `readiness`
/// for the readiness latency.
pub fn run(args: &[String]) -> Result<Vec<(String, String)>> {
    let (baseline, args) = match args {
        [flag, bin, rest @ ..] if flag == "--baseline" => {
            let bin = PathBuf::from(bin);
            if !bin.is_file() {
                return Err(format!(
                    "--baseline {}: no such file; give the path of another slim binary \
                     (an earlier commit's `target/release/slim`)",
                    bin.display()
                ));
            }
            (Some(bin), rest)
        }
        [flag] if flag == "--baseline" => {
            return Err("--baseline needs the path of another slim binary".into());
        }
        _ => (None, args),
    };
    let runs: Vec<(&str, &[&str])> = RUNS
        .iter()
        .copied()
        .filter(|(name, _)| args.is_empty() || args.iter().any(|a| a == name))
        .collect();
    if let Some(unknown) = args
        .iter()
        .find(|a| *a != READINESS && !RUNS.iter().any(|(n, _)| n == a))
    {
        return Err(format!(
            "no benchmark for fixture {unknown:?}; known: {}, and {READINESS}",
            RUNS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ));
    }
    let slim = release_slim()?;
    let version = source_of(&slim);
    let baseline_version = baseline.as_deref().map(source_of);
    let load_before = load_average();
    let others_before = other_processes();

    let mut fixture_lines = Vec::new();
    let mut rows = Vec::new();
    for (name, options) in runs {
        // Through the export first, its image removed before the measured build: both
        // builds pay for the engine's load of the new layer (an engine that already holds
        // a layer takes it again at no cost), and both find the original's files as warm
        // as `docker build` leaves them.
        let export = measured_build(
            &slim,
            name,
            options,
            &[("SLIM_IMAGE_SOURCE", "export")],
            &mut fixture_lines,
        )
        .map(|(_, _, b)| {
            drop(b.image());
            (b.phases(), b.wall.as_secs_f64())
        })
        .map_err(|e| eprintln!("bench: {name} through the export failed: {e}"))
        .ok();
        let (tag, label, build) = measured_build(&slim, name, options, &[], &mut fixture_lines)?;
        let slim_image = build.image();
        let source = slim_fixtures::EngineImage::inspect(&tag);
        let docker_save = time_docker_save(&tag)?;
        let row = Row {
            image: tag.clone(),
            fixture: label.clone(),
            source_mb: source.size as f64 / 1e6,
            slim_mb: slim_image.engine.size as f64 / 1e6,
            phases: build.phases(),
            wall: build.wall.as_secs_f64(),
            docker_save,
            max_rss_mb: build.max_rss_kib as f64 * 1024.0 / 1e6,
            by_reason: build
                .report
                .as_ref()
                .and_then(|r| r["keep"]["by_reason"].as_array())
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some((
                        t["reason"].as_str()?.to_string(),
                        t["bytes"].as_f64()? / 1e6,
                    ))
                })
                .collect(),
            closure_s: build
                .report
                .as_ref()
                .and_then(|r| r["keep"]["closure_seconds"].as_f64())
                .unwrap_or(0.0),
            keep_s: build
                .report
                .as_ref()
                .and_then(|r| r["phases"]["keep"].as_f64())
                .unwrap_or(0.0),
            scan_s: build
                .report
                .as_ref()
                .and_then(|r| {
                    r["alongside"]
                        .as_array()?
                        .iter()
                        .find(|a| a["name"] == "python scan")?["seconds"]
                        .as_f64()
                })
                .unwrap_or(0.0),
            baseline: baseline
                .as_deref()
                .map(|bin| baseline_size(bin, name, options)),
            read_from: build
                .report
                .as_ref()
                .and_then(|r| r["source"]["read_from"]["kind"].as_str())
                .unwrap_or("unknown")
                .to_string(),
            critical_path: build
                .report
                .as_ref()
                .and_then(|r| r["critical_path"].as_array())
                .into_iter()
                .flatten()
                .filter_map(|step| step["name"].as_str())
                .collect::<Vec<_>>()
                .join(" → "),
            ready: step_seconds(&build, "ready"),
            probing: step_seconds(&build, "probing"),
            export,
        };
        eprintln!(
            "bench: {label}: {:.1} s total, rebuild phases {:.1} s, docker save {:.1} s, peak RSS {:.0} MB",
            row.wall,
            row.rebuild(),
            row.docker_save,
            row.max_rss_mb
        );
        rows.push(row);
    }

    let load_after = load_average();
    let others_after = other_processes();
    let mut sections = Vec::new();
    if !rows.is_empty() {
        let named: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .filter(|a| *a != READINESS)
            .collect();
        let section = if named.is_empty() {
            "build".to_string()
        } else {
            format!("build ({})", named.join(", "))
        };
        sections.push((
            section,
            report(
                &version,
                baseline_version.as_deref(),
                &rows,
                &fixture_lines,
                (&load_before, &load_after),
                (&others_before, &others_after),
            ),
        ));
    }
    if args.is_empty() || args.iter().any(|a| a == READINESS) {
        sections.push((
            READINESS.to_string(),
            crate::bench_ready::measure(&slim, &version)?,
        ));
    }
    Ok(sections)
}

/// The import closure's seconds against the keep phase's, and the scan alongside the run.
fn closure_cell(r: &Row) -> String {
    let mut cell = format!("{:.3} s of {:.3} s", r.closure_s, r.keep_s);
    if r.keep_s > 0.0 {
        cell.push_str(&format!(" ({:.0} %)", 100.0 * r.closure_s / r.keep_s));
    }
    if r.scan_s > 0.0 {
        cell.push_str(&format!("; {:.3} s alongside the run", r.scan_s));
    }
    cell
}

/// The size of the image `bin` (another slim) makes of fixture `name` with `options`, in
/// MB, or how its build failed.
fn baseline_size(bin: &Path, name: &str, options: &[&str]) -> std::result::Result<f64, String> {
    let mut unused = Vec::new();
    // Its report follows its own schema, not this one's: none is written.
    let options: Vec<&str> = options.iter().copied().chain(["--report", "off"]).collect();
    match measured_build(bin, name, &options, &[], &mut unused) {
        Ok((_, _, build)) => Ok(build.image().engine.size as f64 / 1e6),
        Err(e) => {
            // slim's error line, not the hint after it.
            let error = e
                .lines()
                .find(|l| l.contains("error:"))
                .or_else(|| e.lines().rev().find(|l| !l.trim().is_empty()))
                .unwrap_or("")
                .trim();
            eprintln!("bench: baseline build of {name} failed: {error}");
            Err(error.to_string())
        }
    }
}

fn report(
    version: &str,
    baseline: Option<&str>,
    rows: &[Row],
    fixtures: &[String],
    load: (&str, &str),
    others: (&[String], &[String]),
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`slim build` with the release binary, default options, one run per image; times \
         from slim's own `time:` line (0.1 s resolution), wall time of the whole command, \
         peak RSS from slim's own VmHWM, read while it runs. Binary: {version}.\n"
    );
    let _ = writeln!(
        out,
        "Load average (1, 5, 15 min) before: {}; after: {}.",
        load.0, load.1
    );
    let mut busy: Vec<&String> = others.0.iter().chain(others.1).collect();
    busy.sort();
    busy.dedup();
    if busy.is_empty() {
        let _ = writeln!(out, "No other slim or cargo process was seen running.\n");
    } else {
        let _ = writeln!(
            out,
            "The machine was shared: other processes seen during the run: {}.\n",
            busy.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(out, "Fixtures: {}.\n", fixtures.join(", "));

    // The phases as slim names them, in the order it reports them.
    let mut phases: Vec<&str> = Vec::new();
    for r in rows {
        for (name, _) in &r.phases {
            if !phases.contains(&name.as_str()) {
                phases.push(name);
            }
        }
    }
    let _ = writeln!(out, "### Wall time by phase\n");
    let _ = writeln!(
        out,
        "| image | size → slim | {} | total | critical path |",
        phases.join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}---|---|", "---|".repeat(phases.len()));
    for r in rows {
        let times: Vec<String> = phases
            .iter()
            .map(|p| format!("{:.1} s", r.phase(p)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} → {:.1} MB | {} | {:.1} s | {} |",
            r.fixture,
            r.source_mb,
            r.slim_mb,
            times.join(" | "),
            r.wall,
            r.critical_path
        );
        if let Some((export, wall)) = &r.export {
            let times: Vec<String> = phases
                .iter()
                .map(|p| {
                    let secs = export.iter().find(|(n, _)| n == p).map_or(0.0, |(_, s)| *s);
                    format!("{secs:.1} s")
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} through the export | | {} | {wall:.1} s | |",
                r.fixture,
                times.join(" | ")
            );
        }
    }
    let _ = writeln!(
        out,
        "\nRead from the layer store, `save` is only the wait for the index made while the \
         traced container ran; each build's critical path is on slim's `critical path:` \
         line and in its report.\n"
    );

    let _ = writeln!(
        out,
        "\n### Rebuild cost against `docker save` (target ≤ {SAVE_RATIO_TARGET}×)\n"
    );
    let names = rows
        .first()
        .map(|r| r.rebuild_names().join(" + "))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Rebuild phases = {names}: all of slim's work between the traced run and the new \
         image in the engine (verification excluded), judged against the target. Read from \
         the layer store, the original is indexed while its traced container runs, so \
         `save` is only the wait for that index; the export column is the same build with \
         `--image-source export`, which reads the image as every build did before, run \
         first and its image removed, so that both builds pay for the engine's load. \
         `docker save IMAGE > /dev/null` is timed right after the build.\n"
    );
    let _ = writeln!(
        out,
        "| image | read from | rebuild phases | through the export | docker save | ratio | ratio through the export | within target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for r in rows {
        let save = r.docker_save.max(0.001);
        let ratio = r.rebuild() / save;
        let (export, export_ratio) = match r.export_rebuild() {
            Some(e) => (format!("{e:.1} s"), format!("{:.1}×", e / save)),
            None => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} s | {export} | {:.2} s | {:.2}× | {export_ratio} | {} |",
            r.fixture,
            r.read_from,
            r.rebuild(),
            r.docker_save,
            ratio,
            if ratio <= SAVE_RATIO_TARGET {
                "yes"
            } else {
                "no"
            }
        );
    }

    let _ = writeln!(
        out,
        "\n### Whole build against the application's start-up (target ≤ 2 × ready + probes + {STARTUP_SLACK:.0} s)\n"
    );
    let _ = writeln!(
        out,
        "Ready and probes from slim's `[ready …]` and `[probing …]` lines of the traced run; \
         the whole build is the command's wall time, and through the export the same build \
         with `--image-source export`.\n"
    );
    let _ = writeln!(
        out,
        "| image | ready | probes | target | whole build | through the export | within target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for r in rows
        .iter()
        .filter(|r| STARTUP_FIXTURES.contains(&r.fixture.as_str()))
    {
        let target = 2.0 * r.ready + r.probing + STARTUP_SLACK;
        let _ = writeln!(
            out,
            "| {} | {:.1} s | {:.1} s | {target:.1} s | {:.1} s | {} | {} |",
            r.fixture,
            r.ready,
            r.probing,
            r.wall,
            r.export
                .as_ref()
                .map_or("—".into(), |(_, wall)| format!("{wall:.1} s")),
            if r.wall <= target { "yes" } else { "no" }
        );
    }

    let _ = writeln!(
        out,
        "\n### Peak memory (target < {MEMORY_TARGET_MB:.0} MB on a ≥ 1 GB image)\n"
    );
    let _ = writeln!(
        out,
        "The probe's ring buffer (`--ring-buffer`, 32 MB by default, mapped once) lives in slim's memory \
         and counts in its RSS whatever the image; a row with a 4 MB ring buffer shows what \
         the rest of slim takes.\n"
    );
    let _ = writeln!(out, "| image | size | peak RSS | within target |");
    let _ = writeln!(out, "|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} MB | {:.0} MB | {} |",
            r.fixture,
            r.source_mb,
            r.max_rss_mb,
            if r.max_rss_mb < MEMORY_TARGET_MB {
                "yes"
            } else {
                "no"
            }
        );
    }
    if let Some(baseline) = baseline {
        let _ = writeln!(out, "\n### Size against a baseline\n");
        let _ = writeln!(
            out,
            "The same fixtures and options built by the baseline binary ({baseline}) and by \
             this one.\n"
        );
        let _ = writeln!(out, "| image | original | baseline | slim | change |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for r in rows {
            let (base, change) = match &r.baseline {
                Some(Ok(mb)) => (
                    format!("{mb:.1} MB"),
                    format!("{:+.0} %", (r.slim_mb / mb - 1.0) * 100.0),
                ),
                Some(Err(e)) => (format!("fails: {}", e.replace('|', "/")), "—".into()),
                None => ("—".into(), "—".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {:.1} MB | {base} | {:.1} MB | {change} |",
                r.fixture, r.source_mb, r.slim_mb
            );
        }
    }
    let _ = writeln!(
        out,
        "\n### Kept bytes by reason (the {BY_REASON} largest; the report has them all)\n"
    );
    let _ = writeln!(
        out,
        "From each build's report (`keep.by_reason`): every kept file once, under its \
         strongest reason; a closure charged to the reason of the file it serves.\n"
    );
    let _ = writeln!(
        out,
        "The import closure column is the time the keep phase spent reading kept sources \
         for what they import (the report's `keep.closure_seconds`), against the whole keep \
         phase (`phases.keep`), and the time spent scanning the Python sources the \
         application loaded while its traced container ran (`alongside`, `python scan`): \
         off the critical path, and what the closure did not have to read.\n"
    );
    let _ = writeln!(
        out,
        "| image | slim | import closure | kept bytes by reason |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for r in rows {
        let reasons: Vec<String> = r
            .by_reason
            .iter()
            .take(BY_REASON)
            .map(|(reason, mb)| format!("{reason} {mb:.1} MB"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.1} MB | {} | {} |",
            r.fixture,
            r.slim_mb,
            closure_cell(r),
            reasons.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "\nImages: {}.",
        rows.iter()
            .map(|r| format!("`{}`", r.image))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

/// Makes sure fixture `name` exists (noting it once in `fixtures` as "`name` cached" or
/// "`name` built in N s"), then runs `slim` on it with `options` (flags, or flag and value
/// pairs) under a unique tag. Returns the fixture's tag, the run's label and the finished
/// build, or an error unless it succeeded.
pub(crate) fn measured_build(
    slim: &Path,
    name: &str,
    options: &[&str],
    env: &[(&str, &str)],
    fixtures: &mut Vec<String>,
) -> Result<(String, String, slim_fixtures::BuildOutcome)> {
    let started = Instant::now();
    let (tag, outcome) = slim_fixtures::ensure_image(name).map_err(|e| format!("{e:#}"))?;
    let noted = format!("`{name}`");
    if !fixtures.iter().any(|l| l.starts_with(&noted)) {
        let how = match outcome {
            Outcome::Cached => "cached".to_string(),
            Outcome::Built => format!("built in {:.1} s", started.elapsed().as_secs_f64()),
        };
        eprintln!("bench: fixture {name}: {tag} ({how})");
        fixtures.push(format!("{noted} {how}"));
    }
    let label = if options.is_empty() {
        name.to_string()
    } else {
        format!("{name} `{}`", options.join(" "))
    };
    eprintln!("bench: slim build {label} ({tag}) {env:?}");
    let mut command = BuildCommand::new(&tag)
        .binary(slim)
        .unique_tag(&format!("bench-{name}"))
        .limit(std::time::Duration::from_secs(1800));
    for (key, value) in env {
        command = command.env(key, value);
    }
    for pair in options.chunks(2) {
        command = match pair {
            [flag, value] => command.option(flag, value),
            [flag] => command.flag(flag),
            _ => command,
        };
    }
    let build = command.run();
    if build.code != Some(0) {
        return Err(format!(
            "slim build {tag} failed ({:?}):\n{}",
            build.code, build.stderr
        ));
    }
    Ok((tag, label, build))
}

/// Seconds `docker save IMAGE > /dev/null` takes.
fn time_docker_save(image: &str) -> Result<f64> {
    let null = File::create("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?;
    let started = Instant::now();
    let status = Command::new("docker")
        .args(["save", image])
        .stdout(Stdio::from(null))
        .status()
        .map_err(|e| format!("running docker save: {e}"))?;
    if !status.success() {
        return Err(format!("docker save {image} failed ({status})"));
    }
    Ok(started.elapsed().as_secs_f64())
}
