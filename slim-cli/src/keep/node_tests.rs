//! The node profile's package rules on a small image laid out as Debian's Node packages
//! are: packages in `/usr/share/nodejs` and `/usr/lib/TRIPLET/nodejs`, one on `NODE_PATH`,
//! one in the application's `node_modules`, required from one another.

use super::js_specifiers::package_name;
use super::profile::load;
use super::{ImageRuntime, KeepOptions, KeepSet, Reason, compute};
use crate::image::index::FsIndex;
use crate::test_kit::record;
use slim_test_kit::{ScratchDir, TarWriter};

const SHARE: &str = "usr/share/nodejs";
const ARCH: &str = "usr/lib/x86_64-linux-gnu/nodejs";

fn image() -> TarWriter {
    let package = r#"{"name":"x"}"#;
    TarWriter::new()
        .file("usr/bin/node", "")
        .file(
            "app/server.js",
            "const express = require('express');\nif (later) require('lazy-local');\n",
        )
        .file("app/node_modules/lazy-local/package.json", package)
        .file(
            "app/node_modules/lazy-local/index.js",
            "import x from 'from-node-path';",
        )
        .file("opt/lib/from-node-path/package.json", package)
        .file("opt/lib/from-node-path/index.js", "")
        .file(format!("{SHARE}/express/package.json"), package)
        .file(
            format!("{SHARE}/express/index.js"),
            "module.exports = require('./lib/express');",
        )
        .file(
            format!("{SHARE}/express/lib/express.js"),
            "var fs = require('fs'), p = require('node:path');\n\
             var bodyParser = require('body-parser');\n\
             // require('commented-out')\n\
             exports.esprima = () => require('esprima/dist/esprima');",
        )
        .file(format!("{SHARE}/express/README.md"), "")
        .file(format!("{SHARE}/body-parser/package.json"), package)
        .file(
            format!("{SHARE}/body-parser/lib/read.js"),
            "var iconv = require(\"iconv-lite\"); var inner = require('inner');",
        )
        .file(
            format!("{SHARE}/body-parser/node_modules/inner/index.js"),
            "",
        )
        .file(
            format!("{SHARE}/body-parser/node_modules/unrequired/index.js"),
            "",
        )
        .file(format!("{SHARE}/iconv-lite/package.json"), package)
        .file(
            format!("{SHARE}/iconv-lite/lib/index.js"),
            "iconv.encodings = require(\"../encodings\");",
        )
        .file(
            format!("{SHARE}/iconv-lite/encodings/index.js"),
            "var Buffer = require('safer-buffer').Buffer; require('@scope/native/sub');",
        )
        .file(
            format!("{SHARE}/iconv-lite/encodings/tables/big5.json"),
            "[]",
        )
        .file(format!("{SHARE}/safer-buffer/package.json"), package)
        .file(format!("{SHARE}/safer-buffer/safer.js"), "")
        .file(format!("{SHARE}/safer-buffer/tests.js"), "require('tape');")
        .file(
            format!("{SHARE}/safer-buffer/test/x.js"),
            "require('tape');",
        )
        .file(format!("{SHARE}/tape/package.json"), package)
        .file(format!("{SHARE}/tape/index.js"), "")
        .file(format!("{ARCH}/@scope/native/package.json"), package)
        .file(format!("{ARCH}/@scope/native/sub.js"), "")
        .file(format!("{SHARE}/esprima/package.json"), package)
        .symlink(format!("{SHARE}/esprima/dist"), "../../javascript/esprima")
        .file("usr/share/javascript/esprima/esprima.js", "")
        .file(format!("{SHARE}/untouched/package.json"), package)
        .file(format!("{SHARE}/untouched/index.js"), "")
        .file(format!("{SHARE}/no-manifest/used.js"), "")
        .file(format!("{SHARE}/no-manifest/other.js"), "")
}

fn keep(name: &str, profiles: &[&str], packages: bool) -> KeepSet {
    let dir = ScratchDir::new(&format!("node-{name}"));
    let index = FsIndex::from_layers(&[dir.write("layer.tar", image().finish())]).unwrap();
    let records = [
        record("/app/server.js"),
        record(format!("/{SHARE}/express/index.js")),
        record(format!("/{SHARE}/iconv-lite/lib/index.js")),
        record(format!("/{SHARE}/no-manifest/used.js")),
    ];
    let options = KeepOptions {
        lists: Vec::new(),
        profiles: profiles.iter().map(|p| load(p).unwrap()).collect(),
        packages,
        ..KeepOptions::default()
    };
    let image = ImageRuntime {
        env: vec!["NODE_PATH=/opt/lib:relative/ignored".into()],
        ..ImageRuntime::default()
    };
    compute(&index, &records, &image, &options).unwrap()
}

fn rules(set: &KeepSet, path: &str) -> Vec<String> {
    set.reasons(path.as_bytes())
        .unwrap_or_else(|| panic!("{path} is not kept"))
        .iter()
        .filter_map(|r| match r {
            Reason::Profile { rule, .. } => Some(rule.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn used_global_packages_are_kept_whole_with_what_they_require() {
    let set = keep("whole", &["node"], true);
    assert!(
        set.contains(format!("/{SHARE}/iconv-lite/encodings/index.js").as_bytes()),
        "the lazily required part of a used package"
    );
    assert!(set.contains(format!("/{SHARE}/iconv-lite/encodings/tables/big5.json").as_bytes()));
    assert_eq!(
        rules(&set, &format!("/{SHARE}/iconv-lite/encodings/index.js")),
        [format!("node package /{SHARE}/iconv-lite used")]
    );
    for (path, by) in [
        (
            format!("/{SHARE}/body-parser/lib/read.js"),
            format!("/{SHARE}/express/lib/express.js"),
        ),
        (
            format!("/{SHARE}/safer-buffer/safer.js"),
            format!("/{SHARE}/iconv-lite/encodings/index.js"),
        ),
        (
            format!("/{ARCH}/@scope/native/sub.js"),
            format!("/{SHARE}/iconv-lite/encodings/index.js"),
        ),
        (
            format!("/{SHARE}/body-parser/node_modules/inner/index.js"),
            format!("/{SHARE}/body-parser/lib/read.js"),
        ),
        (
            "/app/node_modules/lazy-local/index.js".into(),
            "/app/server.js".into(),
        ),
        (
            "/opt/lib/from-node-path/index.js".into(),
            "/app/node_modules/lazy-local/index.js".into(),
        ),
    ] {
        assert_eq!(
            rules(&set, &path),
            [format!("node package required by {by}")],
            "{path}"
        );
    }
}

#[test]
fn what_no_module_requires_stays_out() {
    let set = keep("out", &["node"], true);
    for path in [
        format!("/{SHARE}/untouched/index.js"),
        format!("/{SHARE}/body-parser/node_modules/unrequired/index.js"),
        format!("/{SHARE}/express/README.md"),
        // Required only by a package's tests.
        format!("/{SHARE}/tape/index.js"),
        format!("/{SHARE}/safer-buffer/test/x.js"),
        // Not a package: no package.json.
        format!("/{SHARE}/no-manifest/other.js"),
    ] {
        assert!(!set.contains(path.as_bytes()), "{path}");
    }
}

#[test]
fn a_directory_symlink_in_a_package_keeps_its_target_tree() {
    let set = keep("link", &["node"], true);
    assert!(set.contains(format!("/{SHARE}/esprima/dist").as_bytes()));
    assert!(set.contains(b"/usr/share/javascript/esprima/esprima.js"));
}

#[test]
fn without_the_profile_or_package_rules_only_the_trace_is_kept() {
    for set in [keep("none", &[], true), keep("nopkg", &["node"], false)] {
        assert!(!set.contains(format!("/{SHARE}/iconv-lite/encodings/index.js").as_bytes()));
        assert!(!set.contains(format!("/{SHARE}/body-parser/lib/read.js").as_bytes()));
    }
}

#[test]
fn package_names_of_specifiers() {
    for (specifier, name) in [
        ("express", Some("express")),
        ("iconv-lite/encodings", Some("iconv-lite")),
        ("@babel/core/lib/x.js", Some("@babel/core")),
        ("punycode/", Some("punycode")),
        ("fs", None),
        ("fs/promises", None),
        ("node:fs", None),
        ("punycode", None),
        ("./local", None),
        ("../up", None),
        ("/abs/path", None),
        ("#internal", None),
        ("@scope", None),
        ("@scope/", None),
        ("@scope/..", None),
        ("@scope/./x", None),
        ("data:text/javascript,1", None),
        ("", None),
    ] {
        assert_eq!(package_name(specifier), name, "{specifier:?}");
    }
}
