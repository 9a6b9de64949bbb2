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
    // Sourced, it completes as a user typing would see: subcommands, then options.
    assert_eq!(complete_in_bash(&script, &["slim", "bu"]), ["build"]);
    let all = complete_in_bash(&script, &["slim", ""]);
    for sub in ["build", "trace", "completions"] {
        assert!(
            all.iter().any(|w| w == sub),
            "{sub} is not offered: {all:?}"
        );
    }
    assert_eq!(
        complete_in_bash(&script, &["slim", "build", "--keep-f"]),
        ["--keep-file"]
    );
    assert_eq!(
        complete_in_bash(&script, &["slim", "completions", "fi"]),
        ["fish"]
    );
}

/// The words bash offers for the last of `words`, with the script sourced.
fn complete_in_bash(script: &str, words: &[&str]) -> Vec<String> {
    use std::io::Write as _;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source /dev/stdin\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n_slim slim '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = words.len() - 1,
        line = words.join(" "),
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting bash");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .expect("writing the script to bash");
    let out = child.wait_with_output().expect("running bash");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
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
