//! Builds the BPF object from bpf/probe.bpf.c with clang, checks the C side of the record
//! layout (bpf/abi.h) by compiling and running bpf/layout.c on the host, and writes the
//! table of system call names by number from the kernel's headers (linux-libc-dev).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

// Newest first: newer clang emits BTF and CO-RE relocations the loader handles best.
const CLANGS: &[&str] = &[
    "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14", "clang",
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let bpf = manifest.join("bpf");
    for file in ["probe.bpf.c", "abi.h", "layout.c"] {
        println!("cargo:rerun-if-changed=bpf/{file}");
    }
    println!("cargo:rerun-if-env-changed=SLIM_CLANG");

    let clang = find_clang();
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => fail(&format!(
            "the probe supports x86_64 and aarch64, not {other}"
        )),
        Err(_) => fail("CARGO_CFG_TARGET_ARCH is not set"),
    };
    let multiarch = match arch {
        "x86" => "/usr/include/x86_64-linux-gnu",
        _ => "/usr/include/aarch64-linux-gnu",
    };
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        fail(
            "the libbpf headers are missing (/usr/include/bpf/bpf_helpers.h)\nhint: apt-get install libbpf-dev linux-libc-dev",
        );
    }

    let object = out.join("probe.bpf.o");
    run(
        Command::new(&clang)
            .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
            .arg(format!("-D__TARGET_ARCH_{arch}"))
            .arg(format!("-I{}", bpf.display()))
            .arg(format!("-I{multiarch}"))
            .arg("-c")
            .arg(bpf.join("probe.bpf.c"))
            .arg("-o")
            .arg(&object),
        "compiling the BPF probe",
    );

    let layout_bin = out.join("abi-layout");
    run(
        Command::new(&clang)
            .args(["-O0", "-Wall", "-Werror"])
            .arg(format!("-I{}", bpf.display()))
            .arg(bpf.join("layout.c"))
            .arg("-o")
            .arg(&layout_bin),
        "compiling the ABI layout check",
    );
    let layout = Command::new(&layout_bin)
        .output()
        .unwrap_or_else(|e| fail(&format!("running {}: {e}", layout_bin.display())));
    if !layout.status.success() {
        fail("the ABI layout check failed to run");
    }
    std::fs::write(out.join("abi_layout.rs"), layout.stdout)
        .unwrap_or_else(|e| fail(&format!("writing abi_layout.rs: {e}")));

    std::fs::write(out.join("syscall_table.rs"), syscall_table(arch, multiarch))
        .unwrap_or_else(|e| fail(&format!("writing syscall_table.rs: {e}")));
}

/// The system calls of the target architecture by number, as Rust source: the names of
/// `__NR_name number` lines of the kernel's unistd_64.h, sorted by number. seccomp
/// profiles name calls, the probe sees numbers. Only x86_64 has a table for now: the
/// generic (arm64) header defines numbers through conditional aliases.
fn syscall_table(arch: &str, multiarch: &str) -> String {
    let mut calls: Vec<(u32, String)> = Vec::new();
    let seccomp_arch = match arch {
        "x86" => {
            let header = format!("{multiarch}/asm/unistd_64.h");
            println!("cargo:rerun-if-changed={header}");
            let text = std::fs::read_to_string(&header).unwrap_or_else(|e| {
                fail(&format!(
                    "cannot read {header} ({e}): the system call numbers come from it\nhint: \
                     apt-get install linux-libc-dev"
                ))
            });
            for line in text.lines() {
                let mut words = line.split_whitespace();
                if let (Some("#define"), Some(name), Some(number), None) =
                    (words.next(), words.next(), words.next(), words.next())
                    && let (Some(name), Ok(number)) =
                        (name.strip_prefix("__NR_"), number.parse::<u32>())
                {
                    calls.push((number, name.to_string()));
                }
            }
            if calls.is_empty() {
                fail(&format!("{header} defines no system call numbers"));
            }
            "SCMP_ARCH_X86_64"
        }
        _ => "",
    };
    calls.sort();
    let mut out = format!(
        "/// seccomp's name of this architecture (empty: no table).\n\
         pub const SECCOMP_ARCH: &str = {seccomp_arch:?};\n\
         /// Every system call of this architecture: number and name, by number.\n\
         pub static SYSCALLS: &[(u32, &str)] = &[\n"
    );
    for (number, name) in &calls {
        out.push_str(&format!("    ({number}, {name:?}),\n"));
    }
    out.push_str("];\n");
    out
}

fn find_clang() -> String {
    if let Some(clang) = env::var_os("SLIM_CLANG") {
        return clang.to_string_lossy().into_owned();
    }
    for candidate in CLANGS {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return (*candidate).to_string();
        }
    }
    fail(
        "clang is needed to build the eBPF probe and was not found (tried clang-19 … clang-14 and clang; \
         set SLIM_CLANG to choose one)\nhint: apt-get install clang llvm libbpf-dev linux-libc-dev",
    )
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| fail(&format!("{what}: could not run {command:?}: {e}")));
    if !output.status.success() {
        fail(&format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
    eprintln!("error: {message}");
    std::process::exit(1);
}
