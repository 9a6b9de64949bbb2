//! The package database readers on arbitrary bytes (a dpkg status file, a diversions
//! file, file lists and checksums, Alpine's `installed`): no panic, and what the trimming
//! writes back is a subset of what it read (a trimmed stanza never grows, a kept-all
//! list is the list's absolute paths).

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use slim_cli::packages::{apk, dpkg};

fuzz_target!(|data: &[u8]| {
    // Keep every other path by its length, so both branches run.
    let keep = |p: &[u8]| p.len() % 2 == 0;
    for stanza in dpkg::parse_status(data) {
        let _ = stanza.info_names();
        let conffiles = stanza.conffiles();
        let all = stanza.text_keeping_conffiles(|_| true);
        let some = stanza.text_keeping_conffiles(keep);
        assert!(some.len() <= all.len() + conffiles.len() + 1);
    }
    let diversions = dpkg::parse_diversions(data);
    let map = dpkg::diversion_map(&diversions);
    let files: BTreeSet<&[u8]> = dpkg::list_paths(data)
        .filter(|p| keep(dpkg::installed_path(p, b"pkg", &map)))
        .collect();
    let list = dpkg::trim_list(data, &files);
    assert!(list.len() <= data.len() + dpkg::list_paths(data).count());
    let _ = dpkg::trim_md5sums(data, &files);
    let _ = dpkg::trim_lines(data, keep);
    let _ = dpkg::trim_statoverride(data, keep);
    let _ = dpkg::diversions_text(&diversions);
    for name in data.split(|&b| b == b'/') {
        let _ = dpkg::split_info_name(name);
    }
    for package in apk::parse_installed(data) {
        let _ = package.get(b'P');
        let files = package.files().count();
        if let Some(text) = package.trimmed(keep) {
            assert!(files > 0);
            assert!(text.len() <= data.len() + package.dirs.len() * 2 + 64);
        }
    }
});
