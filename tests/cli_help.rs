//! The parts of the command line a user reads before running anything: `--help` with
//! examples, and shell completion scripts that the shells accept. Needs neither root nor
//! an engine.

use std::process::Command;

use slim_fixtures::slim_bin;

fn slim(args: &[&str]) -> String {
    let out = Command::new(slim_bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running slim {args:?}: {e}"));
    assert!(
        out.status.success(),
        "slim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn bash_completion_script_is_valid_bash_and_names_the_subcommands() {
    let script = slim(&["completions", "bash"]);
    let path = std::env::temp_dir().join(format!("slim-completion-{}.bash", std::process::id()));
    std::fs::write(&path, &script).expect("writing the script");
    let check = Command::new("bash").arg("-n").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let check = check.expect("running bash -n");
    assert!(
        check.status.success(),
        "bash -n rejects the script: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    for word in [
        "build",
        "trace",
        "completions",
        "--keep-file",
        "--config",
        "--no-crawl",
    ] {
        assert!(script.contains(word), "the script does not complete {word}");
    }
    // Sourcing it registers the completion function for `slim`.
    let registered = Command::new("bash")
        .arg("-c")
        .arg("source /dev/stdin && complete -p slim")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sourcing the script in bash");
    assert!(
        String::from_utf8_lossy(&registered.stdout).contains("slim"),
        "bash has no completion for slim after sourcing the script"
    );
}

#[test]
fn zsh_and_fish_completion_scripts_name_the_subcommands() {
    let zsh = slim(&["completions", "zsh"]);
    assert!(
        zsh.starts_with("#compdef slim"),
        "{}",
        &zsh[..zsh.len().min(200)]
    );
    let fish = slim(&["completions", "fish"]);
    for script in [&zsh, &fish] {
        for word in ["build", "trace", "completions", "keep-file"] {
            assert!(script.contains(word), "{word} missing");
        }
    }
    assert!(fish.contains("complete -c slim"), "not a fish script");
}

#[test]
fn help_shows_examples_for_the_tool_build_and_trace() {
    let top = slim(&["--help"]);
    assert!(top.contains("Examples:\n  slim build "), "{top}");
    assert!(top.contains("slim completions bash"), "{top}");
    for args in [
        &["build", "--help"][..],
        &["build", "-h"],
        &["help", "build"],
    ] {
        let help = slim(args);
        assert!(
            help.contains("Examples:\n  slim build nginx:1.25"),
            "{args:?}: {help}"
        );
    }
    let long = slim(&["build", "--help"]);
    assert!(long.contains("Configuration:"), "{long}");
    assert!(long.contains("slim.toml"), "{long}");
    assert!(long.contains("command line > environment > slim.toml > defaults"));
    let trace = slim(&["trace", "--help"]);
    assert!(trace.contains("Examples:\n  slim trace "), "{trace}");
}
