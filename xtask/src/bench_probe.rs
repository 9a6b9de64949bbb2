//! `cargo xtask bench probe`: what the probe sustains and what it costs the traced
//! application, measured with the release build of `slim` on the fixture images.
//!
//! - Event rate: bursts of `openat` calls inside a traced container (`probe-fixture burst`),
//!   timed inside the container; each call is two ring-buffer records (entry and exit). A
//!   burst passes only if nothing was lost.
//! - Overhead: the same work traced (`slim trace`) and untraced (`docker run`), as a ratio of
//!   durations: the open burst (every call recorded: the worst case) and a read/write loop
//!   (`dd`, calls the probe does not record: what a typical server pays); and nginx under
//!   `wrk`, as a ratio of requests per second.
//!
//! Results are printed and written to the `probe` section of BENCHMARKS.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::bench_kit::workspace_root;

/// Runs of each measurement; the median is reported.
const RUNS: usize = 3;
const BURSTS: [u64; 3] = [200_000, 500_000, 1_000_000];
const DD_BLOCKS: u64 = 1_000_000;

struct Timed {
    seconds: f64,
    events: Option<u64>,
    lost: Option<u64>,
}

pub fn run() -> Result<String> {
    crate::run(crate::cargo().args(["build", "--release", "-p", "slim-cli", "--bin", "slim"]))?;
    let slim = workspace_root().join("target/release/slim");
    let image = slim_fixtures::image("probe");
    let out = std::env::temp_dir().join(format!("slim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;

    let mut report = Vec::new();
    report.push("### Event rate (open bursts, traced, zero loss required)\n".to_string());
    report.push("| opens | burst time | records/s | calls/s | lost |".into());
    report.push("|---|---|---|---|---|".into());
    for &n in &BURSTS {
        let script = format!("probe-fixture burst {n} /dev/null >/dev/null");
        let runs = (0..RUNS)
            .map(|_| timed(&slim, &image, &out, &script, true))
            .collect::<Result<Vec<_>>>()?;
        let t = median(&runs);
        let lost = runs.iter().filter_map(|r| r.lost).max().unwrap_or(0);
        let records = t.events.unwrap_or(0);
        report.push(format!(
            "| {n} | {:.3} s | {:.0} | {:.0} | {lost} |",
            t.seconds,
            records as f64 / t.seconds,
            n as f64 / t.seconds
        ));
        eprintln!(
            "bench: burst {n}: {:.3}s, {records} records, lost {lost}",
            t.seconds
        );
    }

    report.push("\n### Overhead on the traced application (median of 3)\n".into());
    report.push("| workload | untraced | traced | slower by |".into());
    report.push("|---|---|---|---|".into());
    let n = BURSTS[1];
    for (name, script) in [
        (
            format!("{n} opens (every call recorded)"),
            format!("probe-fixture burst {n} /dev/null >/dev/null"),
        ),
        (
            format!("dd, {DD_BLOCKS} reads + writes of 512 B (not recorded)"),
            format!("dd if=/dev/zero of=/dev/null bs=512 count={DD_BLOCKS} 2>/dev/null"),
        ),
    ] {
        let plain = median(
            &(0..RUNS)
                .map(|_| timed(&slim, &image, &out, &script, false))
                .collect::<Result<Vec<_>>>()?,
        )
        .seconds;
        let traced = median(
            &(0..RUNS)
                .map(|_| timed(&slim, &image, &out, &script, true))
                .collect::<Result<Vec<_>>>()?,
        )
        .seconds;
        report.push(format!(
            "| {name} | {plain:.3} s | {traced:.3} s | {:+.1} % |",
            (traced / plain - 1.0) * 100.0
        ));
        eprintln!("bench: {name}: untraced {plain:.3}s, traced {traced:.3}s");
    }
    match nginx_overhead(&slim) {
        Ok(line) => report.push(line),
        Err(e) => report.push(format!("| nginx under wrk | not measured: {e} | | |")),
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(report.join("\n"))
}

/// Runs `script` in `image` (traced by `slim trace` or plainly by `docker run`) and returns
/// the duration the container measured for it.
fn timed(slim: &Path, image: &str, out: &Path, script: &str, traced: bool) -> Result<Timed> {
    let _ = std::fs::remove_file(out.join("start"));
    let _ = std::fs::remove_file(out.join("end"));
    let wrapped = format!("date +%s.%N >/out/start && {script} && date +%s.%N >/out/end");
    let volume = format!("{}:/out", out.display());
    let output = if traced {
        Command::new(slim)
            .args(["trace", "--output", "/dev/null", "-v", &volume, image, "--"])
            .args(["/bin/sh", "-c", &wrapped])
            .stdin(Stdio::null())
            .output()
    } else {
        Command::new("docker")
            .args([
                "run", "--rm", "-v", &volume, image, "/bin/sh", "-c", &wrapped,
            ])
            .stdin(Stdio::null())
            .output()
    }
    .map_err(|e| format!("running the workload: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "the workload failed ({}):\n{stderr}",
            output.status
        ));
    }
    let read = |name: &str| -> Result<f64> {
        std::fs::read_to_string(out.join(name))
            .map_err(|e| format!("the workload wrote no {name} time: {e}"))?
            .trim()
            .parse::<f64>()
            .map_err(|e| format!("bad {name} time: {e}"))
    };
    let seconds = read("end")? - read("start")?;
    // slim's summary: "trace: N events, M records, U unique paths, L lost"
    let summary = stderr.lines().find_map(|l| l.split("trace: ").nth(1));
    let number_before = |word: &str| {
        summary.and_then(|s| {
            s.split(", ")
                .find(|part| part.ends_with(word))
                .and_then(|part| part.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        })
    };
    Ok(Timed {
        seconds,
        events: number_before("events"),
        lost: number_before("lost"),
    })
}

fn median(runs: &[Timed]) -> &Timed {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| runs[a].seconds.total_cmp(&runs[b].seconds));
    &runs[order[order.len() / 2]]
}

/// nginx under wrk, traced and untraced: requests per second.
fn nginx_overhead(slim: &Path) -> Result<String> {
    let image = slim_fixtures::try_image("nginx").map_err(|e| format!("no nginx fixture: {e}"))?;
    if Command::new("wrk").arg("--version").output().is_err() {
        crate::run(Command::new("apt-get").args(["install", "-y", "-q", "wrk"]))?;
    }
    let measure = |traced: bool| -> Result<f64> {
        let name = format!("slim-bench-nginx-{}", std::process::id());
        let mut tracer = None;
        if traced {
            tracer = Some(
                Command::new(slim)
                    .args([
                        "trace",
                        "--output",
                        "/dev/null",
                        "--timeout",
                        "60",
                        "--name",
                        &name,
                        &image,
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("starting slim: {e}"))?,
            );
        } else {
            crate::run(
                Command::new("docker")
                    .args(["run", "-d", "--rm", "--name", &name, &image])
                    .stdout(Stdio::null()),
            )?;
        }
        let ip = wait_for_address(&name)?;
        wait_for_port(&ip, 80)?;
        let wrk = Command::new("wrk")
            .args(["-t1", "-c8", "-d10s", &format!("http://{ip}/")])
            .output()
            .map_err(|e| format!("running wrk: {e}"))?;
        let text = String::from_utf8_lossy(&wrk.stdout);
        let rate = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("wrk printed no rate:\n{text}"))?;
        match tracer {
            Some(mut child) => {
                // SIGINT: slim stops the container and cleans up.
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
                let _ = child.wait();
            }
            None => {
                let _ = Command::new("docker")
                    .args(["rm", "-f", &name])
                    .stdout(Stdio::null())
                    .status();
            }
        }
        Ok(rate)
    };
    let pick = |traced| -> Result<f64> {
        let mut rates = (0..RUNS)
            .map(|_| measure(traced))
            .collect::<Result<Vec<_>>>()?;
        rates.sort_by(f64::total_cmp);
        Ok(rates[rates.len() / 2])
    };
    let plain = pick(false)?;
    let traced = pick(true)?;
    eprintln!("bench: nginx: untraced {plain:.0} req/s, traced {traced:.0} req/s");
    Ok(format!(
        "| nginx under wrk (1 thread, 8 connections, 10 s) | {plain:.0} req/s | {traced:.0} req/s | {:+.1} % |",
        (plain / traced - 1.0) * 100.0
    ))
}

fn wait_for_address(name: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let out = Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                name,
            ])
            .output();
        if let Ok(out) = out {
            let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !ip.is_empty() {
                return Ok(ip);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("container {name} got no address"))
}

fn wait_for_port(ip: &str, port: u16) -> Result<()> {
    let addr: std::net::SocketAddr = format!("{ip}:{port}")
        .parse()
        .map_err(|e| format!("bad address {ip}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{addr} never accepted connections"))
}

/// Replaces (or appends) the `## <section>` of BENCHMARKS.md with `body`, under a line
/// naming the machine and the date.
pub fn record(section: &str, body: &str) -> Result {
    let path = workspace_root().join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nMeasured with `cargo xtask bench …`; each section names the machine and the date.\n".into()
    });
    let heading = format!("## {section}");
    let machine = machine_line();
    let new_section = format!("{heading}\n\n{machine}\n\n{body}\n");
    let updated = match existing.find(&heading) {
        Some(start) => {
            let rest = &existing[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(existing.len(), |i| start + heading.len() + i + 1);
            format!("{}{}{}", &existing[..start], new_section, &existing[end..])
        }
        None => format!("{}\n\n{new_section}", existing.trim_end()),
    };
    std::fs::write(&path, updated).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn machine_line() -> String {
    let sh = |cmd: &str| {
        Command::new("sh")
            .args(["-c", cmd])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "Machine: {} ({} cores, {}), kernel {}; {}.",
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'"),
        sh("nproc"),
        sh("free -h | awk '/Mem:/{print $2}'"),
        sh("uname -r"),
        sh("date -u '+%Y-%m-%d %H:%M UTC'")
    )
}
