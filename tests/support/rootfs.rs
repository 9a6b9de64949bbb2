//! Root filesystems as cached tarballs: a debootstrap base, and that base plus Debian
//! packages installed by `apt-get` in a chroot. Also compiles the static C test programs.
//! Runs host tools (debootstrap, tar, chroot, mount, gcc) and needs root.
//!
//! Any number of threads and processes may ask for the same fixture at once: each build
//! runs in a scratch directory of its own ([`Workdir`]) and publishes its result with one
//! `rename` into the cache, so a reader sees a whole file or none, and a builder that
//! loses the race has only replaced the winner's file with identical content.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};

use crate::cache;
use crate::recipe::{Canonical, Recipe};

/// The flags every static test program is compiled with.
pub const GCC_STATIC_FLAGS: &str = "-static -O2";

/// How the fixtures' dynamically linked C programs are compiled (against the host's
/// glibc, which is the fixtures' own: both are Debian bookworm).
pub const GCC_DYNAMIC_FLAGS: &str = "-O2";

/// The rootfs tarball for `recipe` (base plus its packages), built if not cached.
pub fn tarball(recipe: &Recipe) -> Result<PathBuf> {
    let dir = cache::dir()?.join("rootfs");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.tar", recipe.rootfs_key()));
    if path.is_file() {
        return Ok(path);
    }
    let work = Workdir::new(&format!("rootfs-{}", recipe.rootfs_key()))?;
    let root = work.path().join("root");
    let partial = work.path().join("rootfs.tar");
    if recipe.packages.is_empty() {
        debootstrap(recipe, &root)?;
    } else {
        let base = tarball(&Recipe {
            packages: Vec::new(),
            ..recipe.clone()
        })?;
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        run(
            Command::new("tar")
                .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf"])
                .arg(&base)
                .arg("-C")
                .arg(&root),
            "unpacking the base rootfs",
        )?;
        install_packages(&root, &recipe.packages)?;
    }
    scrub(&root)?;
    run(
        Command::new("tar")
            .args([
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=security.capability",
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
                "-C",
            ])
            .arg(&root)
            .arg("-cf")
            .arg(&partial)
            .arg("."),
        "packing the rootfs",
    )?;
    publish(&partial, &path)?;
    Ok(path)
}

/// Moves a finished build product into the cache in one step (same file system: the
/// scratch directories live in the cache's `tmp/`).
fn publish(partial: &Path, path: &Path) -> Result<()> {
    fs::rename(partial, path)
        .with_context(|| format!("storing {} as {}", partial.display(), path.display()))
}

fn debootstrap(recipe: &Recipe, root: &Path) -> Result<()> {
    let base = &recipe.base;
    let result = run(
        Command::new("debootstrap")
            .arg(format!("--variant={}", base.variant))
            .arg(&base.suite)
            .arg(root)
            .arg(&base.mirror),
        &format!(
            "debootstrap --variant={} {} {}",
            base.variant, base.suite, base.mirror
        ),
    );
    if let Err(err) = result {
        // debootstrap keeps its real log inside the target.
        let detail =
            fs::read_to_string(root.join("debootstrap/debootstrap.log")).unwrap_or_default();
        return Err(err.context(tail(&detail, 30)));
    }
    Ok(())
}

fn install_packages(root: &Path, packages: &[String]) -> Result<()> {
    fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf into the chroot")?;
    // Keep maintainer scripts from starting services (nginx) inside the chroot.
    let policy = root.join("usr/sbin/policy-rc.d");
    write_mode(&policy, b"#!/bin/sh\nexit 101\n", 0o755)?;
    // The rootfs tarball has an empty /dev; apt and maintainer scripts need /dev/null.
    let proc = root.join("proc");
    let dev = root.join("dev");
    run(
        Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&proc),
        "mounting /proc in the chroot",
    )?;
    if let Err(err) = run(
        Command::new("mount").arg("--bind").arg("/dev").arg(&dev),
        "bind-mounting /dev in the chroot",
    ) {
        let _ = run(Command::new("umount").arg(&proc), "unmounting /proc");
        return Err(err);
    }
    let installed = (|| {
        let apt = |args: &[&str]| {
            let mut cmd = Command::new("chroot");
            cmd.arg(root)
                .arg("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("LC_ALL", "C");
            cmd
        };
        run(&mut apt(&["update"]), "apt-get update in the chroot")?;
        let mut install = apt(&["install", "-y", "--no-install-recommends"]);
        install.args(packages);
        run(
            &mut install,
            &format!("apt-get install {}", packages.join(" ")),
        )?;
        run(&mut apt(&["clean"]), "apt-get clean in the chroot")
    })();
    let unmounted = run(
        Command::new("umount").arg(&dev).arg(&proc),
        "unmounting /dev and /proc in the chroot",
    );
    installed?;
    unmounted?;
    fs::remove_file(&policy).with_context(|| format!("removing {}", policy.display()))?;
    Ok(())
}

/// Drops what only the build needed: downloaded packages, apt lists, the host's resolver.
fn scrub(root: &Path) -> Result<()> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let dir = root.join(dir);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_file() && path.file_name() != Some(OsStr::new("lock")) {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    let resolv = root.join("etc/resolv.conf");
    if resolv.exists() {
        fs::write(&resolv, b"").with_context(|| format!("emptying {}", resolv.display()))?;
    }
    Ok(())
}

/// Compiles a static C program with `gcc -static -O2`, cached by source hash.
pub fn static_c_binary(name: &str, source: &str) -> Result<PathBuf> {
    c_binary(name, source, GCC_STATIC_FLAGS)
}

/// Compiles a C program with `gcc FLAGS`, cached by flags and source hash.
pub fn c_binary(name: &str, source: &str, flags: &str) -> Result<PathBuf> {
    let mut h = Canonical::new();
    h.str(flags);
    h.str(source);
    let dir = cache::dir()?.join("bin");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("{name}-{}", h.hex()));
    if out.is_file() {
        return Ok(out);
    }
    let work = Workdir::new(&format!("gcc-{name}"))?;
    let src = work.path().join(format!("{name}.c"));
    fs::write(&src, source).with_context(|| format!("writing {}", src.display()))?;
    let partial = work.path().join(name);
    run(
        Command::new("gcc")
            .args(flags.split(' '))
            .arg("-o")
            .arg(&partial)
            .arg(&src),
        &format!("gcc {flags} {name}.c (needs gcc and libc6-dev)"),
    )?;
    publish(&partial, &out)?;
    Ok(out)
}

/// Writes `bytes` to `path` and sets its permission bits exactly (no umask).
pub(crate) fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Runs a host command to completion; on failure the error carries its output's tail.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let output = cmd
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        bail!("{what} failed ({}):\n{}", output.status, tail(&text, 30));
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Removes the scratch directories whose builder process is gone (a killed test run).
/// Safe to call at any time: a directory of a live process is never touched.
pub fn sweep_dead_builds() -> Result<()> {
    let tmp = cache::dir()?.join("tmp");
    for entry in fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if let Some(owner) = Workdir::owner_of(&name.to_string_lossy())
            && !Path::new(&format!("/proc/{owner}")).exists()
        {
            Workdir(entry.path()).clean();
        }
    }
    Ok(())
}

/// A scratch directory under `<cache>/tmp`, unique to one call (`work.<pid>.<n>.<label>`),
/// removed on drop after unmounting anything a failed chroot step left mounted inside it.
pub(crate) struct Workdir(PathBuf);

impl Workdir {
    const PREFIX: &str = "work.";

    pub(crate) fn new(label: &str) -> Result<Workdir> {
        static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{}{}.{}.{label}",
            Self::PREFIX,
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let path = cache::dir()?.join("tmp").join(name);
        fs::create_dir_all(path.parent().unwrap_or(&path))
            .with_context(|| format!("creating {}", path.display()))?;
        // `create_dir` (not `_all`): a directory that exists already is someone else's.
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Workdir(path))
    }

    /// The process id that owns the scratch directory called `name`, if it is one.
    fn owner_of(name: &str) -> Option<u32> {
        name.strip_prefix(Self::PREFIX)?
            .split('.')
            .next()?
            .parse()
            .ok()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    fn clean(&self) {
        if let Ok(mounts) = fs::read_to_string("/proc/self/mounts") {
            let prefix = format!("{}/", self.0.display());
            let mut inside: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(1))
                .filter(|m| m.starts_with(&prefix))
                .collect();
            inside.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for mount in inside {
                let _ = Command::new("umount").args(["-l", mount]).status();
            }
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        self.clean();
    }
}
