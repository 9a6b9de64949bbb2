//! Turns a [`Recipe`] into an image in the local engine: the cached rootfs tarball plus
//! the recipe's files, imported through the engine's import endpoint (`fromSrc=-`) with
//! the config as Dockerfile changes. Never pulls. Talks to the engine through bollard on
//! a private current-thread runtime, so callers stay synchronous.

use std::fs;
use std::future::Future;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow};
use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::{CreateImageOptionsBuilder, ListImagesOptionsBuilder};
use futures_util::TryStreamExt;

use crate::cache::Lock;
use crate::recipe::{Contents, Entry, Recipe};
use crate::rootfs::{self, Workdir};

/// Fixed mtime for added files (2024-01-01), so a rebuild writes the same bytes.
const ENTRY_MTIME: &str = "@1704067200";

/// How a build went, for callers that report it (xtask).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The engine already had the tag.
    Cached,
    /// The image was built and imported now.
    Built,
}

/// Makes sure the engine has `recipe.tag()`, building it if not. Safe to call from many
/// threads and processes at once: builders serialise on the cache's `build` lock and
/// re-check the engine once they hold it.
pub fn ensure(recipe: &Recipe) -> Result<(String, Outcome)> {
    let tag = recipe.tag();
    block_on(async {
        let docker = connect().await?;
        if exists(&docker, &tag).await? {
            return Ok((tag, Outcome::Cached));
        }
        let _lock = Lock::acquire("build")?;
        if exists(&docker, &tag).await? {
            return Ok((tag, Outcome::Cached));
        }
        rootfs::sweep_dead_builds()?;
        build(&docker, recipe)
            .await
            .with_context(|| format!("building fixture image {tag}"))?;
        Ok((tag, Outcome::Built))
    })
}

/// Removes every `slim-fixture/<name>:*` tag except the recipe's current one. Returns the
/// removed tags.
pub fn prune_stale(recipe: &Recipe) -> Result<Vec<String>> {
    prune_repository(&recipe.repository(), &recipe.tag())
}

/// Removes every `<repository>:*` tag except `current`. Returns the removed tags.
pub(crate) fn prune_repository(repository: &str, current: &str) -> Result<Vec<String>> {
    block_on(async {
        let docker = connect().await?;
        let filters = std::collections::HashMap::from([(
            "reference".to_string(),
            vec![format!("{repository}:*")],
        )]);
        let images = docker
            .list_images(Some(
                ListImagesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .context("listing fixture images")?;
        let mut removed = Vec::new();
        for tag in images.into_iter().flat_map(|i| i.repo_tags) {
            if tag != current && tag.starts_with(&format!("{repository}:")) {
                docker
                    .remove_image(
                        &tag,
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await
                    .with_context(|| format!("removing stale fixture image {tag}"))?;
                removed.push(tag);
            }
        }
        Ok(removed)
    })
}

pub(crate) fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?
        .block_on(future)
}

pub(crate) async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_local_defaults()
        .context("connecting to the Docker engine (is dockerd running?)")?;
    docker
        .negotiate_version()
        .await
        .context("talking to the Docker engine (is dockerd running, are we root?)")
}

async fn exists(docker: &Docker, tag: &str) -> Result<bool> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(EngineError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(err) => Err(anyhow!(err).context(format!("inspecting image {tag}"))),
    }
}

async fn build(docker: &Docker, recipe: &Recipe) -> Result<()> {
    let rootfs = rootfs::tarball(recipe)?;
    let work = Workdir::new(&format!("image-{}", recipe.name))?;
    let archive = work.path().join("image.tar");
    fs::copy(&rootfs, &archive)
        .with_context(|| format!("copying {} to {}", rootfs.display(), archive.display()))?;
    append_entries(recipe, work.path(), &archive)?;
    import(docker, recipe, &archive).await
}

/// Writes the recipe's entries under `<work>/extra` and appends them to the archive in
/// recipe order, after removing the rootfs members they replace (the engine's import
/// refuses an archive that holds a path twice).
fn append_entries(recipe: &Recipe, work: &Path, archive: &Path) -> Result<()> {
    if recipe.files.is_empty() {
        return Ok(());
    }
    let extra = work.join("extra");
    let mut members = Vec::new();
    for entry in &recipe.files {
        let relative = entry.path().trim_start_matches('/');
        anyhow::ensure!(
            entry.path().starts_with('/') && !relative.is_empty(),
            "fixture entry path must be absolute and not /: {:?}",
            entry.path()
        );
        let dest = extra.join(relative);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match entry {
            Entry::File { mode, contents, .. } => {
                let bytes = match contents {
                    Contents::Bytes(bytes) => bytes.clone(),
                    Contents::StaticC { source } | Contents::DynamicC { source } => {
                        let name = dest
                            .file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or("program");
                        let flags = match contents {
                            Contents::StaticC { .. } => rootfs::GCC_STATIC_FLAGS,
                            _ => rootfs::GCC_DYNAMIC_FLAGS,
                        };
                        let binary = rootfs::c_binary(name, source, flags)?;
                        let mut bytes = Vec::new();
                        fs::File::open(&binary)
                            .and_then(|mut f| f.read_to_end(&mut bytes))
                            .with_context(|| format!("reading {}", binary.display()))?;
                        bytes
                    }
                };
                rootfs::write_mode(&dest, &bytes, *mode)?;
            }
            Entry::Dir { mode, .. } => {
                fs::create_dir_all(&dest)
                    .with_context(|| format!("creating {}", dest.display()))?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(*mode))
                    .with_context(|| format!("setting the mode of {}", dest.display()))?;
            }
            Entry::Symlink { target, .. } => {
                let _ = fs::remove_file(&dest);
                std::os::unix::fs::symlink(target, &dest)
                    .with_context(|| format!("creating symlink {}", dest.display()))?;
            }
        }
        members.push(format!("./{relative}"));
    }
    drop_replaced_members(archive, &members)?;
    rootfs::run(
        Command::new("tar")
            .args([
                "--numeric-owner",
                "--owner=0",
                "--group=0",
                &format!("--mtime={ENTRY_MTIME}"),
                "--no-recursion",
                "-rf",
            ])
            .arg(archive)
            .arg("-C")
            .arg(&extra)
            .args(&members),
        "appending the fixture's files to the image archive",
    )
}

/// Deletes from the archive the members the recipe's entries replace (a config file of a
/// package, say): the engine's import refuses an archive that holds a path twice.
fn drop_replaced_members(archive: &Path, members: &[String]) -> Result<()> {
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(archive)
        .output()
        .with_context(|| format!("listing {}", archive.display()))?;
    anyhow::ensure!(
        listing.status.success(),
        "tar -tf {} failed: {}",
        archive.display(),
        String::from_utf8_lossy(&listing.stderr)
    );
    let wanted: std::collections::HashSet<&str> = members.iter().map(String::as_str).collect();
    let replaced: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|name| wanted.contains(name.trim_end_matches('/')))
        .map(str::to_string)
        .collect();
    if replaced.is_empty() {
        return Ok(());
    }
    rootfs::run(
        Command::new("tar")
            .arg("--delete")
            .arg("-f")
            .arg(archive)
            .args(&replaced),
        "removing the members the fixture's files replace",
    )
}

async fn import(docker: &Docker, recipe: &Recipe, archive: &Path) -> Result<()> {
    let file = fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), file)))
    });
    let hash = recipe.hash();
    let repository = recipe.repository();
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(&repository)
        .tag(&hash)
        .message(&format!("slim fixture {} (recipe {hash})", recipe.name))
        .changes(recipe.config.changes())
        .build();
    let progress: Vec<_> = docker
        .create_image(Some(options), Some(bollard::body_try_stream(chunks)), None)
        .try_collect()
        .await
        .with_context(|| format!("importing {} into the engine", archive.display()))?;
    if let Some(error) = progress.iter().find_map(|p| p.error_detail.as_ref()) {
        return Err(anyhow!(
            "the engine refused the import: {}",
            error.message.as_deref().unwrap_or("no message")
        ));
    }
    let tag = recipe.tag();
    anyhow::ensure!(
        exists(docker, &tag).await?,
        "the engine accepted the import but has no image {tag}"
    );
    Ok(())
}
