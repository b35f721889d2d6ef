//! Keeps libtorch_cuda linked. The trainer never calls a symbol of libtorch_cuda.so directly,
//! so with `--as-needed` the linker drops it, CUDA's kernels are never registered, and tch
//! silently trains on the CPU of a GPU machine. `--no-as-needed` around `-ltorch_cuda` keeps it.
//! Also records where OpenSlide 4 lives, as an rpath.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // OpenSlide 4 from the openslide-bin wheel (scripts/env.sh): openslide-sys links it through
    // pkg-config; the rpath lets the binaries find it without LD_LIBRARY_PATH.
    println!("cargo:rerun-if-env-changed=MELANOSCOPE_OPENSLIDE_LIB");
    if let Some(dir) = env::var_os("MELANOSCOPE_OPENSLIDE_LIB").filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", PathBuf::from(dir).display());
    }
    let Some(lib) = env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!("cargo:warning=torch-sys did not report the libtorch lib folder; CUDA linking unchecked");
        return;
    };
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    // Lets tests find the folder the binary was linked against.
    println!("cargo:rustc-env=MELANOSCOPE_TORCH_LIB={}", lib.display());
}
