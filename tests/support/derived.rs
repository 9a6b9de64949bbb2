//! Fixture images built with `docker build` on top of another fixture image, for what the
//! import path cannot express: file capabilities set by `RUN setcap`, hard links made by
//! `RUN ln`, users made by `useradd`, and the config fields the import endpoint does not
//! take (VOLUME, LABEL, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD). `FROM` names a local
//! fixture image, so the build never pulls. Cached in the engine by hash, like recipes.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cache::Lock;
use crate::recipe::Canonical;
use crate::rootfs::{self, Workdir};

/// Bumped when the way derived fixtures are built changes.
pub const DERIVED_BUILDER_VERSION: &str = "slim-fixtures-derived/1";

/// A fixture built from another fixture with Dockerfile instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    /// Short name; the image is tagged `slim-fixture/<name>:<hash>`.
    pub name: String,
    /// The fixture it is built `FROM`.
    pub from: String,
    /// The Dockerfile's instructions after `FROM` (the build context is empty).
    pub dockerfile: String,
}

impl Derived {
    /// The image tag on top of `base_tag` (the tag of [`Derived::from`]):
    /// `slim-fixture/<name>:<16 hex digits>`, covering the base tag and the instructions.
    pub fn tag_on(&self, base_tag: &str) -> String {
        let mut h = Canonical::new();
        h.str(DERIVED_BUILDER_VERSION);
        h.str(&self.name);
        h.str(base_tag);
        h.str(&self.dockerfile);
        format!("{}:{}", self.repository(), h.hex())
    }

    /// The image repository, `slim-fixture/<name>`.
    pub fn repository(&self) -> String {
        format!("slim-fixture/{}", self.name)
    }

    /// The whole Dockerfile on top of `base_tag`.
    pub fn dockerfile_on(&self, base_tag: &str) -> String {
        format!("FROM {base_tag}\n{}\n", self.dockerfile.trim_end())
    }
}

/// Makes sure the engine has `derived.tag_on(base_tag)`, building it if not; the base
/// image must already be in the engine. Builders serialise on the cache's `build` lock.
pub fn ensure(derived: &Derived, base_tag: &str) -> Result<(String, crate::Outcome)> {
    let tag = derived.tag_on(base_tag);
    if exists(&tag)? {
        return Ok((tag, crate::Outcome::Cached));
    }
    let _lock = Lock::acquire("build")?;
    if exists(&tag)? {
        return Ok((tag, crate::Outcome::Cached));
    }
    rootfs::sweep_dead_builds()?;
    let work = Workdir::new(&format!("image-{}", derived.name))?;
    let dockerfile = work.path().join("Dockerfile");
    std::fs::write(&dockerfile, derived.dockerfile_on(base_tag))
        .with_context(|| format!("writing {}", dockerfile.display()))?;
    let context = work.path().join("context");
    std::fs::create_dir_all(&context).with_context(|| format!("creating {}", context.display()))?;
    rootfs::run(
        Command::new("docker")
            // The classic builder: it takes a local image in FROM as it is and never pulls.
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "--quiet", "--force-rm", "--tag", &tag, "--file"])
            .arg(&dockerfile)
            .arg(&context),
        &format!("docker build of fixture {tag}"),
    )?;
    anyhow::ensure!(
        exists(&tag)?,
        "docker build succeeded but the engine has no image {tag}"
    );
    Ok((tag, crate::Outcome::Built))
}

fn exists(tag: &str) -> Result<bool> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .output()
        .context("running docker image inspect")?;
    if out.status.success() {
        return Ok(true);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        stderr.contains("No such image") || stderr.contains("no such image"),
        "docker image inspect {tag} failed: {stderr}"
    );
    Ok(false)
}
