//! The Python import scanner on arbitrary bytes: `scan` never panics, and every module it
//! reports is a name it read (no empty component, no leading dot: dots of a relative
//! import are its level), and every dotted name read from a string has two or more
//! parts, none empty.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slim_cli::keep::python_imports::scan;

fuzz_target!(|data: &[u8]| {
    let imports = scan(data);
    for reference in &imports.refs {
        assert!(!reference.module.starts_with('.'), "{reference:?}");
        if !reference.module.is_empty() {
            assert!(
                reference.module.split('.').all(|part| !part.is_empty()),
                "{reference:?}"
            );
        }
        assert!(reference.names.iter().all(|n| !n.is_empty()), "{reference:?}");
    }
    for name in &imports.named {
        assert!(name.split('.').count() >= 2, "{name:?}");
        assert!(name.split('.').all(|part| !part.is_empty()), "{name:?}");
    }
});
