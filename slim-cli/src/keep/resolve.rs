//! Path resolution inside the image root, the way the kernel would resolve it inside the
//! container: every symlink on the way (directory symlinks such as `/bin -> usr/bin`
//! included) is followed within the image, never on the host, and `..` never leaves the
//! root. Every symlink passed and every directory walked through is reported, because the
//! new image needs them all for the same path to resolve the same way.

use crate::image::index::{FsIndex, NodeKind, join, split_parent};

/// Symlinks followed at most in one resolution, as Linux's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

/// The outcome of resolving one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The path the resolution ends at, if it exists in the image.
    pub target: Option<Vec<u8>>,
    /// Symlinks passed on the way, in order.
    pub links: Vec<Vec<u8>>,
    /// Directories walked through (existing ones), in order.
    pub dirs: Vec<Vec<u8>>,
}

/// Resolves `path` (absolute, normalised) in `index`. The last component is followed if it
/// is a symlink only when `follow_last` is set.
pub fn resolve(index: &FsIndex, path: &[u8], follow_last: bool) -> Resolution {
    let mut out = Resolution::default();
    let mut pending: Vec<Vec<u8>> = components(path).into_iter().rev().collect();
    let mut current = b"/".to_vec();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if name == b".." {
            current = split_parent(&current).0;
            continue;
        }
        if name == b"." {
            continue;
        }
        let candidate = join(&current, &name);
        let Some(node) = index.get(&candidate) else {
            return out;
        };
        let last = pending.is_empty();
        match &node.kind {
            NodeKind::Symlink { target } if !last || follow_last => {
                hops += 1;
                if hops > MAX_LINKS {
                    return out;
                }
                out.links.push(candidate);
                if target.first() == Some(&b'/') {
                    current = b"/".to_vec();
                }
                for part in components(target).into_iter().rev() {
                    pending.push(part);
                }
                if target.is_empty() {
                    return out;
                }
            }
            NodeKind::Dir => {
                out.dirs.push(candidate.clone());
                current = candidate;
            }
            _ if !last => return out,
            _ => current = candidate,
        }
    }
    out.target = Some(current);
    out
}

fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}
