//! The cgroup one traced run lives in: created before the container, handed to the engine
//! as the container's cgroup parent and to the probe as the subtree to trace, and removed
//! from every cgroup hierarchy afterwards.
//!
//! Touches only `/sys/fs/cgroup` (and reads `/proc/self/mountinfo`). The probe selects tasks
//! by cgroup v2 ancestry, so a cgroup v2 hierarchy must be mounted: the whole of
//! `/sys/fs/cgroup` on a pure v2 host, or `/sys/fs/cgroup/unified` beside the v1 controllers
//! on a hybrid one. The runtime also creates the parent in each v1 hierarchy, so removal
//! walks all of them.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the engine manages the cgroups of its containers (`docker info`'s CgroupDriver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupDriver {
    /// The runtime writes cgroupfs itself: the parent is a path (`/slim-<run id>`).
    Cgroupfs,
    /// systemd owns the tree: the parent is a slice (`slim-<run id>.slice`).
    Systemd,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo for a cgroup2 \
         mount at /sys/fs/cgroup or /sys/fs/cgroup/unified)\nhint: slim selects the traced \
         container by cgroup v2 ancestry; boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) \
         or mount it with `mount -t cgroup2 none /sys/fs/cgroup/unified`"
    )]
    NoCgroupV2,
    #[error("cannot read the mount table {path}: {source}")]
    Mounts { path: PathBuf, source: io::Error },
    #[error(
        "cannot create the run's cgroup {path}: {source}\nhint: slim trace must run as root \
         (it creates a cgroup and loads an eBPF probe)"
    )]
    Permission { path: PathBuf, source: io::Error },
    #[error("cannot create the run's cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "cannot remove the run's cgroup {path}: {source}\nhint: check that no process is left \
         in it (`cat {path}/cgroup.procs`), then remove it with `rmdir {path}`"
    )]
    Remove { path: PathBuf, source: io::Error },
}

impl CgroupError {
    /// Whether the error comes from the host's set-up rather than from slim.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            CgroupError::NoCgroupV2 | CgroupError::Permission { .. }
        )
    }
}

/// The cgroup hierarchies mounted on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchies {
    /// The cgroup v2 mount.
    pub v2: PathBuf,
    /// Every cgroup mount, v1 and v2, each once.
    pub all: Vec<PathBuf>,
}

impl Hierarchies {
    const MOUNTINFO: &'static str = "/proc/self/mountinfo";

    /// Reads the hierarchies from this process's mount table.
    pub fn detect() -> Result<Hierarchies, CgroupError> {
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it maps to names the file"
        )]
        let text =
            std::fs::read_to_string(Self::MOUNTINFO).map_err(|source| CgroupError::Mounts {
                path: Self::MOUNTINFO.into(),
                source,
            })?;
        Hierarchies::from_mountinfo(&text)
    }

    /// Finds the cgroup mounts in the text of a `/proc/<pid>/mountinfo`.
    pub fn from_mountinfo(text: &str) -> Result<Hierarchies, CgroupError> {
        let mut v2 = None;
        let mut all: Vec<PathBuf> = Vec::new();
        for line in text.lines() {
            // id parent major:minor root mount-point options [optional...] - fstype source ...
            let Some((before, after)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = before.split(' ').collect();
            let fstype = after.split(' ').next().unwrap_or("");
            let (Some(root), Some(mount_point)) = (fields.get(3), fields.get(4)) else {
                continue;
            };
            if !matches!(fstype, "cgroup" | "cgroup2") || *root != "/" {
                continue;
            }
            let mount_point = PathBuf::from(unescape_mount_path(mount_point));
            if fstype == "cgroup2"
                && v2.is_none()
                && (mount_point == Path::new("/sys/fs/cgroup")
                    || mount_point == Path::new("/sys/fs/cgroup/unified"))
            {
                v2 = Some(mount_point.clone());
            }
            if !all.contains(&mount_point) {
                all.push(mount_point);
            }
        }
        Ok(Hierarchies {
            v2: v2.ok_or(CgroupError::NoCgroupV2)?,
            all,
        })
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape_mount_path(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes
                .get(i + 1..i + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where one run's cgroup lives, for a driver: its path below every hierarchy's root, and
/// the value the engine takes as the container's cgroup parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPlacement {
    /// Path below each hierarchy's root (`slim-<id>` or `slim.slice/slim-<id>.slice`).
    pub relative: PathBuf,
    /// The engine's `HostConfig.CgroupParent`.
    pub parent: String,
}

impl CgroupPlacement {
    /// The placement of run `run_id` (letters and digits only: systemd reads a dash in a
    /// slice name as nesting).
    pub fn new(run_id: &str, driver: CgroupDriver) -> CgroupPlacement {
        match driver {
            CgroupDriver::Cgroupfs => CgroupPlacement {
                relative: PathBuf::from(format!("slim-{run_id}")),
                parent: format!("/slim-{run_id}"),
            },
            CgroupDriver::Systemd => CgroupPlacement {
                relative: PathBuf::from(format!("slim.slice/slim-{run_id}.slice")),
                parent: format!("slim-{run_id}.slice"),
            },
        }
    }

    /// The cgroup's depth below the v2 root.
    pub fn level(&self) -> u32 {
        u32::try_from(self.relative.components().count()).unwrap_or(u32::MAX)
    }
}

/// The cgroup of one run, created. Remove it with [`RunCgroup::remove`] once the container
/// is gone.
#[derive(Debug)]
pub struct RunCgroup {
    driver: CgroupDriver,
    placement: CgroupPlacement,
    hierarchies: Hierarchies,
    v2_dir: PathBuf,
    id: u64,
    /// The systemd driver's `slim.slice` directory, when this run created it.
    created_slice: Option<PathBuf>,
}

impl RunCgroup {
    /// Creates the cgroup of run `run_id` in the v2 hierarchy.
    pub fn create(run_id: &str, driver: CgroupDriver) -> Result<RunCgroup, CgroupError> {
        let hierarchies = Hierarchies::detect()?;
        let placement = CgroupPlacement::new(run_id, driver);
        let v2_dir = hierarchies.v2.join(&placement.relative);
        let mut created_slice = None;
        if let Some(parent) = v2_dir.parent()
            && parent != hierarchies.v2
            && !parent.exists()
        {
            make_dir(parent)?;
            created_slice = Some(parent.to_path_buf());
        }
        make_dir(&v2_dir)?;
        let id = match fs_err::metadata(&v2_dir) {
            Ok(meta) => meta.ino(),
            Err(source) => {
                let _ = fs_err::remove_dir(&v2_dir);
                return Err(CgroupError::Create {
                    path: v2_dir,
                    source,
                });
            }
        };
        Ok(RunCgroup {
            driver,
            placement,
            hierarchies,
            v2_dir,
            id,
            created_slice,
        })
    }

    /// The cgroup v2 id (the inode number of its directory).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its depth below the cgroup v2 root.
    pub fn level(&self) -> u32 {
        self.placement.level()
    }

    /// The value for the container's `HostConfig.CgroupParent`.
    pub fn parent(&self) -> &str {
        &self.placement.parent
    }

    /// Its directory in the cgroup v2 hierarchy.
    pub fn v2_dir(&self) -> &Path {
        &self.v2_dir
    }

    /// Kills whatever still runs in the cgroup: the container's processes, when the
    /// engine that should stop them is gone.
    pub fn kill_processes(&self) {
        kill_processes(&self.v2_dir);
    }

    /// The directories this run may have left in any hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.hierarchies
            .all
            .iter()
            .map(|root| root.join(&self.placement.relative))
            .collect()
    }

    /// Removes the cgroup from every hierarchy, with any child cgroups left in it, waiting
    /// briefly for cgroups that are still busy (the runtime's last processes exiting).
    pub async fn remove(self) -> Result<(), CgroupError> {
        if self.driver == CgroupDriver::Systemd {
            stop_slice_unit(&self.placement.parent).await;
        }
        let mut first_error = None;
        for dir in self.dirs() {
            if let Err(e) = remove_tree(&dir).await {
                first_error.get_or_insert(e);
            }
        }
        if let Some(slice) = &self.created_slice {
            // Another run may have its slice in it by now: then it stays for that run.
            let _ = fs_err::remove_dir(slice);
            for root in &self.hierarchies.all {
                if let Ok(relative) = slice.strip_prefix(&self.hierarchies.v2) {
                    let _ = fs_err::remove_dir(root.join(relative));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Asks systemd to stop the run's slice unit, which it created for the container's scope
/// and would otherwise keep. Best effort: the directories are removed next either way.
pub(crate) async fn stop_slice_unit(slice: &str) {
    let stop = tokio::process::Command::new("systemctl")
        .args(["stop", slice])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(5), stop).await;
}

/// Kills every process in a cgroup v2 directory and below it (`cgroup.kill`, Linux 5.14+).
/// Best effort: used only when the engine cannot remove the container whose processes
/// they are, so that the cgroup can go.
pub(crate) fn kill_processes(v2_dir: &Path) {
    let _ = fs_err::write(v2_dir.join("cgroup.kill"), "1");
}

#[expect(
    clippy::disallowed_methods,
    reason = "the error it maps to names the file"
)]
fn make_dir(path: &Path) -> Result<(), CgroupError> {
    std::fs::create_dir(path).map_err(|source| {
        let path = path.to_path_buf();
        match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                CgroupError::Permission { path, source }
            }
            _ => CgroupError::Create { path, source },
        }
    })
}

/// How long a busy cgroup is retried before removal gives up.
const BUSY_RETRIES: u32 = 50;
const BUSY_WAIT: Duration = Duration::from_millis(100);

/// Removes a cgroup directory and the cgroups below it, innermost first. A cgroup's
/// interface files go with their directory, so only directories are removed.
pub(crate) async fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let mut stack = vec![(dir.to_path_buf(), false)];
    while let Some((path, children_done)) = stack.pop() {
        if !children_done {
            stack.push((path.clone(), true));
            let entries = match fs_err::read_dir(&path) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    stack.pop();
                    continue;
                }
                Err(source) => return Err(CgroupError::Remove { path, source }),
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((entry.path(), false));
                }
            }
            continue;
        }
        remove_dir_when_idle(&path).await?;
    }
    Ok(())
}

#[expect(
    clippy::disallowed_methods,
    reason = "the error it maps to names the file"
)]
async fn remove_dir_when_idle(path: &Path) -> Result<(), CgroupError> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ResourceBusy && tries < BUSY_RETRIES => {
                tries += 1;
                tokio::time::sleep(BUSY_WAIT).await;
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_hosts_use_the_unified_mount_and_clean_every_hierarchy() {
        let h = Hierarchies::from_mountinfo(HYBRID).unwrap();
        assert_eq!(h.v2, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(
            h.all,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn pure_v2_hosts_use_sys_fs_cgroup() {
        let text =
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchies::from_mountinfo(text).unwrap();
        assert_eq!(h.v2, Path::new("/sys/fs/cgroup"));
        assert_eq!(h.all, [PathBuf::from("/sys/fs/cgroup")]);
    }

    #[test]
    fn v1_only_hosts_are_refused() {
        let text = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
        assert!(matches!(
            Hierarchies::from_mountinfo(text),
            Err(CgroupError::NoCgroupV2)
        ));
    }

    #[test]
    fn cgroup_mounts_of_a_subtree_are_not_hierarchy_roots() {
        // A container's view of its own cgroup: not a place to create siblings in.
        let text = "50 40 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert!(Hierarchies::from_mountinfo(text).is_err());
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/a\040b"), "/a b");
        assert_eq!(unescape_mount_path(r"/plain"), "/plain");
    }

    #[test]
    fn cgroupfs_placement_is_a_top_level_directory() {
        let p = CgroupPlacement::new("0123abcd", CgroupDriver::Cgroupfs);
        assert_eq!(p.relative, Path::new("slim-0123abcd"));
        assert_eq!(p.parent, "/slim-0123abcd");
        assert_eq!(p.level(), 1);
    }

    #[test]
    fn systemd_placement_is_a_slice_under_slim_slice() {
        let p = CgroupPlacement::new("0123abcd", CgroupDriver::Systemd);
        assert_eq!(p.relative, Path::new("slim.slice/slim-0123abcd.slice"));
        assert_eq!(p.parent, "slim-0123abcd.slice");
        assert_eq!(p.level(), 2);
    }

    #[tokio::test]
    async fn remove_tree_removes_nested_directories_innermost_first() {
        let dir = std::env::temp_dir().join(format!("slim-test-remove-{}", std::process::id()));
        fs_err::create_dir_all(dir.join("a/b")).unwrap();
        fs_err::create_dir_all(dir.join("c")).unwrap();
        remove_tree(&dir).await.unwrap();
        assert!(!dir.exists());
        // Gone already is fine.
        remove_tree(&dir).await.unwrap();
    }
}
