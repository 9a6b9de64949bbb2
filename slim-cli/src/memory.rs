//! Handing freed memory back to the system between phases.
//!
//! The allocator keeps what a phase freed for later use, which keeps it in slim's resident
//! set; a build frees the trace and the original's run before it loads a second probe for
//! verification, so giving that memory back lowers the build's peak.

/// Returns the allocator's free memory to the system (glibc's `malloc_trim`, which also
/// releases free pages inside the heap, not only at its top).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}
