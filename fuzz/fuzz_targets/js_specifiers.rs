//! The JavaScript specifier scanner on arbitrary bytes: no panic, and every package name
//! it derives is a prefix of its specifier with no `.` or `..` component.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slim_cli::keep::js_specifiers::{package_name, specifiers};

fuzz_target!(|data: &[u8]| {
    for specifier in specifiers(data) {
        if let Some(name) = package_name(&specifier) {
            assert!(specifier.starts_with(name), "{name:?} of {specifier:?}");
            assert!(
                name.split('/').all(|part| !matches!(part, "" | "." | "..")),
                "{name:?} of {specifier:?}"
            );
        }
    }
});
