//! The native ELF reader and the `ld.so.cache` parser on arbitrary bytes: no panic, no
//! unbounded allocation, and the library search never fails on what the parser returned.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use slim_cli::keep::elf;
use slim_cli::keep::ld_cache::LdCache;
use slim_cli::keep::library_search;

fuzz_target!(|data: &[u8]| {
    let cache = LdCache::parse(data);
    if let Ok(Some(info)) = elf::parse(&mut Cursor::new(data)) {
        for needed in &info.needed {
            let _ = library_search::candidates(
                needed,
                &info,
                b"/usr/bin/fuzz",
                &info.rpath,
                &[],
                &cache,
            );
        }
        for dir in info.rpath.iter().chain(&info.runpath) {
            let _ = library_search::expand_dst(dir, b"/usr/lib", &info);
        }
    }
    for entry in cache.entries() {
        let _ = cache.lookup(&entry.name, &elf::ElfInfo::default());
    }
});
