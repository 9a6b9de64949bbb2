//! What a fixture image is made of, as plain data: a Debian base, extra packages, extra
//! files and the image config. The recipe's hash names the image tag and the cached
//! rootfs tarballs, so changing any part of a recipe (or the builder itself, through
//! [`BUILDER_VERSION`]) rebuilds, and an unchanged recipe is reused. Nothing here touches
//! the disk or the engine.

/// Bumped whenever the way recipes are turned into images changes in a way the recipe
/// text does not show (tar flags, cleanup steps), so old cached images are not reused.
pub const BUILDER_VERSION: &str = "slim-fixtures/1";

/// Where the Debian root filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base {
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// debootstrap variant, e.g. `minbase`.
    pub variant: String,
    /// Archive mirror, e.g. `http://deb.debian.org/debian`.
    pub mirror: String,
}

impl Base {
    /// `debootstrap --variant=minbase bookworm DIR http://deb.debian.org/debian`.
    pub fn bookworm_minbase() -> Self {
        Base {
            suite: "bookworm".into(),
            variant: "minbase".into(),
            mirror: "http://deb.debian.org/debian".into(),
        }
    }
}

/// The bytes of a file added to the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Literal bytes.
    Bytes(Vec<u8>),
    /// A C program compiled on the host with `gcc -static -O2` at build time; the hash
    /// covers the source and the compiler flags, not the compiled bytes.
    StaticC {
        /// The C source text.
        source: String,
    },
    /// The same, linked dynamically (`gcc -O2`).
    DynamicC {
        /// The C source text.
        source: String,
    },
}

/// One filesystem entry added on top of the rootfs. Owner is always root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A regular file.
    File {
        /// Absolute path inside the image.
        path: String,
        /// Permission bits, e.g. `0o644`.
        mode: u32,
        /// What the file holds.
        contents: Contents,
    },
    /// A directory (parents are created as needed).
    Dir {
        /// Absolute path inside the image.
        path: String,
        /// Permission bits, e.g. `0o755`.
        mode: u32,
    },
    /// A symbolic link, stored as given (relative targets stay relative).
    Symlink {
        /// Absolute path inside the image.
        path: String,
        /// The link's target text.
        target: String,
    },
}

impl Entry {
    /// A regular file with literal contents.
    pub fn file(path: &str, mode: u32, contents: impl Into<Vec<u8>>) -> Self {
        Entry::File {
            path: path.into(),
            mode,
            contents: Contents::Bytes(contents.into()),
        }
    }

    /// A directory.
    pub fn dir(path: &str, mode: u32) -> Self {
        Entry::Dir {
            path: path.into(),
            mode,
        }
    }

    /// A symbolic link.
    pub fn symlink(path: &str, target: &str) -> Self {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }

    /// The entry's absolute path inside the image.
    pub fn path(&self) -> &str {
        match self {
            Entry::File { path, .. } | Entry::Dir { path, .. } | Entry::Symlink { path, .. } => {
                path
            }
        }
    }
}

/// The image config written at import time; `None`/empty fields are left unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `ENTRYPOINT` in exec form.
    pub entrypoint: Option<Vec<String>>,
    /// `CMD` in exec form.
    pub cmd: Option<Vec<String>>,
    /// `ENV` pairs, in order.
    pub env: Vec<(String, String)>,
    /// `USER`.
    pub user: Option<String>,
    /// `WORKDIR`.
    pub working_dir: Option<String>,
    /// `EXPOSE`, e.g. `80/tcp`.
    pub exposed_ports: Vec<String>,
}

/// The PATH every fixture image sets, Debian's default.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ImageConfig {
    /// The config Dockerfile instructions accepted by the engine's import endpoint.
    pub fn changes(&self) -> Vec<String> {
        let json = |v: &Vec<String>| serde_json::to_string(v).expect("strings serialise");
        let mut out = Vec::new();
        if let Some(entrypoint) = &self.entrypoint {
            out.push(format!("ENTRYPOINT {}", json(entrypoint)));
        }
        if let Some(cmd) = &self.cmd {
            out.push(format!("CMD {}", json(cmd)));
        }
        for (key, value) in &self.env {
            let quoted = serde_json::to_string(value).expect("strings serialise");
            out.push(format!("ENV {key}={quoted}"));
        }
        if let Some(user) = &self.user {
            out.push(format!("USER {user}"));
        }
        if let Some(dir) = &self.working_dir {
            out.push(format!("WORKDIR {dir}"));
        }
        for port in &self.exposed_ports {
            out.push(format!("EXPOSE {port}"));
        }
        out
    }
}

/// A fixture image: base + packages + extra files + config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// Short name; the image is tagged `slim-fixture/<name>:<hash>`.
    pub name: String,
    /// The debootstrap base.
    pub base: Base,
    /// Debian packages installed with `apt-get install` in a chroot of the base.
    pub packages: Vec<String>,
    /// Entries added on top, in order (a later entry wins).
    pub files: Vec<Entry>,
    /// Entrypoint, Cmd, Env, User, WorkingDir, ExposedPorts.
    pub config: ImageConfig,
}

impl Recipe {
    /// The image tag, `slim-fixture/<name>:<16 hex digits of the recipe hash>`.
    pub fn tag(&self) -> String {
        format!("{}:{}", self.repository(), self.hash())
    }

    /// The image repository, `slim-fixture/<name>`.
    pub fn repository(&self) -> String {
        format!("slim-fixture/{}", self.name)
    }

    /// Hash of everything that shapes the image.
    pub fn hash(&self) -> String {
        let mut h = Canonical::new();
        h.str(BUILDER_VERSION);
        h.str(&self.name);
        h.bytes(self.rootfs_key().as_bytes());
        h.list(self.files.iter(), |h, entry| match entry {
            Entry::File {
                path,
                mode,
                contents,
            } => {
                h.str("file");
                h.str(path);
                h.u64(u64::from(*mode));
                match contents {
                    Contents::Bytes(bytes) => {
                        h.str("bytes");
                        h.bytes(bytes);
                    }
                    Contents::StaticC { source } => {
                        h.str("static-c");
                        h.str(crate::rootfs::GCC_STATIC_FLAGS);
                        h.str(source);
                    }
                    Contents::DynamicC { source } => {
                        h.str("dynamic-c");
                        h.str(crate::rootfs::GCC_DYNAMIC_FLAGS);
                        h.str(source);
                    }
                }
            }
            Entry::Dir { path, mode } => {
                h.str("dir");
                h.str(path);
                h.u64(u64::from(*mode));
            }
            Entry::Symlink { path, target } => {
                h.str("symlink");
                h.str(path);
                h.str(target);
            }
        });
        h.list(self.config.changes().iter(), |h, c| h.str(c));
        h.hex()
    }

    /// Names the cached rootfs tarball: base plus the sorted package set. Recipes that
    /// differ only in files and config share it.
    pub fn rootfs_key(&self) -> String {
        let mut packages = self.packages.clone();
        packages.sort();
        packages.dedup();
        let mut h = Canonical::new();
        h.str(BUILDER_VERSION);
        h.str(&self.base.suite);
        h.str(&self.base.variant);
        h.str(&self.base.mirror);
        h.list(packages.iter(), |h, p| h.str(p));
        let name = if packages.is_empty() {
            String::new()
        } else {
            "-pkgs".into()
        };
        format!(
            "{}-{}{}-{}",
            self.base.suite,
            self.base.variant,
            name,
            h.hex()
        )
    }

    /// The rootfs key of this recipe's bare base, without packages.
    pub fn base_rootfs_key(&self) -> String {
        Recipe {
            packages: Vec::new(),
            ..self.clone()
        }
        .rootfs_key()
    }
}

/// Length-prefixed FNV-1a, 64 bits: a cache key, not a security boundary.
pub(crate) struct Canonical(u64);

impl Canonical {
    pub(crate) fn new() -> Self {
        Canonical(0xcbf2_9ce4_8422_2325)
    }

    fn raw(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn u64(&mut self, v: u64) {
        self.raw(&v.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.raw(bytes);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn list<T>(
        &mut self,
        items: impl ExactSizeIterator<Item = T>,
        mut each: impl FnMut(&mut Self, T),
    ) {
        self.u64(items.len() as u64);
        for item in items {
            each(self, item);
        }
    }

    pub(crate) fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Recipe {
        Recipe {
            name: "t".into(),
            base: Base::bookworm_minbase(),
            packages: vec!["nginx".into()],
            files: vec![Entry::file("/etc/x", 0o644, "x")],
            config: ImageConfig {
                cmd: Some(vec!["sh".into()]),
                ..ImageConfig::default()
            },
        }
    }

    #[test]
    fn hash_is_stable_for_an_unchanged_recipe() {
        assert_eq!(sample().hash(), sample().hash());
        assert_eq!(
            sample().tag(),
            format!("slim-fixture/t:{}", sample().hash())
        );
    }

    #[test]
    fn hash_changes_with_every_part_of_the_recipe() {
        let base = sample().hash();
        let mut r = sample();
        r.packages.push("python3".into());
        assert_ne!(r.hash(), base);
        let mut r = sample();
        r.files = vec![Entry::file("/etc/x", 0o644, "y")];
        assert_ne!(r.hash(), base);
        let mut r = sample();
        r.files = vec![Entry::file("/etc/x", 0o600, "x")];
        assert_ne!(r.hash(), base);
        let mut r = sample();
        r.config.env.push(("A".into(), "b".into()));
        assert_ne!(r.hash(), base);
        let mut r = sample();
        r.base.suite = "trixie".into();
        assert_ne!(r.hash(), base);
    }

    #[test]
    fn rootfs_key_ignores_files_and_package_order() {
        let mut a = sample();
        a.packages = vec!["b".into(), "a".into()];
        let mut b = sample();
        b.packages = vec!["a".into(), "b".into(), "a".into()];
        b.files.clear();
        assert_eq!(a.rootfs_key(), b.rootfs_key());
        assert_ne!(a.rootfs_key(), a.base_rootfs_key());
    }

    #[test]
    fn config_becomes_import_changes() {
        let config = ImageConfig {
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["echo hi".into()]),
            env: vec![("PATH".into(), "/bin".into()), ("X".into(), "a b".into())],
            user: Some("1000:1000".into()),
            working_dir: Some("/srv".into()),
            exposed_ports: vec!["80/tcp".into()],
        };
        assert_eq!(
            config.changes(),
            [
                r#"ENTRYPOINT ["/bin/sh","-c"]"#,
                r#"CMD ["echo hi"]"#,
                r#"ENV PATH="/bin""#,
                r#"ENV X="a b""#,
                "USER 1000:1000",
                "WORKDIR /srv",
                "EXPOSE 80/tcp",
            ]
        );
    }
}
