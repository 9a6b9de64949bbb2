//! The image reader on hostile input: an archive as the engine's `save` writes it (legacy
//! or OCI layout, plain or gzip layers) is unpacked into a scratch directory and its layers
//! are indexed, then every indexed file is read back through the index.
//!
//! Input: either a whole archive, or (when it starts with `LAYERS\n`) layer tars separated
//! by `\n--next-layer--\n`, which the harness wraps in an archive with a manifest so the
//! fuzzer spends its time on the layer reader and the whiteout rules.
//!
//! Nothing may panic, and nothing may be written outside the scratch directory.

#![no_main]

use std::io::Read;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use slim_cli::image::index::{FsIndex, NodeKind};
use slim_cli::image::save;

const LAYERS: &[u8] = b"LAYERS\n";
const NEXT_LAYER: &[u8] = b"\n--next-layer--\n";

fuzz_target!(|data: &[u8]| {
    let scratch = Scratch::new();
    let archive = match data.strip_prefix(LAYERS) {
        Some(layers) => wrap_layers(layers),
        None => data.to_vec(),
    };
    let work = scratch.0.join("work");
    std::fs::create_dir(&work).unwrap();
    let Ok(saved) = save::unpack(archive.as_slice(), &work) else {
        return;
    };
    for layer in &saved.layers {
        assert!(
            layer.starts_with(&work),
            "layer {} outside the work directory",
            layer.display()
        );
    }
    let Ok(index) = FsIndex::from_layers(&saved.layers) else {
        return;
    };
    let mut dirs = 0;
    for (path, node) in index.iter() {
        assert!(path.starts_with(b"/"), "relative path in the index");
        assert!(
            path.as_slice() == b"/" || !path.ends_with(b"/"),
            "trailing slash in the index"
        );
        assert!(
            !path.split(|&b| b == b'/').any(|c| c == b".." || c == b"."),
            "dot component in the index"
        );
        match &node.kind {
            NodeKind::File { size, .. } => {
                let content = index.read_to_vec(node, 1 << 20);
                if let Ok(content) = content {
                    assert!(content.len() as u64 <= *size);
                }
            }
            NodeKind::HardLink { .. } => {
                let _ = index.content_node(node);
                let _ = index.open(node).map(|mut r| r.read(&mut [0u8; 64]));
            }
            NodeKind::Dir if dirs < 64 => {
                dirs += 1;
                for (child, _) in index.children(path) {
                    assert!(child.starts_with(path));
                }
            }
            _ => {}
        }
    }
    // Only the scratch directory was written to.
    assert!(scratch.0.join("work").is_dir());
});

/// A manifest and config around the given layer tars, legacy layout.
fn wrap_layers(data: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    for (i, layer) in split(data, NEXT_LAYER).into_iter().enumerate() {
        let name = format!("{i}/layer.tar");
        append(&mut builder, &name, layer);
        names.push(format!("\"{name}\""));
    }
    append(&mut builder, "config.json", br#"{"config":{}}"#);
    let manifest = format!(
        r#"[{{"Config":"config.json","RepoTags":["fuzz:1"],"Layers":[{}]}}]"#,
        names.join(",")
    );
    append(&mut builder, "manifest.json", manifest.as_bytes());
    builder.into_inner().unwrap()
}

fn split<'a>(mut data: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = data.windows(separator.len()).position(|w| w == separator) {
        parts.push(&data[..at]);
        data = &data[at + separator.len()..];
    }
    parts.push(data);
    parts
}

fn append(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, data).unwrap();
}

/// A fresh directory removed when the input is done, in memory when /dev/shm exists.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "slim-fuzz-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
