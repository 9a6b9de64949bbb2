//! The image's own HEALTHCHECK as a probe: its command runs inside the traced container
//! as the engine would run it (the container's user, environment and working directory),
//! so the files it uses are traced and kept, and verification runs it again on the new
//! image. Touches the engine (exec) only in [`run`]; making the probe from the image is
//! pure.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ProbeResult;
use crate::engine::Engine;
use crate::inspect::ImageInfo;

/// The engine's defaults for a HEALTHCHECK that does not set them.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// At most this many attempts, however many retries the image allows.
const MAX_ATTEMPTS: u32 = 5;
/// At most this long between attempts, however long the image's interval.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// The image's health command, as the probe plan runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HealthProbe {
    /// What is run: a `CMD` test's arguments as they are; a `CMD-SHELL` test's command
    /// after the image's SHELL (`/bin/sh -c` when it has none).
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// An attempt that runs longer fails (the HEALTHCHECK's timeout, 30 s by default).
    #[serde(with = "super::duration_ms")]
    #[schemars(with = "u64")]
    pub timeout: Duration,
    /// Attempts before the command counts as failing: the HEALTHCHECK's retries (3 by
    /// default), at most 5, so that an application slower to answer its first health
    /// check than its first request is not taken for unhealthy.
    #[schemars(range(min = 1))]
    pub attempts: u32,
    /// The pause between attempts: the HEALTHCHECK's interval, at most 2 s.
    #[serde(with = "super::duration_ms")]
    #[schemars(with = "u64")]
    pub pause: Duration,
}

/// The health probe of `image`: `None` when it has no HEALTHCHECK, or one of type `NONE`
/// (or one the engine would not run either: an unknown type, an empty command).
pub fn probe(image: &ImageInfo) -> Option<HealthProbe> {
    let check = image.healthcheck.as_ref()?;
    let (kind, args) = check.test.split_first()?;
    let command = match kind.as_str() {
        "CMD" => args.to_vec(),
        "CMD-SHELL" => {
            let shell = image
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            // The engine runs CMD-SHELL's one string after the shell, as it is.
            shell.into_iter().chain(args.iter().cloned()).collect()
        }
        _ => return None,
    };
    if command.is_empty() || (kind == "CMD-SHELL" && args.iter().all(|a| a.trim().is_empty())) {
        return None;
    }
    // The engine reads zero (or a negative value) as "the default".
    let duration = |ns: Option<i64>, default: Duration| {
        ns.and_then(|ns| u64::try_from(ns).ok())
            .filter(|&ns| ns > 0)
            .map_or(default, Duration::from_nanos)
    };
    let retries = check
        .retries
        .and_then(|r| u32::try_from(r).ok())
        .filter(|&r| r > 0)
        .unwrap_or(DEFAULT_RETRIES);
    Some(HealthProbe {
        command,
        timeout: duration(check.timeout_ns, DEFAULT_TIMEOUT),
        attempts: retries.min(MAX_ATTEMPTS),
        pause: duration(check.interval_ns, DEFAULT_INTERVAL).min(MAX_PAUSE),
    })
}

/// Runs the health command in `container` as the engine does (as the container's user),
/// again after a pause while it fails and attempts are left. The result is the last
/// attempt's, with the number of attempts made.
pub async fn run<E: Engine>(engine: &E, container: &str, probe: &HealthProbe) -> ProbeResult {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let exec = engine.exec(container, &probe.command, None);
        let (exit_code, output, error) = match tokio::time::timeout(probe.timeout, exec).await {
            Ok(Ok(outcome)) => (Some(outcome.exit_code), outcome.output, None),
            Ok(Err(e)) => (None, String::new(), Some(e.to_string())),
            Err(_) => (
                None,
                String::new(),
                Some(format!("timed out after {:?}", probe.timeout)),
            ),
        };
        let healthy = error.is_none() && exit_code == Some(0);
        if healthy || attempts >= probe.attempts {
            return ProbeResult::Health {
                command: probe.command.clone(),
                exit_code,
                output,
                error,
                attempts,
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
        }
        tokio::time::sleep(probe.pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::Healthcheck;
    use crate::test_kit::FakeEngine;

    fn image(test: &[&str], shell: Option<&[&str]>) -> ImageInfo {
        ImageInfo {
            healthcheck: Some(Healthcheck {
                test: test.iter().map(|s| s.to_string()).collect(),
                ..Healthcheck::default()
            }),
            shell: shell.map(|s| s.iter().map(|a| a.to_string()).collect()),
            ..ImageInfo::default()
        }
    }

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_runs_its_arguments_as_they_are() {
        let probe = probe(&image(&["CMD", "/usr/local/bin/healthy", "--quick"], None)).unwrap();
        assert_eq!(probe.command, words(&["/usr/local/bin/healthy", "--quick"]));
    }

    #[test]
    fn cmd_shell_runs_under_the_image_shell_or_bin_sh() {
        let plain = probe(&image(
            &["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
            None,
        ));
        assert_eq!(
            plain.unwrap().command,
            words(&["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"])
        );
        let bash = probe(&image(
            &["CMD-SHELL", "pg_isready -U app"],
            Some(&["/bin/bash", "-o", "pipefail", "-c"]),
        ));
        assert_eq!(
            bash.unwrap().command,
            words(&["/bin/bash", "-o", "pipefail", "-c", "pg_isready -U app"])
        );
    }

    #[test]
    fn none_no_healthcheck_and_empty_commands_give_no_probe() {
        assert_eq!(probe(&ImageInfo::default()), None);
        assert_eq!(probe(&image(&["NONE"], None)), None);
        assert_eq!(probe(&image(&[], None)), None);
        assert_eq!(probe(&image(&["CMD"], None)), None);
        assert_eq!(probe(&image(&["CMD-SHELL", " "], None)), None);
        assert_eq!(probe(&image(&["HTTP", "/health"], None)), None);
    }

    #[test]
    fn timings_take_the_engine_defaults_and_stay_short() {
        let default = probe(&image(&["CMD", "true"], None)).unwrap();
        assert_eq!(default.timeout, Duration::from_secs(30));
        assert_eq!(default.attempts, 3);
        assert_eq!(default.pause, Duration::from_secs(2));
        let mut set = image(&["CMD", "true"], None);
        set.healthcheck = Some(Healthcheck {
            test: words(&["CMD", "true"]),
            interval_ns: Some(500_000_000),
            timeout_ns: Some(5_000_000_000),
            start_period_ns: Some(0),
            retries: Some(10),
        });
        let set = probe(&set).unwrap();
        assert_eq!(set.timeout, Duration::from_secs(5));
        assert_eq!(set.attempts, 5);
        assert_eq!(set.pause, Duration::from_millis(500));
    }

    fn quick(command: &[&str]) -> HealthProbe {
        HealthProbe {
            command: words(command),
            timeout: Duration::from_secs(5),
            attempts: 3,
            pause: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn a_healthy_command_runs_once_and_a_failing_one_until_attempts_run_out() {
        let engine = FakeEngine::default();
        let healthy = run(&engine, "c1", &quick(&["/usr/local/bin/healthy"])).await;
        assert!(matches!(
            healthy,
            ProbeResult::Health {
                exit_code: Some(0),
                attempts: 1,
                ..
            }
        ));
        assert!(!healthy.unhealthy() && !healthy.failed());
        assert_eq!(
            healthy.line(),
            "healthcheck /usr/local/bin/healthy → exit 0"
        );
        let failing = run(&engine, "c1", &quick(&["false"])).await;
        assert!(matches!(
            failing,
            ProbeResult::Health {
                exit_code: Some(1),
                attempts: 3,
                ..
            }
        ));
        // The image's verdict on itself, not a failed probe: it warns, it does not fail.
        assert!(failing.unhealthy() && !failing.failed());
        assert_eq!(failing.line(), "healthcheck false → exit 1 (3 attempts)");
    }
}
