//! `cargo xtask bench memory`: slim's peak memory on images whose shape, not size, is
//! extreme — `many-layers` (100 layers with whiteouts) and `many-files` (100,000 small
//! files, every one read by the traced command, so the trace, the index, the keep set and
//! the new layer all hold them) — each with the default ring buffer and with a 4 MB one,
//! since the ring buffer is a fixed share of the RSS whatever the image.
//!
//! Results are printed and written to the `memory` section of BENCHMARKS.md.

use std::fmt::Write as _;

use crate::Result;
use crate::bench_kit::{load_average, release_slim, source_of};

/// The builds measured: fixture and extra `slim build` options.
const RUNS: &[(&str, &[&str])] = &[
    ("many-layers", &[]),
    ("many-layers", &["--ring-buffer", "4M"]),
    ("many-files", &[]),
    ("many-files", &["--ring-buffer", "4M"]),
];

/// Peak memory allowed for any image.
const MEMORY_TARGET_MB: f64 = 200.0;

struct Row {
    label: String,
    image: String,
    layers: usize,
    paths_kept: String,
    source_mb: f64,
    slim_mb: f64,
    wall: f64,
    max_rss_mb: f64,
}

pub fn run(args: &[String]) -> Result<String> {
    if let Some(unknown) = args.iter().find(|a| !RUNS.iter().any(|(n, _)| n == a)) {
        return Err(format!(
            "no memory benchmark for fixture {unknown:?}; known: many-layers, many-files"
        ));
    }
    let slim = release_slim()?;
    let version = source_of(&slim);
    let load_before = load_average();
    let mut fixtures = Vec::new();
    let mut rows = Vec::new();
    for (name, options) in RUNS
        .iter()
        .filter(|(name, _)| args.is_empty() || args.iter().any(|a| a == name))
    {
        let (tag, label, build) =
            crate::bench_build::measured_build(&slim, name, options, &[], &mut fixtures)?;
        let slim_image = build.image();
        let source = slim_fixtures::EngineImage::inspect(&tag);
        let paths_kept = build
            .stderr
            .lines()
            .find_map(|l| {
                let rest = l.split_once("kept ")?.1;
                let (kept, rest) = rest.split_once(" of ")?;
                let total = rest.split_whitespace().next()?;
                Some(format!("{kept} of {total}"))
            })
            .unwrap_or_else(|| "?".into());
        let row = Row {
            label,
            image: tag.clone(),
            layers: source.layers.len(),
            paths_kept,
            source_mb: source.size as f64 / 1e6,
            slim_mb: slim_image.engine.size as f64 / 1e6,
            wall: build.wall.as_secs_f64(),
            max_rss_mb: build.max_rss_kib as f64 * 1024.0 / 1e6,
        };
        eprintln!(
            "bench: {}: {:.1} s, peak RSS {:.0} MB",
            row.label, row.wall, row.max_rss_mb
        );
        rows.push(row);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Peak RSS (slim's own VmHWM, read while it runs) of `slim build` with the release \
         binary on images of many layers and of many files, default options, then with a 4 MB \
         ring buffer (the probe's ring buffer is mapped into slim, once, while a container \
         runs, and counts in its RSS whatever the image; the second row of each pair shows \
         whether the peak comes from it). Binary: {version}.\n"
    );
    let _ = writeln!(
        out,
        "Load average (1, 5, 15 min) before: {load_before}; after: {}.\n",
        load_average()
    );
    let _ = writeln!(out, "Fixtures: {}.\n", fixtures.join(", "));
    let _ = writeln!(
        out,
        "| image | layers | size → slim | paths kept | wall | peak RSS | < {MEMORY_TARGET_MB:.0} MB |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} → {:.1} MB | {} | {:.1} s | {:.0} MB | {} |",
            r.label,
            r.layers,
            r.source_mb,
            r.slim_mb,
            r.paths_kept,
            r.wall,
            r.max_rss_mb,
            if r.max_rss_mb < MEMORY_TARGET_MB {
                "yes"
            } else {
                "no"
            }
        );
    }
    let mut images: Vec<String> = rows.iter().map(|r| format!("`{}`", r.image)).collect();
    images.dedup();
    let _ = writeln!(out, "\nImages: {}.", images.join(", "));
    Ok(out)
}
