//! A directory of a test's own for the files it writes (layers, archives, outputs).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// An empty directory under the system's temporary directory
/// (`slim-<label>-<pid>-<n>`), removed with its content when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!(
            "slim-{label}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `bytes` to `name` inside it (its directories made first); returns the path.
    pub fn write(&self, name: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_written_inside_go_with_the_directory() {
        let scratch = ScratchDir::new("kit-scratch");
        let other = ScratchDir::new("kit-scratch");
        assert_ne!(scratch.path(), other.path());
        let file = scratch.write("a/b/layer.tar", b"x");
        assert_eq!(file, scratch.join("a/b/layer.tar"));
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        let path = scratch.path().to_path_buf();
        drop(scratch);
        assert!(!path.exists());
        assert!(other.path().is_dir());
    }
}
