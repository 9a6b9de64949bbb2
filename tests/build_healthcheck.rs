//! The image's own HEALTHCHECK is a probe: `slim build` runs it in the traced container, so
//! a health command that runs a binary nothing else runs keeps that binary, and the slim
//! image turns `healthy` under the engine as the original does. With `--no-healthcheck`
//! the binary is dropped and the slim image turns `unhealthy`: the control that shows the
//! probe is what keeps it.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::time::{Duration, Instant};

use slim_fixtures::{BuildCommand, EngineImage, TestContainer, docker_ok, image};

/// How long a container may take to settle on a health status. The engine checks every
/// second here, and three failures in a row make a container unhealthy: a bound for
/// failed runs only.
const SETTLE: Duration = Duration::from_secs(120);

/// Runs `image` with the engine checking its health every second, and returns the status
/// it settles on (`healthy` or `unhealthy`) with the last check's output.
fn settled_health(image: &str) -> (String, String) {
    let container = TestContainer::start(image, &["--health-interval", "1s"], &[]);
    let deadline = Instant::now() + SETTLE;
    loop {
        let status = docker_ok([
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            &container.name,
        ])
        .trim()
        .to_string();
        if status != "starting" {
            let last = docker_ok([
                "inspect",
                "--format",
                "{{range .State.Health.Log}}{{.ExitCode}}: {{.Output}}{{end}}",
                &container.name,
            ]);
            return (status, last);
        }
        assert!(
            Instant::now() < deadline,
            "{image} is still `starting` after {SETTLE:?}; logs:\n{}",
            container.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn root_engine_the_healthcheck_binary_is_kept_and_the_slim_image_turns_healthy() {
    let original = image("health");
    let (status, last) = settled_health(&original);
    assert_eq!(status, "healthy", "the fixture itself: {last}");

    let build = BuildCommand::new(&original).unique_tag("health").run();
    let slim = build.image();
    let report = build.report.as_ref().expect("the build wrote no report");
    let plan = &report["probes"]["plan"];
    assert_eq!(
        plan["healthcheck"]["command"],
        serde_json::json!(["/usr/local/bin/healthy"]),
        "{plan:#}"
    );
    let health: Vec<&serde_json::Value> = report["probes"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["probe"] == "health")
        .collect();
    assert_eq!(health.len(), 1, "{report:#}");
    assert_eq!(health[0]["exit_code"], 0, "{:#}", health[0]);
    assert_eq!(report["verification"]["status"], "verified");

    // The HEALTHCHECK config itself is the original's.
    assert_eq!(
        slim.engine.config["Healthcheck"],
        EngineImage::inspect(&original).config["Healthcheck"]
    );
    let (status, last) = settled_health(&slim.tag);
    assert_eq!(
        status, "healthy",
        "the slim image's HEALTHCHECK fails: {last}\nbuild stderr:\n{}",
        build.stderr
    );
}

#[test]
fn root_engine_without_the_healthcheck_probe_the_slim_image_turns_unhealthy() {
    let original = image("health");
    let build = BuildCommand::new(&original)
        .unique_tag("health-off")
        .flag("--no-healthcheck")
        .run();
    let slim = build.image();
    let report = build.report.as_ref().expect("the build wrote no report");
    assert!(
        report["probes"]["plan"].get("healthcheck").is_none(),
        "{:#}",
        report["probes"]["plan"]
    );
    let (status, last) = settled_health(&slim.tag);
    assert_eq!(
        status, "unhealthy",
        "without the probe nothing keeps /usr/local/bin/healthy, yet the check passed: {last}"
    );
}
