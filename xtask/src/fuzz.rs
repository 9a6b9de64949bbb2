//! `cargo xtask fuzz`: builds the fuzz targets of `fuzz/` with cargo-fuzz (libFuzzer and
//! AddressSanitizer) and runs each one for a bounded time from its committed seed corpus.
//!
//! The machines have a stable toolchain only: cargo-fuzz passes `-Z` flags to rustc, which
//! `RUSTC_BOOTSTRAP=1` allows on stable, and AddressSanitizer's runtime ships with the stable
//! `rust-std`, so no nightly and no `-Zbuild-std` are needed. New inputs the fuzzer finds
//! go to a temporary corpus, never into the repository; a crash leaves its input in
//! `fuzz/artifacts/<target>/` and fails the task.
//!
//! `--seeds` rewrites the seed corpus (`fuzz/corpus/<target>/`) from the recipes below,
//! so every committed seed is reproducible.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{Result, cargo};

/// The cargo-fuzz release the task installs and expects.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Every fuzz target, in the order they start.
pub const TARGETS: &[&str] = &[
    "image_archive",
    "path_normalize",
    "elf_reader",
    "crawl_links",
    "openapi_operations",
    "js_specifiers",
    "python_imports",
    "package_db",
    "ruby_requires",
];

/// Seconds each target runs when `--seconds` does not say.
const DEFAULT_SECONDS: u64 = 60;

struct Options {
    seconds: u64,
    seeds: bool,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        seeds: false,
        targets: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                options.seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds {value:?}: not a number of seconds"))?;
            }
            "--seeds" => options.seeds = true,
            name if TARGETS.contains(&name) => options.targets.push(name.to_string()),
            other => {
                return Err(format!(
                    "unknown fuzz argument {other:?}\nhint: cargo xtask fuzz [--seconds N] [--seeds] [{}]",
                    TARGETS.join("|")
                ));
            }
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    Ok(options)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn run(args: &[String]) -> Result {
    let options = parse(args)?;
    let root = root();
    let fuzz_dir = root.join("fuzz");
    if options.seeds {
        return write_seeds(&fuzz_dir.join("corpus"));
    }
    ensure_cargo_fuzz()?;

    let started = Instant::now();
    eprintln!("fuzz: building {} target(s)", TARGETS.len());
    let status = cargo_fuzz(&fuzz_dir, "build", &[])
        .status()
        .map_err(|e| format!("running cargo fuzz build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo fuzz build failed ({status})"));
    }
    eprintln!("fuzz: built in {:.0}s", started.elapsed().as_secs_f64());

    // One libFuzzer process uses one core: the targets run side by side, one per core.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(options.targets.len());
    let queue = std::sync::Mutex::new(options.targets.iter());
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let Some(target) = queue.lock().expect("queue").next() else {
                        return;
                    };
                    if let Err(e) = fuzz_one(&fuzz_dir, target, options.seconds) {
                        eprintln!("fuzz {target}: {e}");
                        failed.lock().expect("failed").push(target.clone());
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().expect("failed");
    failed.sort_by_key(|t| TARGETS.iter().position(|known| known == t));
    if failed.is_empty() {
        eprintln!(
            "fuzz: {} target(s), {}s each, {workers} at a time, no failure ({:.0}s in all)",
            options.targets.len(),
            options.seconds,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(format!(
            "fuzz target(s) failed: {}\nhint: reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run \
             TARGET fuzz/artifacts/TARGET/<input>`, fix the bug, and commit the input with a \
             regression test named after the bug",
            failed.join(", ")
        ))
    }
}

/// `cargo fuzz SUBCOMMAND` with the build options every call must share (a different set
/// would rebuild everything).
fn cargo_fuzz(fuzz_dir: &Path, subcommand: &str, rest: &[String]) -> Command {
    let mut cmd = cargo();
    cmd.arg("fuzz")
        .arg(subcommand)
        .arg("--fuzz-dir")
        .arg(fuzz_dir)
        // Many codegen units: the fuzz build takes minutes less, the targets run a little
        // slower, which a bounded run does not notice.
        .args(["--codegen-units", "16"])
        .args(rest)
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(fuzz_dir.parent().expect("fuzz/ has a parent"));
    cmd
}

fn ensure_cargo_fuzz() -> Result {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let wanted = format!("cargo-fuzz {CARGO_FUZZ_VERSION}");
    if installed.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    eprintln!(
        "fuzz: installing {wanted} (found {})",
        installed.as_deref().unwrap_or("none")
    );
    crate::run(cargo().args([
        "install",
        "cargo-fuzz",
        "--version",
        &format!("={CARGO_FUZZ_VERSION}"),
        "--locked",
    ]))
}

fn fuzz_one(fuzz_dir: &Path, target: &str, seconds: u64) -> Result {
    let seeds = fuzz_dir.join("corpus").join(target);
    if !seeds.is_dir() {
        return Err(format!(
            "no seed corpus at {}\nhint: cargo xtask fuzz --seeds",
            seeds.display()
        ));
    }
    let work = std::env::temp_dir().join(format!("slim-fuzz-{target}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let log = work.with_extension("log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let started = Instant::now();
    let status = cargo_fuzz(
        fuzz_dir,
        "run",
        &[
            target.to_string(),
            work.display().to_string(),
            seeds.display().to_string(),
            "--".into(),
            format!("-max_total_time={seconds}"),
            "-timeout=10".into(),
            "-rss_limit_mb=2048".into(),
            "-print_final_stats=1".into(),
        ],
    )
    .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
    .stderr(log_file)
    .status()
    .map_err(|e| format!("running cargo fuzz run: {e}"))?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_file(&log);
    let stat = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    if status.success() {
        eprintln!(
            "fuzz {target}: {} inputs in {:.0}s, {} coverage features, peak {} MB, no failure",
            stat("number_of_executed_units"),
            started.elapsed().as_secs_f64(),
            text.lines()
                .rev()
                .find_map(|l| l.split_once(" ft: ").map(|(_, r)| r))
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("?"),
            stat("peak_rss_mb"),
        );
        return Ok(());
    }
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    let mut err = std::io::stderr().lock();
    for line in tail.iter().rev() {
        let _ = writeln!(err, "  | {line}");
    }
    Err(format!(
        "failed ({status}); the input that failed is in {}",
        fuzz_dir.join("artifacts").join(target).display()
    ))
}

/// Writes the seed corpus: small, valid instances of each input format, so the fuzzer
/// starts from the interesting shapes instead of discovering tar headers byte by byte.
fn write_seeds(corpus: &Path) -> Result {
    let mut written = 0;
    for (target, seeds) in [
        ("image_archive", seeds::image_archive()),
        ("path_normalize", seeds::path_normalize()),
        ("elf_reader", seeds::elf_reader()),
        ("crawl_links", seeds::crawl_links()),
        ("openapi_operations", seeds::openapi_operations()),
        ("js_specifiers", seeds::js_specifiers()),
        ("python_imports", seeds::python_imports()),
        ("package_db", seeds::package_db()),
        ("ruby_requires", seeds::ruby_requires()),
    ] {
        let dir = corpus.join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        for (name, bytes) in seeds {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
            written += 1;
        }
    }
    eprintln!("fuzz: wrote {written} seeds under {}", corpus.display());
    Ok(())
}

mod seeds {
    use std::io::Write;

    type Seeds = Vec<(&'static str, Vec<u8>)>;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
        let mut h = header(tar::EntryType::Regular, data.len() as u64, mode);
        b.append_data(&mut h, path, data).expect("in memory");
    }

    fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
        let mut h = header(tar::EntryType::Directory, 0, 0o755);
        b.append_data(&mut h, path, &[][..]).expect("in memory");
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = header(kind, 0, 0o777);
        b.append_link(&mut h, path, target).expect("in memory");
    }

    fn device(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str) {
        let mut h = header(kind, 0, 0o666);
        h.set_device_major(1).expect("gnu header");
        h.set_device_minor(3).expect("gnu header");
        b.append_data(&mut h, path, &[][..]).expect("in memory");
    }

    /// A base layer: directories, files, a setuid binary with a capability xattr, a hard
    /// link, directory and file symlinks (one pointing outside the root), a device and a
    /// FIFO, a long name and a non-UTF-8 name.
    fn base_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for d in [
            "usr/", "usr/bin/", "usr/lib/", "etc/", "opt/", "opt/app/", "dev/",
        ] {
            dir(&mut b, d);
        }
        file(&mut b, "usr/bin/busybox", b"\x7fELF-not-really", 0o4755);
        link(
            &mut b,
            tar::EntryType::Link,
            "usr/bin/sh",
            "usr/bin/busybox",
        );
        link(&mut b, tar::EntryType::Symlink, "bin", "usr/bin");
        link(
            &mut b,
            tar::EntryType::Symlink,
            "etc/escape",
            "../../../../etc/shadow",
        );
        link(&mut b, tar::EntryType::Symlink, "etc/abs", "/etc/passwd");
        file(
            &mut b,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\n",
            0o644,
        );
        file(&mut b, "etc/group", b"root:x:0:\n", 0o644);
        file(&mut b, "opt/app/old.py", b"print('old')\n", 0o644);
        b.append_pax_extensions([("SCHILY.xattr.security.capability", &[1u8, 0, 0, 2][..])])
            .expect("in memory");
        file(&mut b, "usr/bin/ping", b"ping", 0o755);
        device(&mut b, tar::EntryType::Char, "dev/null");
        let mut fifo = header(tar::EntryType::Fifo, 0, 0o644);
        b.append_data(&mut fifo, "dev/fifo", &[][..])
            .expect("in memory");
        let long = format!("opt/{}/file", "d".repeat(120));
        file(&mut b, &long, b"long", 0o644);
        let mut odd = header(tar::EntryType::Regular, 1, 0o644);
        odd.set_path("opt/name-\u{e9}").expect("short");
        odd.as_gnu_mut().expect("gnu").name[..11].copy_from_slice(b"opt/bad-\xff\xfe\0");
        odd.set_cksum();
        b.append(&odd, &b"x"[..]).expect("in memory");
        b.into_inner().expect("in memory")
    }

    /// A second layer: a whiteout, an opaque directory, a directory replaced by a file,
    /// a file under a path that climbs with `..`, and a hard link to a missing target.
    fn upper_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        dir(&mut b, "etc/");
        file(&mut b, "etc/.wh.group", b"", 0o644);
        dir(&mut b, "opt/app/");
        file(&mut b, "opt/app/.wh..wh..opq", b"", 0o644);
        file(&mut b, "opt/app/new.py", b"print('new')\n", 0o644);
        file(&mut b, "usr/lib", b"a file where a directory was", 0o644);
        let mut climb = header(tar::EntryType::Regular, 3, 0o644);
        climb.as_gnu_mut().expect("gnu").name[..17].copy_from_slice(b"../../etc/climbed");
        climb.set_cksum();
        b.append(&climb, &b"up\n"[..]).expect("in memory");
        link(&mut b, tar::EntryType::Link, "etc/dangling", "etc/missing");
        b.into_inner().expect("in memory")
    }

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).expect("in memory");
        }
        b.into_inner().expect("in memory")
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).expect("in memory");
        gz.finish().expect("in memory")
    }

    const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["PATH=/usr/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;

    pub fn image_archive() -> Seeds {
        let (base, upper) = (base_layer(), upper_layer());
        let legacy = archive(&[
            ("a1/layer.tar", &base),
            ("b2/layer.tar", &upper),
            ("c3.json", CONFIG),
            ("repositories", br#"{"fuzz":{"1":"b2"}}"#),
            (
                "manifest.json",
                br#"[{"Config":"c3.json","RepoTags":["fuzz:1"],"Layers":["a1/layer.tar","b2/layer.tar"]}]"#,
            ),
        ]);
        let gz_base = gzip(&base);
        let oci = archive(&[
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("blobs/sha256/aa", &gz_base),
            ("blobs/sha256/bb", &upper),
            ("blobs/sha256/cc", CONFIG),
            (
                "index.json",
                br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dd","size":1}]}"#,
            ),
            (
                "manifest.json",
                br#"[{"Config":"blobs/sha256/cc","RepoTags":null,"Layers":["blobs/sha256/aa","blobs/sha256/bb"]}]"#,
            ),
        ]);
        let zstd = archive(&[
            ("l", &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]),
            ("c", b"{}"),
            ("manifest.json", br#"[{"Config":"c","Layers":["l"]}]"#),
        ]);
        let mut layers = b"LAYERS\n".to_vec();
        layers.extend_from_slice(&base);
        layers.extend_from_slice(b"\n--next-layer--\n");
        layers.extend_from_slice(&upper);
        vec![
            ("legacy-two-layers.tar", legacy),
            ("oci-gzip-layer.tar", oci),
            ("zstd-layer.tar", zstd),
            ("layers-base-upper", layers),
        ]
    }

    pub fn path_normalize() -> Seeds {
        [
            ("absolute", &b"/bin/../etc//passwd"[..]),
            ("relative-with-base", b"/usr/lib/\0../../lib64/./ld.so"),
            ("climb", b"/etc\0../../../../../root"),
            ("dots", b"/a/.../b/..c/.d/."),
            ("non-utf8", b"/tmp/\xff\xfe/../x\x80"),
            ("empty-path", b"/var/lib\0"),
            ("relative-base", b"inner/dir\0f"),
        ]
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect()
    }

    /// A minimal dynamic ELF: PT_INTERP, PT_LOAD and PT_DYNAMIC with DT_NEEDED, DT_RUNPATH
    /// or DT_RPATH, DT_STRTAB and DT_STRSZ.
    fn elf(class64: bool, little: bool, machine: u16, rpath_tag: u64) -> Vec<u8> {
        let put16 = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let put32 = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let put64 = |v: u64| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let word = |out: &mut Vec<u8>, v: u64| {
            if class64 {
                out.extend_from_slice(&put64(v));
            } else {
                out.extend_from_slice(&put32(v as u32));
            }
        };
        let (ehsize, phentsize) = if class64 { (64u64, 56u64) } else { (52, 32) };
        let phnum = 3u64;
        let interp: &[u8] = b"/lib64/ld-linux-x86-64.so.2\0";
        let strtab: &[u8] = b"\0libc.so.6\0libfoo.so.1\0$ORIGIN/../lib:/opt/$LIB\0";
        let interp_off = ehsize + phentsize * phnum;
        let strtab_off = interp_off + interp.len() as u64;
        let dyn_off = (strtab_off + strtab.len() as u64).next_multiple_of(8);
        let dyn_entries: [(u64, u64); 6] = [
            (1, 1),
            (1, 11),
            (rpath_tag, 23),
            (5, strtab_off),
            (10, strtab.len() as u64),
            (0, 0),
        ];
        let dyn_size = dyn_entries.len() as u64 * if class64 { 16 } else { 8 };
        let total = dyn_off + dyn_size;

        let mut out = Vec::new();
        out.extend_from_slice(b"\x7fELF");
        out.push(if class64 { 2 } else { 1 });
        out.push(if little { 1 } else { 2 });
        out.push(1);
        out.resize(16, 0);
        out.extend_from_slice(&put16(3)); // ET_DYN
        out.extend_from_slice(&put16(machine));
        out.extend_from_slice(&put32(1));
        word(&mut out, 0); // entry
        word(&mut out, ehsize); // phoff
        word(&mut out, 0); // shoff
        out.extend_from_slice(&put32(0)); // flags
        out.extend_from_slice(&put16(ehsize as u16));
        out.extend_from_slice(&put16(phentsize as u16));
        out.extend_from_slice(&put16(phnum as u16));
        out.extend_from_slice(&put16(0));
        out.extend_from_slice(&put16(0));
        out.extend_from_slice(&put16(0));
        assert_eq!(out.len() as u64, ehsize);
        for (kind, offset, size) in [
            (3u32, interp_off, interp.len() as u64),
            (1, 0, total),
            (2, dyn_off, dyn_size),
        ] {
            if class64 {
                out.extend_from_slice(&put32(kind));
                out.extend_from_slice(&put32(4));
                out.extend_from_slice(&put64(offset));
                out.extend_from_slice(&put64(offset)); // vaddr
                out.extend_from_slice(&put64(offset)); // paddr
                out.extend_from_slice(&put64(size));
                out.extend_from_slice(&put64(size));
                out.extend_from_slice(&put64(8));
            } else {
                for v in [kind, offset as u32, offset as u32, offset as u32] {
                    out.extend_from_slice(&put32(v));
                }
                for v in [size as u32, size as u32, 4, 8] {
                    out.extend_from_slice(&put32(v));
                }
            }
        }
        out.extend_from_slice(interp);
        out.extend_from_slice(strtab);
        out.resize(dyn_off as usize, 0);
        for (tag, value) in dyn_entries {
            word(&mut out, tag);
            word(&mut out, value);
        }
        assert_eq!(out.len() as u64, total);
        out
    }

    /// glibc's `ld.so.cache` (new format) with two libraries.
    fn ld_cache() -> Vec<u8> {
        let strings: &[u8] =
            b"libc.so.6\0/lib/x86_64-linux-gnu/libc.so.6\0libm.so.6\0/lib/libm.so.6\0";
        let entries = 2u32;
        let strings_at = 48 + 24 * entries;
        let mut out = b"glibc-ld.so.cache1.1".to_vec();
        out.extend_from_slice(&entries.to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.resize(48, 0);
        for (flags, key, value) in [(0x0303i32, 0u32, 10u32), (0x0003, 42, 52)] {
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&(strings_at + key).to_le_bytes());
            out.extend_from_slice(&(strings_at + value).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
        }
        out.extend_from_slice(strings);
        out
    }

    pub fn elf_reader() -> Seeds {
        vec![
            ("elf64-le-x86_64-runpath", elf(true, true, 62, 29)),
            ("elf32-be-arm-rpath", elf(false, false, 40, 15)),
            ("elf64-le-aarch64-rpath", elf(true, true, 183, 15)),
            ("ld.so.cache", ld_cache()),
        ]
    }

    pub fn package_db() -> Seeds {
        vec![
            (
                "status",
                b"Package: nginx\nStatus: install ok installed\nArchitecture: amd64\n\
Version: 1.22.1-9\nConffiles:\n /etc/nginx/nginx.conf 0123 \n /etc/old 4567 obsolete\n\
Description: web server\n more\n .\n end\n\nPackage: libc6\nMulti-Arch: same\n\
Architecture: amd64\nVersion: 2.36-9\n"
                    .to_vec(),
            ),
            (
                "list",
                b"/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n/usr/share/doc/nginx/copyright\n".to_vec(),
            ),
            (
                "md5sums",
                b"0123  usr/sbin/nginx\n4567  usr/share/doc/nginx/copyright\n".to_vec(),
            ),
            (
                "diversions",
                b"/usr/bin/tool\n/usr/bin/tool.distrib\nwrapper\n/etc/x\n/etc/x.orig\n:\n".to_vec(),
            ),
            (
                "installed",
                b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\n\
a:0:0:755\nZ:Q1xyz=\n\nP:busybox\nV:1.36.1\nF:bin\nR:busybox\nF:etc\nM:0:0:755\n"
                    .to_vec(),
            ),
        ]
    }

    pub fn python_imports() -> Seeds {
        vec![
            (
                "server.py",
                include_bytes!("../../tests/fixtures/python-lazy/server.py").to_vec(),
            ),
            (
                "forms.py",
                br#"from ..pkg.sub import (a,
    b as c)  # comment
x = rb'\' import no' + f"{y!r:>{w}}" ; import d.e as f, g
s = """import no
""" \
    + u'from no import x'
try: import h
except ImportError: __import__("i.j"); importlib.import_module(name)
"#
                .to_vec(),
            ),
        ]
    }

    pub fn ruby_requires() -> Seeds {
        vec![
            (
                "app.rb",
                include_bytes!("../../tests/fixtures/sinatra/app.rb").to_vec(),
            ),
            (
                "lib.rb",
                br##"# require "commented"
=begin
require 'in_block'
=end
require_relative('x/y'); autoload :Z, "z"
autoload("W", 'w') if defined?(W)
s = "require 'in_string' #{require 'interpolated'}"
require File.join('digest', name) rescue nil
Kernel.require "k"; { require: "key" }
"##
                .to_vec(),
            ),
        ]
    }

    pub fn openapi_operations() -> Seeds {
        vec![
            (
                "openapi.json",
                include_bytes!("../../tests/fixtures/python-openapi/openapi.json").to_vec(),
            ),
            (
                "swagger.yaml",
                br##"swagger: "2.0"
basePath: /v1
paths:
  /node/{id}:
    parameters: [{name: id, in: path, required: true, type: integer, minimum: 3}]
    post:
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: body, in: body, schema: {$ref: "#/definitions/Node"}}
        - {name: tag, in: query, type: string, pattern: "^[a-z]{2,4}$", enum: [ab, cd]}
definitions:
  Node:
    type: object
    required: [next]
    properties:
      next: {$ref: "#/definitions/Node"}
      when: {type: string, format: date-time}
      any: {oneOf: [{type: number, maximum: -1.5}, {type: array, items: {}}]}
"##
                .to_vec(),
            ),
        ]
    }

    pub fn crawl_links() -> Seeds {
        [
            (
                "page.html",
                &br#"<!doctype html><html><head><base href="/app/"><title>a < b</title>
<link rel="stylesheet" href="css/site.css"><link rel=next href='page2.html'>
<meta http-equiv="refresh" content="5; url=/later?x=1&amp;y=2">
<style>body{background:url("img/bg.png")} @import 'more.css';</style>
<script src="/js/app.js"></script></head><body>
<!-- <a href="/commented">no</a> -->
<a href="../up.html#frag">up</a> <a href="//other.example/x">other</a>
<a href="http://172.17.0.2:8080/abs?q=%20&amp;r">abs</a>
<img src="a.png" srcset="a-1x.png 1x, a-2x.png 2x, b.png 640w">
<form action="/search" method="get"><input name=q></form>
<form action="/post" method="POST"></form><iframe src="frame.html"></iframe>
<div style="background-image:url(/img/div.png)">&#x26;&lt;&eacute;&#233;</div>
<video><source src="v.webm" type="video/webm"></video><area href="/map">
</body></html>"#[..],
            ),
            (
                "site.css",
                b"@import url(\"base.css\");\n@font-face{src:url(fonts/a.woff2) format('woff2'),url('/fonts/a.woff')}\n.x{background:url( data:image/png;base64,AAAA )}\n",
            ),
            (
                "sitemap-index.xml",
                b"<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><sitemap><loc>http://172.17.0.2:8080/sitemap-pages.xml</loc></sitemap></sitemapindex>",
            ),
            (
                "sitemap.xml",
                b"<urlset><url><loc> http://172.17.0.2:8080/a?b=1&amp;c=2 </loc></url><url><loc><![CDATA[http://localhost/x]]></loc></url></urlset>",
            ),
            (
                "robots.txt",
                b"User-agent: *\nDisallow: /private\nSitemap: http://172.17.0.2:8080/sitemap.xml # main\nsitemap:/relative.xml\n",
            ),
            ("url", b"HTTPS://[::1]:8443/a/./b/../c?x=%zz#f"),
        ]
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect()
    }

    pub fn js_specifiers() -> Seeds {
        [
            (
                "commonjs.js",
                &br#"#!/usr/bin/env node
'use strict';
var a = require('a'), b = require("@scope/b/sub");
// require('commented')
/* require('block') */
const r = /require\('x'\)[/'"]/g, half = total / 2;
const t = `${require('in-template')} ${ { o: `${`deep`}` } }`;
module.exports = function () { return require.resolve('punycode/') };
"#[..],
            ),
            (
                "module.mjs",
                b"import x, { y as z } from 'x';\nimport 'side';\nexport * from \"./local.js\";\nexport { w } from 'w/sub';\nconst m = await import('node:fs');\nimport.meta.url;\n",
            ),
            (
                "minified.js",
                b"!function(){var e=require(\"e\"),t=/[/]/.test(n)?require(\"t\"):0;return`${e}`}();",
            ),
        ]
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect()
    }
}
