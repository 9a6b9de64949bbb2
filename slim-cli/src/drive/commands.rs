//! `--host-exec`: the user's own scripts run on the host while the probe watches the
//! container, told where it is through the environment, so existing test suites become
//! probes. Each runs with `sh -c`, in slim's working directory, and is killed if slim stops
//! first.

use std::process::Stdio;
use std::time::Instant;

/// Output kept from a command (its end), as for `--exec`.
const OUTPUT_LIMIT: usize = 64 << 10;

/// How a host command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostOutcome {
    /// `None` when a signal ended it.
    pub exit_code: Option<i64>,
    /// Its stdout, then its stderr: at most the last 64 KiB.
    pub output: String,
    pub millis: u64,
}

/// Runs `script` with `sh -c` and `env` added to slim's environment; waits for it.
pub async fn host_exec(script: &str, env: &[(String, String)]) -> std::io::Result<HostOutcome> {
    let started = Instant::now();
    let output = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await?;
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    let start = text.len().saturating_sub(OUTPUT_LIMIT);
    Ok(HostOutcome {
        exit_code: output.status.code().map(i64::from),
        output: String::from_utf8_lossy(&text[start..]).into_owned(),
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scripts_see_their_environment_and_report_their_exit_code() {
        let env = vec![
            (
                "SLIM_TARGET".to_string(),
                "172.17.0.2:80 172.17.0.2:443".to_string(),
            ),
            ("SLIM_IMAGE".to_string(), "web:1".to_string()),
        ];
        let ok = host_exec("echo \"$SLIM_TARGET|$SLIM_IMAGE\"; echo oops >&2", &env)
            .await
            .unwrap();
        assert_eq!(ok.exit_code, Some(0));
        assert_eq!(ok.output, "172.17.0.2:80 172.17.0.2:443|web:1\noops\n");
        let failed = host_exec("exit 3", &env).await.unwrap();
        assert_eq!(failed.exit_code, Some(3));
        let killed = host_exec("kill -9 $$", &env).await.unwrap();
        assert_eq!(killed.exit_code, None);
    }
}
