//! What slim makes of an OpenAPI document the application serves: requests with bodies
//! generated from its schemas (references that loop, patterns, bounds). No panic and no
//! endless recursion on any text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slim_cli::drive::openapi;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(doc) = openapi::parse(&text) else {
        return;
    };
    if !openapi::is_openapi(&doc) {
        return;
    }
    for probe in openapi::probes(&doc) {
        assert!(probe.target.starts_with('/'), "target {:?}", probe.target);
    }
});
