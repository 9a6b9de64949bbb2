//! Crash recovery: what a slim run leaves when it is killed (`kill -9`, a power cut, the
//! third Ctrl-C) is removed by the next run, and only that.
//!
//! Every run id names its owner, the slim process that made it: `p<pid>s<start>n<pidns>r<random>`,
//! where `start` is the process's start time from `/proc/<pid>/stat` (so a recycled pid is
//! not mistaken for the owner) and `pidns` its pid namespace. The run id is in every name
//! slim gives outside its process: the container's `slim.run` label, the cgroup
//! `slim-<run id>` (`slim.slice/slim-<run id>.slice` with systemd) and the work directory
//! `$TMPDIR/slim-build-<run id>`. [`sweep`] removes those whose owner is gone. Other slim
//! processes may be running on the same machine: anything whose owner is alive, lives in
//! another pid namespace, or whose name does not say (an older slim) is never touched.
//! The probe needs no recovery: the kernel unloads it when its process ends.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::cgroup::{self, Hierarchies};
use crate::engine::Engine;
use crate::reporter::Reporter;

/// The name of a build's work directory in `$TMPDIR`, before its run id.
pub const WORK_DIR_PREFIX: &str = "slim-build-";

/// This process cannot be named as the owner of a run: `/proc` or `/dev/urandom` cannot
/// be read (a bug or a broken host; what failed is the message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoOwner(pub String);

/// The process that owns a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    pub pid: u32,
    /// Start time after boot, in clock ticks (`/proc/<pid>/stat` field 22).
    pub start: u64,
    /// The inode of its pid namespace.
    pub pidns: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Result<Owner, NoOwner> {
        let pid = std::process::id();
        let start = start_time(pid)
            .ok_or_else(|| NoOwner(format!("cannot read the start time of pid {pid} in /proc")))?;
        let pidns = own_pidns().ok_or_else(|| NoOwner("cannot read /proc/self/ns/pid".into()))?;
        Ok(Owner { pid, start, pidns })
    }

    /// A fresh run id owned by this process.
    pub fn new_run_id(&self) -> Result<String, NoOwner> {
        let mut bytes = [0u8; 4];
        fs_err::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| NoOwner(format!("cannot read /dev/urandom for a run id: {e}")))?;
        let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!(
            "p{}s{}n{}r{random}",
            self.pid, self.start, self.pidns
        ))
    }

    /// The owner a run id names, if it names one.
    pub fn of_run_id(id: &str) -> Option<Owner> {
        let rest = id.strip_prefix('p')?;
        let (pid, rest) = rest.split_once('s')?;
        let (start, rest) = rest.split_once('n')?;
        let (pidns, random) = rest.split_once('r')?;
        if random.is_empty() || !random.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(Owner {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
            pidns: pidns.parse().ok()?,
        })
    }

    /// Whether the owner may still be running. An owner in another pid namespace cannot be
    /// looked up, so it counts as alive.
    pub fn is_alive(&self) -> bool {
        if own_pidns() != Some(self.pidns) {
            return true;
        }
        start_time(self.pid) == Some(self.start)
    }
}

/// Field 22 of `/proc/<pid>/stat`, if the process exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

fn own_pidns() -> Option<u64> {
    fs_err::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Whether a resource named after run `id` belongs to a slim process that is gone.
fn abandoned(id: &str) -> Option<Owner> {
    Owner::of_run_id(id).filter(|owner| !owner.is_alive())
}

/// What [`sweep`] removed.
#[derive(Debug, Default)]
pub struct Swept {
    pub owners: BTreeSet<u32>,
    pub containers: Vec<String>,
    pub cgroups: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl Swept {
    /// One line for stderr, or `None` when there was nothing to remove.
    pub fn line(&self) -> Option<String> {
        let mut what: Vec<String> = Vec::new();
        what.extend(self.containers.iter().map(|c| format!("container {c}")));
        what.extend(
            self.cgroups
                .iter()
                .map(|c| format!("cgroup {}", c.display())),
        );
        what.extend(
            self.dirs
                .iter()
                .map(|d| format!("directory {}", d.display())),
        );
        if what.is_empty() {
            return None;
        }
        let pids: Vec<String> = self.owners.iter().map(u32::to_string).collect();
        Some(format!(
            "removed what slim runs that ended without cleaning up left behind (pid {}): {}",
            pids.join(", "),
            what.join(", ")
        ))
    }
}

/// Removes the containers, cgroups and work directories of runs whose slim process is gone,
/// and says so on stderr. Best effort: what cannot be removed is reported and left.
pub async fn sweep(engine: &impl Engine, reporter: &dyn Reporter) -> Swept {
    let mut swept = Swept::default();
    match engine.run_containers().await {
        Ok(containers) => {
            for c in containers {
                let Some(owner) = abandoned(&c.run_id) else {
                    continue;
                };
                match engine.remove_container(&c.name).await {
                    Ok(()) => {
                        swept.owners.insert(owner.pid);
                        swept.containers.push(c.name);
                    }
                    // Another slim run is removing it right now.
                    Err(e) if e.is_removal_in_progress() => {}
                    Err(e) => reporter.warn(&format!(
                        "cannot remove container {} of an earlier run: {e}",
                        c.name
                    )),
                }
            }
        }
        Err(e) => reporter.warn(&format!(
            "cannot look for containers earlier runs left: {e}"
        )),
    }
    if let Ok(hierarchies) = Hierarchies::detect() {
        sweep_cgroups(&hierarchies, reporter, &mut swept).await;
    }
    sweep_work_dirs(&std::env::temp_dir(), reporter, &mut swept);
    if let Some(line) = swept.line() {
        reporter.step(&line);
    }
    swept
}

/// The run id of a cgroup directory name: `slim-<id>` or `slim-<id>.slice`.
fn cgroup_run_id(name: &str) -> Option<&str> {
    let id = name.strip_prefix("slim-")?;
    Some(id.strip_suffix(".slice").unwrap_or(id))
}

async fn sweep_cgroups(hierarchies: &Hierarchies, reporter: &dyn Reporter, swept: &mut Swept) {
    // The v2 hierarchy first: killing what is left in it ends those processes in every
    // hierarchy, so the v1 directories empty too.
    let mut roots = vec![hierarchies.v2.clone()];
    roots.extend(
        hierarchies
            .all
            .iter()
            .filter(|r| **r != hierarchies.v2)
            .cloned(),
    );
    for root in roots {
        for parent in [root.clone(), root.join("slim.slice")] {
            let Ok(entries) = fs_err::read_dir(&parent) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(owner) = name.to_str().and_then(cgroup_run_id).and_then(abandoned) else {
                    continue;
                };
                let dir = entry.path();
                if !dir.is_dir() {
                    continue;
                }
                if root == hierarchies.v2 {
                    if let Some(unit) = name.to_str().filter(|n| n.ends_with(".slice")) {
                        cgroup::stop_slice_unit(unit).await;
                    }
                    cgroup::kill_processes(&dir);
                }
                match cgroup::remove_tree(&dir).await {
                    Ok(()) => {
                        swept.owners.insert(owner.pid);
                        if root == hierarchies.v2 {
                            swept.cgroups.push(dir);
                        }
                    }
                    Err(e) => reporter.warn(&format!("{e}")),
                }
            }
            if parent != root {
                // Empty once its last run's slice is gone; another live run may still use it.
                let _ = fs_err::remove_dir(&parent);
            }
        }
    }
}

fn sweep_work_dirs(tmp: &Path, reporter: &dyn Reporter, swept: &mut Swept) {
    let Ok(entries) = fs_err::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(WORK_DIR_PREFIX))
            .and_then(abandoned)
        else {
            continue;
        };
        let dir = entry.path();
        match fs_err::remove_dir_all(&dir) {
            Ok(()) => {
                swept.owners.insert(owner.pid);
                swept.dirs.push(dir);
            }
            Err(e) => reporter.warn(&format!(
                "cannot remove {} of an earlier run: {e}",
                dir.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_round_trip_their_owner() {
        let owner = Owner {
            pid: 4242,
            start: 987_654,
            pidns: 4_026_531_836,
        };
        let id = owner.new_run_id().unwrap();
        assert!(id.starts_with("p4242s987654n4026531836r"), "{id}");
        assert_eq!(Owner::of_run_id(&id), Some(owner));
    }

    #[test]
    fn run_ids_of_older_versions_name_no_owner() {
        assert_eq!(Owner::of_run_id("0a1b2c3d4e5f"), None);
        assert_eq!(Owner::of_run_id("p12s34n56r"), None);
        assert_eq!(Owner::of_run_id("p12s34n56rzz"), None);
        assert_eq!(Owner::of_run_id("px1s34n56r0a"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_past_start_time_is_not() {
        let me = Owner::current().unwrap();
        assert!(me.is_alive());
        let recycled = Owner {
            start: me.start.wrapping_sub(1),
            ..me
        };
        assert!(!recycled.is_alive(), "a recycled pid is not the owner");
        let elsewhere = Owner {
            pidns: me.pidns + 1,
            start: 0,
            ..me
        };
        assert!(
            elsewhere.is_alive(),
            "another pid namespace cannot be judged"
        );
    }

    #[test]
    fn cgroup_names_give_their_run_id() {
        assert_eq!(cgroup_run_id("slim-p1s2n3r0a"), Some("p1s2n3r0a"));
        assert_eq!(cgroup_run_id("slim-p1s2n3r0a.slice"), Some("p1s2n3r0a"));
        assert_eq!(cgroup_run_id("docker"), None);
    }

    #[test]
    fn work_dirs_of_dead_owners_are_removed_and_others_kept() {
        let me = Owner::current().unwrap();
        let dead = Owner {
            start: me.start.wrapping_sub(1),
            ..me
        };
        let tmp = std::env::temp_dir().join(format!("slim-test-sweep-{}", me.pid));
        let _ = fs_err::remove_dir_all(&tmp);
        let prefix = WORK_DIR_PREFIX;
        let dead_dir = tmp.join(format!("{prefix}{}", dead.new_run_id().unwrap()));
        let live_dir = tmp.join(format!("{prefix}{}", me.new_run_id().unwrap()));
        let old_dir = tmp.join(format!("{prefix}0a1b2c3d4e5f"));
        for dir in [&dead_dir, &live_dir, &old_dir] {
            fs_err::create_dir_all(dir.join("layers")).unwrap();
        }
        let mut swept = Swept::default();
        sweep_work_dirs(&tmp, &crate::reporter::Silent, &mut swept);
        assert_eq!(swept.dirs, std::slice::from_ref(&dead_dir));
        assert!(!dead_dir.exists());
        assert!(live_dir.exists() && old_dir.exists());
        let line = swept.line().unwrap();
        assert!(line.contains(&format!("pid {}", me.pid)), "{line}");
        fs_err::remove_dir_all(&tmp).unwrap();
    }
}
