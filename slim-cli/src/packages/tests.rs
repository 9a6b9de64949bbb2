//! The package databases trimmed on small images laid out as Debian's (merged `/usr`,
//! a Multi-Arch library, a diversion, conffiles) and Alpine's.

use std::collections::BTreeSet;

use super::*;
use slim_test_kit::{ScratchDir, TarWriter};

const STATUS: &str = "Package: nginx\nStatus: install ok installed\nArchitecture: amd64\n\
Version: 1.22.1-9\nConffiles:\n /etc/nginx/nginx.conf 11 \n /etc/nginx/old.conf 22 obsolete\n\
Description: web server\n more text\n\n\
Package: libfoo1\nStatus: install ok installed\nMulti-Arch: same\nArchitecture: amd64\n\
Version: 1:2.0-1\n\n\
Package: gone\nStatus: install ok installed\nArchitecture: all\nVersion: 3\n\n\
Package: tool\nStatus: install ok installed\nArchitecture: amd64\nVersion: 4\n\n\
Package: wrapper\nStatus: install ok installed\nArchitecture: all\nVersion: 5\n";

fn debian() -> (ScratchDir, FsIndex) {
    let dir = ScratchDir::new("packages-dpkg");
    let layer = TarWriter::new()
        .dir("usr/")
        .dir("usr/lib/")
        .dir("usr/lib/x86_64-linux-gnu/")
        .symlink("lib", "usr/lib")
        .file("usr/lib/x86_64-linux-gnu/libfoo.so.1", "ELF")
        .dir("usr/sbin/")
        .file("usr/sbin/nginx", "ELF")
        .dir("usr/share/doc/nginx/")
        .file("usr/share/doc/nginx/copyright", "c")
        .dir("usr/share/gone/")
        .file("usr/share/gone/data", "d")
        .dir("usr/bin/")
        .file("usr/bin/tool.real", "t")
        .file("usr/bin/tool", "wrapper script")
        .dir("etc/nginx/")
        .file("etc/nginx/nginx.conf", "conf")
        .dir("var/lib/dpkg/info/")
        .dir("var/lib/dpkg/updates/")
        .file("var/lib/dpkg/status", STATUS)
        .file("var/lib/dpkg/arch", "amd64\n")
        .file("var/lib/dpkg/available", "big")
        .file(
            "var/lib/dpkg/diversions",
            "/usr/bin/tool\n/usr/bin/tool.real\nwrapper\n/usr/share/x\n/usr/share/x.o\n:\n",
        )
        .file(
            "var/lib/dpkg/statoverride",
            "root adm 0755 /etc/nginx\nroot root 0700 /usr/share/gone\n",
        )
        .file("var/lib/dpkg/info/format", "1\n")
        .file(
            "var/lib/dpkg/info/nginx.list",
            "/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n/usr/share\n/usr/share/doc\n\
/usr/share/doc/nginx\n/usr/share/doc/nginx/copyright\n/etc\n/etc/nginx\n/etc/nginx/nginx.conf\n",
        )
        .file(
            "var/lib/dpkg/info/nginx.md5sums",
            "aa  usr/sbin/nginx\nbb  usr/share/doc/nginx/copyright\n",
        )
        .file(
            "var/lib/dpkg/info/nginx.conffiles",
            "/etc/nginx/nginx.conf\n/etc/nginx/old.conf\n",
        )
        .file("var/lib/dpkg/info/nginx.postinst", "#!/bin/sh\n")
        .file("var/lib/dpkg/info/nginx.templates", "Template: nginx/q\n")
        .file(
            "var/lib/dpkg/info/libfoo1:amd64.list",
            "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libfoo.so.1\n",
        )
        .file(
            "var/lib/dpkg/info/libfoo1:amd64.md5sums",
            "cc  lib/x86_64-linux-gnu/libfoo.so.1\n",
        )
        .file(
            "var/lib/dpkg/info/libfoo1:amd64.shlibs",
            "libfoo 1 libfoo1\n",
        )
        .file(
            "var/lib/dpkg/info/libfoo1:amd64.symbols",
            "libfoo.so.1 libfoo1 #MINVER#\n",
        )
        .file(
            "var/lib/dpkg/info/gone.list",
            "/.\n/usr\n/usr/share/gone\n/usr/share/gone/data\n",
        )
        .file(
            "var/lib/dpkg/info/gone.md5sums",
            "dd  usr/share/gone/data\n",
        )
        .file(
            "var/lib/dpkg/info/tool.list",
            "/.\n/usr\n/usr/bin\n/usr/bin/tool\n",
        )
        .file(
            "var/lib/dpkg/info/wrapper.list",
            "/.\n/usr\n/usr/bin\n/usr/bin/tool\n",
        );
    let tar = dir.write("0.tar", layer.finish());
    let index = FsIndex::from_layers(&[tar]).unwrap();
    (dir, index)
}

fn kept_set(paths: &[&str]) -> BTreeSet<Vec<u8>> {
    paths.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn content(trimmed: &Trimmed, path: &str) -> Option<String> {
    trimmed
        .files
        .get(path.as_bytes())
        .map(|c| String::from_utf8(c.clone().unwrap_or_default()).unwrap())
}

#[test]
fn dpkg_keeps_the_packages_with_a_kept_file_trimmed_to_it() {
    let (_dir, index) = debian();
    let kept = kept_set(&[
        "/usr/sbin/nginx",
        "/etc/nginx/nginx.conf",
        "/lib",
        "/usr/lib/x86_64-linux-gnu/libfoo.so.1",
        "/usr/bin/tool.real",
        "/etc/nginx",
    ]);
    let trimmed = trim(&index, &|p| kept.contains(p)).unwrap();
    let db = trimmed.db.as_ref().unwrap();
    assert_eq!(db.format, "dpkg");
    let names: Vec<&str> = db.kept.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["nginx", "libfoo1", "tool"]);
    assert_eq!(db.dropped, ["gone", "wrapper"]);
    let nginx = &db.kept[0];
    assert_eq!((nginx.files, nginx.files_kept), (3, 2));
    assert!(nginx.is_trimmed());
    assert!(!db.kept[1].is_trimmed(), "{:?}", db.kept[1]);
    assert_eq!(db.trimmed(), 1);

    let status = content(&trimmed, "/var/lib/dpkg/status").unwrap();
    assert_eq!(
        status,
        "Package: nginx\nStatus: install ok installed\nArchitecture: amd64\n\
Version: 1.22.1-9\nConffiles:\n /etc/nginx/nginx.conf 11 \n\
Description: web server\n more text\n\n\
Package: libfoo1\nStatus: install ok installed\nMulti-Arch: same\nArchitecture: amd64\n\
Version: 1:2.0-1\n\n\
Package: tool\nStatus: install ok installed\nArchitecture: amd64\nVersion: 4\n\n"
    );
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/info/nginx.list").unwrap(),
        "/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n/etc\n/etc/nginx\n/etc/nginx/nginx.conf\n"
    );
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/info/nginx.md5sums").unwrap(),
        "aa  usr/sbin/nginx\n"
    );
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/info/nginx.conffiles").unwrap(),
        "/etc/nginx/nginx.conf\n"
    );
    // Through the /lib link, the Multi-Arch name, and the diversion.
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/info/libfoo1:amd64.md5sums").unwrap(),
        "cc  lib/x86_64-linux-gnu/libfoo.so.1\n"
    );
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/info/tool.list").unwrap(),
        "/.\n/usr\n/usr/bin\n/usr/bin/tool\n"
    );
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/diversions").unwrap(),
        "/usr/bin/tool\n/usr/bin/tool.real\nwrapper\n"
    );
    assert_eq!(
        content(&trimmed, "/var/lib/dpkg/statoverride").unwrap(),
        "root adm 0755 /etc/nginx\n"
    );
    // Copied as they are: the maintainer scripts of kept packages and the database's own
    // files.
    for copied in [
        "/var/lib/dpkg/info/nginx.postinst",
        "/var/lib/dpkg/info/format",
        "/var/lib/dpkg/arch",
        "/var/lib/dpkg/updates",
        "/var/lib/dpkg",
        "/var/lib",
    ] {
        assert_eq!(
            trimmed.files.get(copied.as_bytes()),
            Some(&None),
            "{copied}"
        );
    }
    for absent in [
        // Read only when building packages that link against it.
        "/var/lib/dpkg/info/libfoo1:amd64.shlibs",
        "/var/lib/dpkg/info/libfoo1:amd64.symbols",
        // Debconf's questions.
        "/var/lib/dpkg/info/nginx.templates",
        "/var/lib/dpkg/info/gone.list",
        "/var/lib/dpkg/info/gone.md5sums",
        "/var/lib/dpkg/info/wrapper.list",
        "/var/lib/dpkg/available",
    ] {
        assert!(!trimmed.files.contains_key(absent.as_bytes()), "{absent}");
    }
}

#[test]
fn dpkg_trimming_is_the_same_every_time() {
    let (_dir, index) = debian();
    let kept = kept_set(&["/usr/sbin/nginx"]);
    let a = trim(&index, &|p| kept.contains(p)).unwrap();
    let b = trim(&index, &|p| kept.contains(p)).unwrap();
    assert_eq!(a.files, b.files);
}

#[test]
fn an_image_without_a_database_gets_none() {
    let dir = ScratchDir::new("packages-none");
    let tar = dir.write("0.tar", TarWriter::new().file("app", "x").finish());
    let index = FsIndex::from_layers(&[tar]).unwrap();
    let trimmed = trim(&index, &|_| true).unwrap();
    assert!(trimmed.db.is_none());
    assert!(trimmed.files.is_empty());
}

#[test]
fn apk_keeps_the_packages_with_a_kept_file() {
    let dir = ScratchDir::new("packages-apk");
    let installed = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\n\
a:0:0:755\nZ:Q1xyz=\nR:libc.musl-x86_64.so.1\n\n\
P:curl\nV:8.5.0-r0\nA:x86_64\nF:usr\nF:usr/bin\nR:curl\nZ:Q1cc=\n";
    let layer = TarWriter::new()
        .dir("lib/")
        .file("lib/ld-musl-x86_64.so.1", "ELF")
        .symlink("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1")
        .dir("usr/bin/")
        .file("usr/bin/curl", "ELF")
        .dir("lib/apk/db/")
        .file("lib/apk/db/installed", installed);
    let tar = dir.write("0.tar", layer.finish());
    let index = FsIndex::from_layers(&[tar]).unwrap();
    let kept = kept_set(&["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]);
    let trimmed = trim(&index, &|p| kept.contains(p)).unwrap();
    let db = trimmed.db.as_ref().unwrap();
    assert_eq!(db.format, "apk");
    assert_eq!(db.kept.len(), 1);
    assert_eq!(
        (db.kept[0].name.as_str(), db.kept[0].version.as_str()),
        ("musl", "1.2.4-r2")
    );
    assert_eq!((db.kept[0].files, db.kept[0].files_kept), (2, 2));
    assert_eq!(db.dropped, ["curl"]);
    assert_eq!(
        content(&trimmed, "/lib/apk/db/installed").unwrap(),
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\n\
a:0:0:755\nZ:Q1xyz=\nR:libc.musl-x86_64.so.1\n\n"
    );
    assert!(trimmed.files.contains_key(&b"/lib/apk/db"[..]));
}
