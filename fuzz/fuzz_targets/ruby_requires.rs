//! The Ruby require scanner on arbitrary bytes: `scan` never panics, and every feature it
//! reports is a name it read: not empty, no NUL or newline, no longer than the limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slim_cli::keep::ruby_requires::scan;

fuzz_target!(|data: &[u8]| {
    let requires = scan(data);
    for reference in &requires.refs {
        assert!(!reference.feature.is_empty(), "{reference:?}");
        assert!(reference.feature.len() <= 4096, "{reference:?}");
        assert!(
            !reference.feature.contains(['\0', '\n']),
            "{reference:?}"
        );
    }
});
