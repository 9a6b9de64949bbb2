//! The path normaliser on arbitrary bytes: `normalize` and `resolve` never panic, always
//! give an absolute path with no empty, `.` or `..` component and no trailing slash, are
//! idempotent, and never climb above the root.
//!
//! Input: `BASE\0PATH`, or just PATH (the base is then `/`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use slim_cli::trace::path::{normalize, resolve};

fuzz_target!(|data: &[u8]| {
    let (base, path) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"/"[..], data),
    };
    for (input, out) in [
        (path, normalize(path)),
        (base, normalize(base)),
        (path, resolve(base, path)),
    ] {
        check(&out);
        assert_eq!(normalize(&out), out, "not idempotent on {input:?}");
        // Normalising drops components, never invents any.
        assert!(out.len() <= input.len() + base.len() + 2);
    }
    if path.first() == Some(&b'/') {
        assert_eq!(resolve(base, path), normalize(path));
    } else {
        // A relative path resolves below its (normalised) base, unless `..` climbs out of it.
        let resolved = resolve(base, path);
        if !path.split(|&b| b == b'/').any(|c| c == b"..") {
            let base = normalize(base);
            assert!(
                resolved.starts_with(&base),
                "{resolved:?} not below {base:?}"
            );
        }
    }
});

fn check(out: &[u8]) {
    assert_eq!(out.first(), Some(&b'/'), "not absolute: {out:?}");
    if out == b"/" {
        return;
    }
    assert!(!out.ends_with(b"/"), "trailing slash: {out:?}");
    for component in out[1..].split(|&b| b == b'/') {
        assert!(
            !matches!(component, b"" | b"." | b".."),
            "component {component:?} left in {out:?}"
        );
    }
}
