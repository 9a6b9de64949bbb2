//! The new image's config and the archive that carries it and its layer to the engine.
//!
//! The config is the original image's config JSON with only the layer list, the history
//! and slim's labels changed, so every field the engine knows (Entrypoint, Cmd, Env, User,
//! WorkingDir, ExposedPorts, Volumes, Labels, StopSignal, Healthcheck, Shell, OnBuild …)
//! and any it does not survive as they were. The archive is an OCI image layout that also
//! carries the `manifest.json` older engines' `docker load` reads.

use std::io::{self, Read, Write};

use serde_json::{Value, json};

use crate::image::reference::digest;
use crate::rebuild::layer::LayerSummary;

pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// Labels slim adds to the new image.
pub const LABEL_SOURCE_IMAGE: &str = "slim.source.image";
pub const LABEL_SOURCE_ID: &str = "slim.source.id";
pub const LABEL_VERSION: &str = "slim.version";
/// Set to `false` on an image whose verification failed.
pub const LABEL_VERIFIED: &str = "slim.verified";

/// The original image's config cannot be made into the new image's.
#[derive(Debug, thiserror::Error)]
pub enum ImageConfigError {
    #[error("the original image config is not a JSON object")]
    NotAnObject,
}

/// The new image's config: the original's, on one layer, with slim's labels.
pub fn new_config(
    original: &Value,
    layer: &LayerSummary,
    labels: &[(String, String)],
) -> Result<Value, ImageConfigError> {
    let original = original.as_object().ok_or(ImageConfigError::NotAnObject)?;
    let mut config = serde_json::Map::new();
    // The build container's own settings and ids describe the old image's build, not this one.
    for (key, value) in original {
        if !matches!(
            key.as_str(),
            "container" | "container_config" | "history" | "rootfs" | "id" | "parent"
        ) {
            config.insert(key.clone(), value.clone());
        }
    }
    let created = original.get("created").cloned().unwrap_or(Value::Null);
    config.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": [layer.diff_id] }),
    );
    let mut history = json!({ "created_by": "slim build", "comment": "minified by slim" });
    if !created.is_null() {
        history["created"] = created;
    }
    config.insert("history".into(), json!([history]));

    let runtime = config
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or(ImageConfigError::NotAnObject)?;
    let label_map = runtime.entry("Labels").or_insert_with(|| json!({}));
    if label_map.is_null() {
        *label_map = json!({});
    }
    if let Some(map) = label_map.as_object_mut() {
        for (key, value) in labels {
            map.insert(key.clone(), Value::String(value.clone()));
        }
    }
    Ok(Value::Object(config))
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Digests of what an archive holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The image id: the config's digest.
    pub image_id: String,
    pub manifest_digest: String,
}

/// Writes an archive `docker load` accepts: the OCI layout (oci-layout, index.json,
/// blobs/sha256/…) plus `manifest.json`. `layer` is the layer tar's content (uncompressed,
/// `summary.size` bytes); `tag`, if given, is the reference the engine tags the image with.
pub fn write_archive<W: Write, R: Read>(
    out: W,
    config: &Value,
    layer: R,
    summary: &LayerSummary,
    tag: Option<&str>,
) -> io::Result<(ArchiveSummary, W)> {
    let config_bytes = serde_json::to_vec(config).map_err(io::Error::other)?;
    let config_digest = digest(&config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": summary.diff_id,
            "size": summary.size,
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let manifest_digest = digest(&manifest_bytes);
    let mut descriptor = json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": manifest_digest,
        "size": manifest_bytes.len(),
    });
    if let Some(tag) = tag {
        descriptor["annotations"] = json!({
            "io.containerd.image.name": tag,
            "org.opencontainers.image.ref.name": tag.rsplit_once(':').map_or("latest", |(_, t)| t),
        });
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor],
    });
    let config_path = format!("blobs/sha256/{}", hex(&config_digest));
    let layer_path = format!("blobs/sha256/{}", hex(&summary.diff_id));
    let legacy = json!([{
        "Config": config_path,
        "RepoTags": tag.map(|t| vec![t]).unwrap_or_default(),
        "Layers": [layer_path],
    }]);

    let mut builder = tar::Builder::new(out);
    let dir = |builder: &mut tar::Builder<W>, name: &str| -> io::Result<()> {
        let mut header = archive_header(0);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        builder.append_data(&mut header, name, io::empty())
    };
    let file = |builder: &mut tar::Builder<W>, name: &str, bytes: &[u8]| -> io::Result<()> {
        let mut header = archive_header(bytes.len() as u64);
        builder.append_data(&mut header, name, bytes)
    };
    dir(&mut builder, "blobs/")?;
    dir(&mut builder, "blobs/sha256/")?;
    file(&mut builder, &config_path, &config_bytes)?;
    let mut layer_header = archive_header(summary.size);
    builder.append_data(&mut layer_header, &layer_path, layer.take(summary.size))?;
    file(
        &mut builder,
        &format!("blobs/sha256/{}", hex(&manifest_digest)),
        &manifest_bytes,
    )?;
    file(
        &mut builder,
        "index.json",
        &serde_json::to_vec(&index).map_err(io::Error::other)?,
    )?;
    file(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&legacy).map_err(io::Error::other)?,
    )?;
    file(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let out = builder.into_inner()?;
    Ok((
        ArchiveSummary {
            image_id: config_digest,
            manifest_digest,
        },
        out,
    ))
}

fn archive_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}
