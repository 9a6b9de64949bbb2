//! The on-disk fixture cache (`$SLIM_FIXTURE_CACHE`, default `/var/cache/slim-fixtures`)
//! and the advisory file locks that let several test threads and processes ask for the
//! same fixture, or trace at the same time, without stepping on each other.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Environment variable that moves the cache.
pub const CACHE_ENV: &str = "SLIM_FIXTURE_CACHE";

/// The cache directory, created if missing.
pub fn dir() -> Result<PathBuf> {
    let dir = std::env::var_os(CACHE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/slim-fixtures"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the fixture cache {}", dir.display()))?;
    Ok(dir)
}

/// An exclusive `flock` on a file in the cache; released when dropped (or when the
/// process dies, so a crashed build never wedges the next one). Threads of one process
/// exclude each other too, since each lock opens its own file description.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Blocks until `<cache>/<name>.lock` is ours.
    pub fn acquire(name: &str) -> Result<Lock> {
        let path = dir()?.join(format!("{name}.lock"));
        Self::acquire_at(&path)
    }

    fn acquire_at(path: &Path) -> Result<Lock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn lock_excludes_other_threads_of_the_same_process() {
        let dir = std::env::temp_dir().join(format!("slim-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.lock");
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (path, inside) = (path.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _lock = Lock::acquire_at(&path).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
