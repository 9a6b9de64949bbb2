//! The fixture images themselves, checked without slim: if one of these fails, the
//! `slim trace` tests that use the image cannot be trusted either way.
//!
//! Needs the Docker engine (and root, debootstrap and gcc the first time, to build the
//! images): every test is named `root_engine_…`.

use std::process::Command;

use slim_fixtures::image;

fn run_in(image: &str, script: &str) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", image, "sh", "-c", script])
        .output()
        .expect("running docker run");
    assert!(
        out.status.success(),
        "docker run {image} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn root_engine_probe_image_has_merged_usr_and_the_test_files() {
    let out = run_in(
        &image("probe"),
        "readlink /bin; readlink /etc/link-to-passwd; cat /etc/first-file; ls /data/dir; \
         test -x /usr/local/bin/probe-fixture && echo executable",
    );
    assert_eq!(
        out, "usr/bin\npasswd\nopened first\na\nb\nc\nexecutable\n",
        "unexpected probe image contents"
    );
}

#[test]
fn root_engine_probe_fixture_subcommands_do_what_they_say() {
    let out = run_in(
        &image("probe"),
        "probe-fixture first-open /etc/first-file; probe-fixture dirfd /data/dir a; \
         probe-fixture fstat-empty /data/dir/b; probe-fixture stat /etc/first-file; \
         probe-fixture lstat /etc/link-to-passwd; probe-fixture readlink /etc/link-to-passwd; \
         probe-fixture access /data/dir/c; probe-fixture open /nonexistent; \
         probe-fixture list /data/dir; probe-fixture burst 10 /etc/first-file; \
         probe-fixture sleep 0; probe-fixture bogus 2>/dev/null; echo status $?",
    );
    assert_eq!(
        out,
        "first-open ok\ndirfd ok\nfstat-empty ok\nstat ok\nlstat ok\nreadlink ok\n\
         access ok\nopen ENOENT\nlist ok\n10\nstatus 2\n"
    );
}

#[test]
fn root_engine_debian_image_runs_its_default_command() {
    let out = Command::new("docker")
        .args(["run", "--rm", &image("debian")])
        .output()
        .expect("running docker run");
    assert!(
        out.status.success(),
        "the debian fixture's CMD (/bin/sh) failed"
    );
}
